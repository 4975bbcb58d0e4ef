"""Rectified flow, with the one time convention used everywhere in sorakit.

    x_t = (1 - t) * x0 + t * noise,    t in [0, 1]: data at t = 0, pure noise at t = 1.

The model predicts the velocity v = d x_t / d t = noise - x0. Sampling starts from noise at t = 1
and integrates dx/dt = v down to t = 0. Timesteps can be per token (a tensor broadcastable to the
latents), which is how clean conditioning frames (t = 0) sit beside noisy ones.

Samplers are pure functions of a velocity function, a starting point and a time grid: no state,
no model inside.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

Velocity = Callable[[Tensor, Tensor], Tensor]  # (x_t, t) -> v; t is a 0-d tensor
# (x_t, t, d) -> the average velocity over [t - d, t], so that x_{t-d} = x_t - d u: a flow map
# (shortcut models, MeanFlow). As d -> 0 it is the instantaneous velocity.
FlowMap = Callable[[Tensor, Tensor, Tensor], Tensor]


def interpolate(x0: Tensor, noise: Tensor, t: Tensor) -> Tensor:
    """x_t = (1 - t) x0 + t noise; `t` broadcasts against x0 (pad it with trailing dims)."""
    return (1 - t) * x0 + t * noise


def velocity_target(x0: Tensor, noise: Tensor) -> Tensor:
    """What the model learns to predict: d x_t / d t = noise - x0."""
    return noise - x0


def shift_time(t: Tensor, shift: float) -> Tensor:
    """Move times toward the noise end: t' = s t / (1 + (s - 1) t). s = 1 is the identity.

    More tokens carry more redundant signal, so the same t destroys less of the content; a
    larger shift spends more time at high noise, where layout is decided (SD3, section 5.3.2).
    """
    return shift * t / (1 + (shift - 1) * t)


def shift_for_tokens(
    tokens: int,
    base_tokens: int = 64,
    max_tokens: int = 4096,
    base_shift: float = 1.0,
    max_shift: float = 3.0,
) -> float:
    """A shift that grows with the token count: log-shift linear in tokens between the anchors,
    extrapolated beyond them and never below `base_shift`."""
    slope = (math.log(max_shift) - math.log(base_shift)) / (max_tokens - base_tokens)
    return max(base_shift, math.exp(math.log(base_shift) + slope * (tokens - base_tokens)))


def sample_timesteps(
    n: int,
    shift: float | Tensor = 1.0,
    mean: float = 0.0,
    std: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """n training times from a logit-normal(mean, std), then shifted; `shift` may be one value
    or one per sample."""
    u = torch.randn(n, generator=generator) * std + mean
    return shift_time(torch.sigmoid(u), torch.as_tensor(shift, dtype=torch.float32))


def sampling_times(steps: int, shift: float = 1.0) -> Tensor:
    """The time grid of a sampler: steps + 1 times from 1 down to 0, shifted."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    return shift_time(torch.linspace(1.0, 0.0, steps + 1), shift)


def euler_sample(
    velocity: Velocity, x: Tensor, times: Tensor, states: list[Tensor] | None = None
) -> Tensor:
    """Integrate dx/dt = velocity(x, t) along `times` (from 1 to 0) with Euler steps; with
    `states`, x at every time of the grid is appended to it (a teacher's trajectory)."""
    if states is not None:
        states.append(x)
    for t, t_next in zip(times[:-1], times[1:], strict=True):
        x = x + (t_next - t) * velocity(x, t)
        if states is not None:
            states.append(x)
    return x


def flow_map_sample(flow_map: FlowMap, x: Tensor, times: Tensor) -> Tensor:
    """Jump along `times` (from 1 to 0) with a flow map: each step moves by its own size times
    the average velocity the map gives for it, exact for an exact map however few the steps."""
    for t, t_next in zip(times[:-1], times[1:], strict=True):
        x = x + (t_next - t) * flow_map(x, t, t - t_next)
    return x


def heun_sample(velocity: Velocity, x: Tensor, times: Tensor) -> Tensor:
    """Heun's second-order method: an Euler predictor, then the mean of the two slopes. The last
    step (to t = 0) is plain Euler, as in EDM, so no velocity is asked of clean data."""
    for t, t_next in zip(times[:-1], times[1:], strict=True):
        v = velocity(x, t)
        x_euler = x + (t_next - t) * v
        x = x + (t_next - t) * 0.5 * (v + velocity(x_euler, t_next)) if t_next > 0 else x_euler
    return x


def classifier_free_guidance(v_cond: Tensor, v_uncond: Tensor, scale: float) -> Tensor:
    """v_uncond + scale (v_cond - v_uncond): scale 1 is the conditional velocity alone."""
    return v_uncond + scale * (v_cond - v_uncond)


def contrast_guidance(v: Tensor, v_cond: Tensor, v_contrast: Tensor, scale: float) -> Tensor:
    """v + scale (v_cond - v_contrast): a (guided) velocity pushed away from what a contrast
    condition makes, by what the conditions differ in alone. The contrast keeps everything of
    the condition but one attribute (the caption and the plan's boxes, its discs drawn as
    squares), so the push sharpens that attribute and leaves the rest to `v`."""
    return v + scale * (v_cond - v_contrast)


def guides_at(t: float, interval: tuple[float, float]) -> bool:
    """Whether guidance applies at time t, for guidance limited to `interval` = (lo, hi) of t
    (Kynkaanniemi et al. 2024). At high noise the conditional and unconditional predictions of
    the clean latent differ by the whole scene, and the scale multiplies that difference: the
    prediction overshoots the data range there (a small orange object came out yellow-cored).
    Outside the interval the conditional velocity is used alone."""
    lo, hi = interval
    return lo <= t <= hi


def check_guidance_interval(interval: tuple[float, float]) -> None:
    lo, hi = interval
    if not 0.0 <= lo < hi <= 1.0:
        raise ValueError(f"a guidance interval needs 0 <= lo < hi <= 1, got {lo}, {hi}")
