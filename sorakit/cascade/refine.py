"""Running a refiner: a base latent in, a latent at twice the size or frame rate out."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from sorakit.cascade.resample import refined_shape, resample_latent
from sorakit.diffusion import interpolate
from sorakit.models.dit import DiT
from sorakit.pipeline.denoise import generate_latents

DEFAULT_AUG = 0.1  # noise level mixed into the base at sampling time (trained on 0 to 0.5)


@torch.no_grad()
def refine(
    model: DiT,
    base: Tensor,
    kind: str,
    texts: list[Tensor],
    uncond: list[Tensor],
    fps: float,
    steps: int = 10,
    guidance: float = 1.0,
    aug: float = DEFAULT_AUG,
    seed: int = 0,
    on_step: Callable[[], None] | None = None,
) -> Tensor:
    """The refined latents (B, C, *refined_shape) of `base` (B, C, t, h, w).

    `fps` is the refined clip's frame rate (twice the base's for the temporal refiner); `texts`
    and `uncond` are the captions, as in `generate_latents`. The base is resampled to the
    refined grid and noised to level `aug` before the refiner reads it.
    """
    if not model.config.cond_channels:
        raise ValueError("this transformer is not a refiner (it reads no base latent)")
    shape = refined_shape(kind, tuple(base.shape[2:]))
    g = torch.Generator().manual_seed(seed)
    cond = resample_latent(base, shape)
    cond = interpolate(cond, torch.randn(cond.shape, generator=g), aug)
    noise = torch.randn((base.shape[0], base.shape[1], *shape), generator=g)
    return generate_latents(
        model, noise, texts, uncond, fps, steps=steps, guidance=guidance, cond=cond, aug=aug,
        on_step=on_step,
    )  # fmt: skip
