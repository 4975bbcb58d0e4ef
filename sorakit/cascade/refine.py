"""Running a refiner: its input (a stage's video upsampled and encoded, `refiner_input`) in,
a latent at twice the size or frame rate out."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from sorakit.diffusion import interpolate
from sorakit.diffusion.denoise import generate_latents
from sorakit.models.dit import DiT

DEFAULT_AUG = 0.1  # noise level mixed into the input at sampling time (trained on 0 to 0.5)


@torch.no_grad()
def run_refiner(
    model: DiT,
    cond: Tensor,
    texts: list[Tensor],
    uncond: list[Tensor],
    fps: float,
    steps: int = 10,
    guidance: float = 1.0,
    aug: float = DEFAULT_AUG,
    strength: float = 1.0,
    layout: Tensor | None = None,
    seed: int = 0,
    on_step: Callable[[], None] | None = None,
) -> Tensor:
    """The refined latents (B, C, T, H, W) for `cond` (B, C, T, H, W), the refiner's input on
    the refined grid (`sorakit.cascade.refiner_input`).

    `fps` is the refined clip's frame rate (twice the base's for the temporal refiner); `texts`
    and `uncond` are the captions, as in `generate_latents`. The input is noised to level
    `aug` before the refiner reads it. `strength` < 1 starts the sampler part-way, from the
    input itself noised to t = strength (SDEdit), instead of from pure noise. `layout`
    (B, S, T, H, W): the plan's layout maps on the refined grid, for a refiner that reads them.
    """
    if not model.config.cond_channels:
        raise ValueError("this transformer is not a refiner (it reads no base latent)")
    # The generator on the input's device: a seed gives the same video on one kind of device.
    g = torch.Generator(device=cond.device).manual_seed(seed)
    noisy = interpolate(cond, torch.randn(cond.shape, generator=g, device=cond.device), aug)
    noise = torch.randn(cond.shape, generator=g, device=cond.device)
    return generate_latents(
        model, noise, texts, uncond, fps, steps=steps, guidance=guidance, cond=noisy, aug=aug,
        init=cond if strength < 1 else None, strength=strength, layout=layout, on_step=on_step,
    )  # fmt: skip
