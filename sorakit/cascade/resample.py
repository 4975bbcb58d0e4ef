"""The one interface between cascade stages: a latent resampled to the next stage's grid.

A stage's output latent (B, C, t, h, w) becomes the refiner's input by `resample_latent` to
the refined grid. Trilinear with aligned corners: for the temporal refiner (T = 2t - 1 latent
frames at twice the frame rate) the base's latent frames land exactly on the even places and
the odd ones start as their average; for the spatial refiner each cell spreads over 2x2.

Training pairs (`low_video`): a world clip is rendered again from its seed at half the size
(the same simulated scene, so the pair is exact), and at half the frame rate by taking every
other frame (exact too: frames sample one continuous simulation; measured identical). Any other
clip (real video) is halved by 2x2 area averaging or every other frame (`low_version`).
Averaging is not the world's renderer: it differs from a half-size render by 0.19 of 255 on
average and up to 69 on edge pixels, which is why world clips are rendered again.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

KINDS = ("spatial", "temporal")


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown refiner {kind!r}; use one of {', '.join(KINDS)}")


def refined_shape(kind: str, shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """The latent (T, H, W) a refiner makes from a base latent of `shape`."""
    check_kind(kind)
    t, h, w = shape
    return (t, 2 * h, 2 * w) if kind == "spatial" else (2 * t - 1, h, w)


def resample_latent(z: Tensor, shape: tuple[int, int, int]) -> Tensor:
    """(B, C, t, h, w) -> (B, C, *shape), trilinear with aligned corners."""
    if tuple(z.shape[2:]) == tuple(shape):
        return z
    return F.interpolate(z, size=tuple(shape), mode="trilinear", align_corners=True)


def low_version(video: Tensor, kind: str) -> Tensor:
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


def low_video(video: Tensor, kind: str, fps: float, world: dict | None = None) -> Tensor:
    """The refiner's input clip for one (C, T, H, W) training clip at `fps`. `world`, the
    clip's manifest row when it comes from the built-in world (with its `seed` and `split`),
    has the scene rendered again at half the size."""
    if kind == "spatial" and world and "seed" in world and "annotation" in world:
        from sorakit.data.transforms import to_model_tensor
        from sorakit.world.clip import render_clip

        _, frames, height, width = video.shape
        clip = render_clip(int(world["seed"]), width // 2, height // 2, fps, frames,
                           world.get("split", "train"))  # fmt: skip
        return to_model_tensor(torch.from_numpy(clip.frames))
    return low_version(video[None], kind)[0]
