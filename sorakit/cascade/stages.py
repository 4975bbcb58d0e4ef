"""Running the cascade: which refiners a request needs, the base's share, and one stage.

The model's default size and frame rate are the base's own. A stage runs when the model has it,
it is not turned off, the request asks for at least twice the base's frame rate (temporal) or
size (spatial), and it halves evenly (latent frames 2k - 1 with k >= 2; sides into multiples
of the model's step). The temporal stage runs first.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from torch import Tensor

from sorakit.cascade.refine import run_refiner
from sorakit.cascade.resample import refiner_input
from sorakit.data.layout import plan_layout
from sorakit.models.dit import DiT


@dataclass(frozen=True)
class Canvas:
    """A video's size, frame count and frame rate."""

    width: int
    height: int
    frames: int
    fps: float


def choose_stages(
    want: Canvas,
    base: Canvas,
    available: Collection[str],
    size_multiple: int,
    temporal_factor: int,
    spatial: bool = True,
    temporal: bool = True,
) -> list[str]:
    """The refiners that run, in order, to make `want` with a base model whose own canvas is
    `base` (its frame count unused)."""
    stages = []
    n = 1 + (want.frames - 1) // temporal_factor
    if temporal and "temporal" in available and want.fps >= 2 * base.fps and n >= 3 and n % 2:
        stages.append("temporal")
    larger = want.width >= 2 * base.width or want.height >= 2 * base.height
    m = size_multiple
    halves = want.width % (2 * m) == 0 and want.height % (2 * m) == 0
    if spatial and "spatial" in available and larger and halves:
        stages.append("spatial")
    return stages


def base_canvas(want: Canvas, stages: list[str], temporal_factor: int) -> Canvas:
    """What the base model makes before `stages` refine it into `want`."""
    width, height, frames, fps = want.width, want.height, want.frames, want.fps
    if "temporal" in stages:
        n = (1 + (frames - 1) // temporal_factor + 1) // 2
        frames, fps = 1 + (n - 1) * temporal_factor, fps / 2
    if "spatial" in stages:
        width, height = width // 2, height // 2
    return Canvas(width, height, frames, fps)


def run_stage(
    vae,
    refiner: DiT,
    video: Tensor,
    kind: str,
    text: list[Tensor],
    fps: float,
    *,
    steps: int,
    aug: float,
    strength: float,
    seed: int,
    plan: dict | None = None,
    on_step: Callable[[], None] | None = None,
) -> Tensor:
    """One cascade stage on a video (1, 3, T, H, W) in [-1, 1]: refined latents. `fps` is the
    output's frame rate; `plan`, the layout a refiner that reads layouts follows."""
    cond = refiner_input(vae, video, kind)
    layout = None
    if plan is not None and refiner.config.layout_channels:
        fmt = refiner.config.layout_format
        layout = plan_layout(plan, fmt, cond.shape[2:], fps, vae.temporal_factor).to(cond.device)
    # No guidance: the input already carries the content, and one pass per step keeps the
    # refiners cheap.
    return run_refiner(refiner, cond, text, [], fps, steps=steps, guidance=1.0, aug=aug,
                       strength=strength, layout=layout, seed=seed, on_step=on_step)  # fmt: skip
