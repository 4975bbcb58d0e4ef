"""The one interface between cascade stages: a stage's video, upsampled in pixels to the next
stage's size or frame rate and encoded, is what the refiner reads (`refiner_input`).

The upsampling is in pixels, not latents. The VAE folds 4 frames into a latent frame, so the
latent frames of a clip at half the rate cover other moments than those at the full rate, and
interpolating latents put every in-between frame at the wrong time: decoded, trilinear latents
scored 24.2 dB on the in-between frames of held-out world clips, where blending the frames and
encoding the blend scored 29.8 (the VAE's own round trip of the true frames: 31.1).
Temporal: each new frame is motion compensated (`sorakit.cascade.motion`): a blend shows a
moving object twice at half strength, which the VAE encodes to almost nothing once the object
moves farther than its size. Spatial: bicubic, 2x.

Training pairs (`training_low`): a world clip is rendered again from its seed at half the size
(the same simulated scene, so the pair is exact), and at half the frame rate by taking every
other frame (exact too: frames sample one continuous simulation; measured identical). Any other
clip (real video) is halved by 2x2 area averaging or every other frame (`downsample`).
Averaging is not the world's renderer: it differs from a half-size render by 0.19 of 255 on
average and up to 69 on edge pixels, which is why world clips are rendered again.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor

from sorakit.cascade.motion import midpoints
from sorakit.data.transforms import to_model_tensor
from sorakit.world.clip import render_clip

KINDS = ("spatial", "temporal")


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown refiner {kind!r}; use one of {', '.join(KINDS)}")


def refined_shape(kind: str, shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """The latent (T, H, W) a refiner makes from a base latent of `shape`."""
    check_kind(kind)
    t, h, w = shape
    return (t, 2 * h, 2 * w) if kind == "spatial" else (2 * t - 1, h, w)


def upsample_video(video: Tensor, kind: str) -> Tensor:
    """(B, C, T, H, W) video in [-1, 1] at twice the size (bicubic) or twice the frame rate
    (2T - 1 frames: the originals on the even places, motion-compensated frames between)."""
    check_kind(kind)
    if kind == "spatial":
        frames = rearrange(video, "b c t h w -> (b t) c h w")
        up = F.interpolate(frames, scale_factor=2, mode="bicubic", align_corners=False)
        return rearrange(up, "(b t) c h w -> b c t h w", b=video.shape[0]).clamp(-1, 1)
    b, c, t, h, w = video.shape
    out = video.new_empty(b, c, 2 * t - 1, h, w)
    out[:, :, ::2] = video
    if t > 1:
        frames = rearrange(video, "b c t h w -> b t c h w")
        mids = midpoints(frames[:, :-1].flatten(0, 1), frames[:, 1:].flatten(0, 1))
        out[:, :, 1::2] = rearrange(mids, "(b t) c h w -> b c t h w", b=b)
    return out


@torch.no_grad()
def refiner_input(vae, video: Tensor, kind: str) -> Tensor:
    """What a refiner reads: the stage's video (B, C, T, H, W) upsampled in pixels and encoded,
    a normalised latent on the refined grid."""
    return vae.encode(upsample_video(video, kind))


def downsample(video: Tensor, kind: str) -> Tensor:
    """The input a refiner learns to refine: (B, C, T, H, W) video in [-1, 1] at half the size
    (H, W even) or half the frame rate (T = 1 + 2k frames -> 1 + k)."""
    check_kind(kind)
    if kind == "spatial":
        if video.shape[-1] % 2 or video.shape[-2] % 2:
            raise ValueError(f"halving the size needs even sides, got {tuple(video.shape[-2:])}")
        return F.avg_pool3d(video, (1, 2, 2))
    if (video.shape[2] - 1) % 2:
        raise ValueError(f"halving the frame rate needs 1 + 2k frames, got {video.shape[2]}")
    return video[:, :, ::2]


def training_low(video: Tensor, kind: str, fps: float, world: dict | None = None) -> Tensor:
    """The low version (C, T', H', W') of one (C, T, H, W) training clip at `fps`: half the
    size or half the frame rate. `world`, the clip's manifest row when it comes from the
    built-in world (with its `seed` and `split`), has the scene rendered again at half the
    size."""
    if kind == "spatial" and world and "seed" in world and "annotation" in world:
        _, frames, height, width = video.shape
        clip = render_clip(int(world["seed"]), width // 2, height // 2, fps, frames,
                           world.get("split", "train"))  # fmt: skip
        return to_model_tensor(torch.from_numpy(clip.frames))
    return downsample(video[None], kind)[0]
