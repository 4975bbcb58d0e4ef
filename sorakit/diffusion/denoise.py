"""From noise to latents with a trained transformer: the glue between the model and the pure
samplers of `sorakit.diffusion`.

Given frames (image-to-video, extension, loops, transitions) enter the way they were trained:
their tokens hold the clean latent at t = 0 at every step, and only the other frames move.
Classifier-free guidance runs the conditional and unconditional passes as one batch, and
shape-contrast guidance adds a third pass to that batch (the caption with a contrast layout).
A distilled transformer (a flow map, `DiTConfig.step_input`) has that guidance built in: the
"distilled" sampler runs one pass a step, each told its step's size.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from sorakit.diffusion import (
    check_guidance_interval,
    classifier_free_guidance,
    contrast_guidance,
    euler_sample,
    flow_map_sample,
    guides_at,
    heun_sample,
    interpolate,
    shift_for_tokens,
    shift_time,
)
from sorakit.models.dit import DiT
from sorakit.models.tokens import Sample, stack, to_latents, token_grid

SAMPLERS = {"euler": euler_sample, "heun": heun_sample, "distilled": flow_map_sample}


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
    contrast_layout: Tensor | None = None,
    contrast: float = 0.0,
    contrast_interval: tuple[float, float] = (0.0, 1.0),
    on_step: Callable[[], None] | None = None,
    states: list[Tensor] | None = None,
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
            `aug` (`sorakit.cascade.refine`); every guidance pass reads it.
        contrast_layout, contrast: a layout like `layout` but for one attribute (discs drawn
            as squares, `sorakit.data.layout.contrast_track`); at times t inside
            `contrast_interval` the velocity is pushed by `contrast` times the difference
            between the caption with `layout` and the caption with `contrast_layout`
            (`sorakit.diffusion.contrast_guidance`). 0: no third pass.
        sampler: "euler" or "heun" for a velocity model; "distilled" for a flow map, which
            takes no guidance or contrast (they are in its weights) and ignores those settings.
        shift: time shift; default grows with the token count, as in training.
        on_step: called after every model evaluation (for progress bars).
        states: the "euler" sampler appends x at every time of its grid (a teacher's
            trajectory, `sorakit.train.distill`).
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; use one of {', '.join(SAMPLERS)}")
    flow_map = sampler == "distilled"
    if flow_map != model.config.step_input:
        raise ValueError(
            "a distilled transformer (a flow map) runs only with the distilled sampler"
            if model.config.step_input
            else "the distilled sampler needs a distilled transformer (a flow map)"
        )
    check_guidance_interval(guidance_interval)
    check_guidance_interval(contrast_interval)
    cfg = model.config
    b, _, frames = noise.shape[:3]
    grid = token_grid(tuple(noise.shape[2:]), cfg.patch_size)
    if shift is None:
        shift = shift_for_tokens(grid[0] * grid[1] * grid[2])
    times = time_grid(steps, shift, strength)
    # The per-frame times stay on the host, where the batch's routing is worked out; the mask
    # of given frames is needed on the device too.
    keep = torch.zeros(frames, dtype=torch.bool) if given_frames is None else given_frames.cpu()
    keep5 = keep.to(noise.device)[None, None, :, None, None]
    x = noise if init is None else interpolate(init, noise, times[0])
    if given is not None:
        x = torch.where(keep5, given, x)
    guided = guidance != 1.0 and not flow_map
    contrasted = contrast != 0.0 and contrast_layout is not None and not flow_map
    # Per sample: (caption, layout) of the conditional, unconditional and contrast passes.
    plain = [None] * b
    passes = [(texts, plain if layout is None else list(layout))]
    if guided:
        passes.append((uncond, plain))
    if contrasted:
        passes.append((texts, list(contrast_layout)))
    conds = plain if cond is None else list(cond)

    def velocity(x_t: Tensor, t: Tensor, step: Tensor | None = None) -> Tensor:
        if given is not None:
            x_t = torch.where(keep5, given, x_t)
        t_frames = torch.where(keep, torch.zeros(()), t.float())
        guide = guided and guides_at(float(t), guidance_interval)
        contrast_now = contrasted and guides_at(float(t), contrast_interval)
        run = [passes[0]] + ([passes[1]] if guide else []) + ([passes[-1]] if contrast_now else [])
        d = None if step is None else float(step)
        samples = [
            Sample(r, t_frames, fps, txt, lay, c, aug, d)
            for txts, lays in run
            for r, txt, lay, c in zip(x_t, txts, lays, conds, strict=True)
        ]
        batch = stack(samples, cfg.patch_size, cfg.ref_fps).to(x_t.device)
        v = torch.stack(to_latents(batch, model(batch).float(), cfg.patch_size)).split(b)
        out = classifier_free_guidance(v[0], v[1], guidance) if guide else v[0]
        if contrast_now:
            out = contrast_guidance(out, v[0], v[-1], contrast)
        if on_step is not None:
            on_step()
        return torch.where(keep5, 0.0, out)  # given frames do not move

    extra = {"states": states} if states is not None else {}
    out = SAMPLERS[sampler](velocity, x, times, **extra)
    return out if given is None else torch.where(keep5, given, out)
