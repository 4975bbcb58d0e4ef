"""Learning-rate schedules shared by the trainers: linear warm-up, then constant or cosine."""

from __future__ import annotations

import math

DECAYS = ("constant", "cosine")


def check_decay(decay: str) -> None:
    if decay not in DECAYS:
        raise ValueError(f"lr decay must be one of {', '.join(DECAYS)}, got {decay!r}")


def learning_rate(
    step: int, base: float, warmup: int, total: int, decay: str = "constant", floor: float = 0.1
) -> float:
    """The rate for optimizer step `step` (0-based): rises linearly to `base` over `warmup`
    steps, then stays there ("constant") or follows a half cosine down to `floor * base` at
    `total` ("cosine")."""
    check_decay(decay)
    if step < warmup:
        return base * (step + 1) / warmup
    if decay == "constant" or total <= warmup:
        return base
    progress = min(1.0, (step - warmup) / (total - warmup))
    return base * (floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress)))
