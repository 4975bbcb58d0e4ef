"""When generation plans by itself: a prompt is planned only when every part of it is understood.

Anything else (an unplaced word, a scene that cannot be laid out) falls back to text-only
generation, with the reason logged: a plan of part of a prompt would draw another scene.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from sorakit.planner.from_frames import plan_from_frames
from sorakit.planner.parse import Parse, parse
from sorakit.planner.plan import PlanError, make_plan
from sorakit.planner.substitute import Substituter

logger = logging.getLogger(__name__)


class Planner:
    """Parses prompts with a text encoder's substitutions (embedding the world's words once, on
    first use) and plans them."""

    def __init__(self, text_encoder):
        self.text_encoder = text_encoder
        self._substituter: Substituter | None = None

    def parse(self, prompt: str) -> Parse:
        if self._substituter is None:
            self._substituter = Substituter(self.text_encoder)
        return parse(prompt, self._substituter)

    def plan(
        self, prompt: str, width: int, height: int, fps: float, frames: int, seed: int
    ) -> dict[str, Any]:
        """The plan of `prompt`; check `plan["understood"]` before relying on it. Raises
        PlanError if nothing can be laid out."""
        return make_plan(self.parse(prompt), width, height, fps, frames, seed=seed)

    def auto_plan(
        self,
        prompt: str,
        width: int,
        height: int,
        fps: float,
        frames: int,
        seed: int,
        context: np.ndarray | None = None,
    ) -> dict[str, Any] | None:
        """A plan when the prompt is understood whole; None otherwise, with the reason logged.
        With `context` (the given first frames, as the model sees them) the plan continues
        them for `frames` frames."""
        parsed = self.parse(prompt)
        if not parsed.understood:
            logger.info("not planning: could not place %s", "; ".join(parsed.unplaced))
            return None
        try:
            if context is None:
                return make_plan(parsed, width, height, fps, frames, seed=seed)
            return plan_from_frames(parsed, context, fps, frames)
        except PlanError as err:
            logger.info("not planning: %s", err)
            return None
