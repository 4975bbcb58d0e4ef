"""From noise to latents with a trained transformer: the glue between the model and the pure
samplers of `sorakit.diffusion`.

Given frames (image-to-video, extension, loops, transitions) enter the way they were trained:
their tokens hold the clean latent at t = 0 at every step, and only the other frames move.
Classifier-free guidance runs the conditional and unconditional passes as one batch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from sorakit.diffusion import (
    check_guidance_interval,
    classifier_free_guidance,
    euler_sample,
    guides_at,
    heun_sample,
    interpolate,
    shift_for_tokens,
    shift_time,
)
from sorakit.models.dit import DiT
from sorakit.models.tokens import Sample, stack, to_latents, token_grid

SAMPLERS = {"euler": euler_sample, "heun": heun_sample}


def time_grid(steps: int, shift: float, strength: float = 1.0) -> Tensor:
    """The sampler's times. With strength < 1 (SDEdit) the run starts part-way, at t = strength,
    and its `steps` steps are spread over [strength, 0] as the full grid's are over [1, 0] (the
    same shift): `steps` is always the number of steps taken."""
    if not 0 < strength <= 1:
        raise ValueError(f"strength must be in (0, 1], got {strength}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    start = strength / (shift - (shift - 1) * strength)  # shift_time's inverse at strength
    times = shift_time(torch.linspace(start, 0.0, steps + 1), shift)
    times[0] = strength  # exact, not through the inverse and back
    return times


@torch.no_grad()
def generate_latents(
    model: DiT,
    noise: Tensor,
    texts: list[Tensor],
    uncond: list[Tensor],
    fps: float,
    steps: int = 30,
    guidance: float = 4.0,
    guidance_interval: tuple[float, float] = (0.0, 1.0),
    sampler: str = "euler",
    shift: float | None = None,
    given: Tensor | None = None,
    given_frames: Tensor | None = None,
    init: Tensor | None = None,
    strength: float = 1.0,
    layout: Tensor | None = None,
    cond: Tensor | None = None,
    aug: float = 0.0,
    on_step: Callable[[], None] | None = None,
) -> Tensor:
    """Sample latents (B, C, T, H, W).

    Args:
        noise: (B, C, T, H, W) starting noise; fixes the output shape.
        texts / uncond: per sample, unpadded caption tokens (L_i, D) and those of the negative
            (or empty) prompt for guidance.
        guidance_interval: the times t where guidance applies (`sorakit.diffusion.guides_at`);
            elsewhere the conditional pass runs alone.
        given, given_frames: clean latents (B, C, T, H, W) and a (T,) bool of the latent
            frames to keep from them.
        init, strength: SDEdit: start from `init` latents noised to t = strength.
        layout: (B, S, T, H, W) layout maps (`sorakit.data.layout`) for a transformer that
            reads them. The unconditional pass goes without, so guidance pushes towards the
            caption and the layout together.
        cond, aug: a refiner's input, (B, C, T, H, W) on the output grid, noised to level
            `aug` (`sorakit.cascade.refine`); both guidance passes read it.
        shift: time shift; default grows with the token count, as in training.
        on_step: called after every model evaluation (for progress bars).
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; use one of {', '.join(SAMPLERS)}")
    check_guidance_interval(guidance_interval)
    cfg = model.config
    b, _, frames = noise.shape[:3]
    grid = token_grid(tuple(noise.shape[2:]), cfg.patch_size)
    if shift is None:
        shift = shift_for_tokens(grid[0] * grid[1] * grid[2])
    times = time_grid(steps, shift, strength)
    keep = torch.zeros(frames, dtype=torch.bool) if given_frames is None else given_frames
    keep5 = keep[None, None, :, None, None]
    x = noise if init is None else interpolate(init, noise, times[0])
    if given is not None:
        x = torch.where(keep5, given, x)
    guided = guidance != 1.0
    all_texts = texts + uncond if guided else texts
    layouts = [None] * len(all_texts) if layout is None else list(layout) + [None] * b * guided
    conds = [None] * len(all_texts) if cond is None else list(cond) * (2 if guided else 1)

    def velocity(x_t: Tensor, t: Tensor) -> Tensor:
        if given is not None:
            x_t = torch.where(keep5, given, x_t)
        t_frames = torch.where(keep, torch.zeros(()), t.float())
        guide = guided and guides_at(float(t), guidance_interval)
        rows = torch.cat([x_t, x_t]) if guide else x_t
        n = len(rows)  # the unconditional rows come last and run only when guiding
        samples = [
            Sample(r, t_frames, fps, txt, lay, c, aug)
            for r, txt, lay, c in zip(rows, all_texts[:n], layouts[:n], conds[:n], strict=True)
        ]
        batch = stack(samples, cfg.patch_size, cfg.ref_fps)
        v = torch.stack(to_latents(batch, model(batch).float(), cfg.patch_size))
        if guide:
            v = classifier_free_guidance(v[:b], v[b:], guidance)
        if on_step is not None:
            on_step()
        return torch.where(keep5, torch.zeros(()), v)  # given frames do not move

    out = SAMPLERS[sampler](velocity, x, times)
    return out if given is None else torch.where(keep5, given, out)
