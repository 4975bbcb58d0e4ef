"""The steps every prompting mode composes: text and frames in, latents sampled, frames out.

Each takes the components it needs (a `TextToVideoPipeline` where it needs several); none keeps
state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from sorakit.data.layout import plan_layout
from sorakit.data.transforms import (
    from_model_tensor,
    resample_indices,
    resize_and_crop,
    to_model_tensor,
)
from sorakit.diffusion.denoise import generate_latents
from sorakit.models.vae import CausalVAE
from sorakit.pipeline.config import PipelineConfig
from sorakit.pipeline.request import Settings

if TYPE_CHECKING:
    from sorakit.pipeline.pipeline import TextToVideoPipeline


def model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def encode_text(text_encoder, prompts: list[str]) -> list[Tensor]:
    """Each prompt's unpadded caption states (`TextEncoder.states`: kept for the next call)."""
    return text_encoder.states(prompts)


def latent_frames(frames: int, temporal_factor: int) -> int:
    return 1 + (frames - 1) // temporal_factor


def prepare_frames(
    frames: np.ndarray, s: Settings, source_fps: float | None, temporal_factor: int
) -> np.ndarray:
    """User frames (T, H, W, 3) uint8 at `source_fps` -> the frames the model sees: at the
    settings' size and frame rate, the count cut to 1 + k * temporal_factor."""
    if source_fps and len(frames) > 1:
        times = np.arange(len(frames)) / source_fps
        count = int(times[-1] * s.fps) + 1
        frames = frames[resample_indices(times, s.fps, count)]
    frames = frames[: 1 + (len(frames) - 1) // temporal_factor * temporal_factor]
    return resize_and_crop(frames, s.height, s.width)


@torch.no_grad()
def encode_frames(
    vae: CausalVAE, frames: np.ndarray, s: Settings, source_fps: float | None
) -> Tensor:
    """User frames -> latents (1, C, t, h, w), as `prepare_frames` fits them."""
    video = to_model_tensor(prepare_frames(frames, s, source_fps, vae.temporal_factor))
    return vae.encode(video[None].to(model_device(vae)))


@torch.no_grad()
def decode(vae: CausalVAE, latents: Tensor) -> np.ndarray:
    video = vae.decode(latents, chunk=4).clamp(-1, 1)
    return from_model_tensor(video[0].cpu()).numpy()


def given_latents(
    total: int, start: Tensor | None = None, end: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Latents (1, C, total, h, w) holding `start` (1, C, k, h, w) at the beginning and/or `end`
    at the end, and the (total,) mask of those given frames."""
    some = start if start is not None else end
    given = some.new_zeros(1, some.shape[1], total, *some.shape[3:])
    mask = torch.zeros(total, dtype=torch.bool)  # on the host: it shapes the batches built there
    if start is not None:
        given[:, :, : start.shape[2]], mask[: start.shape[2]] = start, True
    if end is not None:
        given[:, :, -end.shape[2] :], mask[-end.shape[2] :] = end, True
    return given, mask


def guidance_interval(config: PipelineConfig, s: Settings, planned: bool) -> tuple[float, float]:
    """The settings' guidance interval, or the model's for planned or text-only generation."""
    if s.guidance_interval is not None:
        return tuple(s.guidance_interval)
    if planned and config.plan_guidance_interval:
        return config.plan_guidance_interval
    return config.guidance_interval


@torch.no_grad()
def sample(
    pipe: TextToVideoPipeline,
    s: Settings,
    frames: int,
    given: Tensor | None = None,
    given_frames: Tensor | None = None,
    init: Tensor | None = None,
    strength: float = 1.0,
    plan: dict | None = None,
    on_step: Callable[[], None] | None = None,
) -> Tensor:
    """Latents (1, C, frames, h, w) for the settings (`frames` latent frames), following
    `plan`'s layout when given."""
    vae, transformer, device = pipe.vae, pipe.sampling_transformer(s), pipe.device
    sf = vae.spatial_factor
    shape = (1, vae.latent_channels, frames, s.height // sf, s.width // sf)
    # The generator on the model's device: a seed gives the same video on one kind of device.
    g = torch.Generator(device=device).manual_seed(s.seed)
    noise = torch.randn(shape, generator=g, device=device)
    texts = encode_text(pipe.text_encoder, [s.prompt])
    uncond = encode_text(pipe.text_encoder, [s.negative_prompt]) if s.guidance != 1.0 else []
    layout = swapped = None
    if plan is not None:
        fmt, tf = transformer.config.layout_format, vae.temporal_factor
        layout = plan_layout(plan, fmt, shape[2:], s.fps, tf)  # on the host, compared there
        if s.shape_contrast:  # the contrast layout, built only when shape contrast is asked for
            swapped = plan_layout(plan, fmt, shape[2:], s.fps, tf, contrast=True)
            # No small still disc in the plan: no third pass.
            swapped = None if torch.equal(swapped, layout) else swapped.to(device)
        layout = layout.to(device)
    return generate_latents(
        transformer, noise, texts, uncond, s.fps, steps=s.steps, guidance=s.guidance,
        guidance_interval=guidance_interval(pipe.config, s, layout is not None),
        sampler=s.sampler, given=given, given_frames=given_frames, init=init, strength=strength,
        layout=layout, contrast_layout=swapped, contrast=s.shape_contrast,
        contrast_interval=pipe.config.shape_contrast_interval, on_step=on_step,
    )  # fmt: skip
