"""When generation plans by itself: a prompt is planned only when every part of it is understood.

Anything else (an unplaced word, a scene that cannot be laid out) is not planned: a plan of part
of a prompt would draw another scene. For a prompt the world cannot show, `nearest_prompts`
offers the prompts it can that are nearest in meaning, so a caller can say so and draw one of
them rather than the noise an unknown prompt gives.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from sorakit.planner.from_frames import plan_from_frames
from sorakit.planner.lexicon import NOTED_FILLER
from sorakit.planner.parse import Parse, parse
from sorakit.planner.plan import PlanError, make_plan
from sorakit.planner.substitute import Substituter
from sorakit.world.vocab import COLOURS

# The prompts nearest prompts are drawn from: one object, one motion, plain words, each a
# sentence the default model draws well and the planner reads whole.
PLANS_KEPT = 64  # plans a Planner keeps for prompts asked for again
BANK_NOUNS = ("ball", "box", "triangle")
BANK_VERBS = ("falls and bounces", "moves left", "moves right", "moves up", "moves down",
              "is thrown to the left", "is thrown to the right", "rests on the ground")  # fmt: skip

logger = logging.getLogger(__name__)


WHAT_THE_WORLD_SHOWS = ("balls, boxes and triangles in eight colours that fall, slide, are "
                        "thrown, collide or rest, beside, above or after each other")


@dataclass
class Reading:
    """How a prompt reads for the world: its parse, and for one the world cannot show whole,
    the nearest prompts it can."""

    prompt: str
    parsed: Parse
    nearest: list[str] = field(default_factory=list)

    @property
    def drawable(self) -> bool:
        return self.parsed.understood

    @property
    def ignored(self) -> list[str]:
        """Filler words worth naming: read, and nothing drawn for them."""
        return sorted({w for w in self.parsed.filler if w in NOTED_FILLER})

    def refusal(self) -> str:
        """One line: what cannot be drawn, what can, and the nearest prompts."""
        nearest = "; ".join(f"'{p}'" for p in self.nearest)
        words = [u for u in self.parsed.unplaced if not u.startswith("the prompt")]
        what = ", ".join(f"'{w}'" for w in words) or "this prompt"
        return (f"the model cannot draw {what}; it draws "
                f"{WHAT_THE_WORLD_SHOWS}; nearest prompts it can draw: {nearest}")  # fmt: skip


class Planner:
    """Parses prompts with a text encoder's substitutions (embedding the world's words once, on
    first use) and plans them."""

    def __init__(self, text_encoder):
        self.text_encoder = text_encoder
        self._substituter: Substituter | None = None
        self._bank: tuple[list[str], torch.Tensor] | None = None
        # (prompt, canvas, seed) -> its plan: planning is a pure function of them, and a loaded
        # pipeline asked for the same video again need not simulate the world again.
        self._plans: OrderedDict[tuple, dict[str, Any]] = OrderedDict()

    def parse(self, prompt: str) -> Parse:
        if self._substituter is None:
            self._substituter = Substituter(self.text_encoder)
        return parse(prompt, self._substituter)

    @torch.no_grad()
    def _sentences(self, texts: list[str]) -> torch.Tensor:
        hidden, mask = self.text_encoder.encode(texts)
        mean = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp_min(1)
        return F.normalize(mean.float(), dim=-1)

    def _caption_bank(self) -> tuple[list[str], torch.Tensor]:
        if self._bank is None:
            captions = [f"{'an' if c[0] in 'aeiou' else 'a'} {c} {noun} {verb}"
                        for c in COLOURS for noun in BANK_NOUNS for verb in BANK_VERBS]  # fmt: skip
            self._bank = captions, self._sentences(captions)
        return self._bank

    def read(self, prompt: str) -> Reading:
        """The prompt's reading, with the nearest drawable prompts when it is not drawable."""
        parsed = self.parse(prompt)
        return Reading(prompt, parsed, [] if parsed.understood else self.nearest_prompts(parsed))

    def nearest_prompts(self, parsed: Parse, k: int = 3) -> list[str]:
        """Up to `k` prompts the world can show, nearest to the parsed prompt: first the part of
        it that was understood (when some was), then world captions by the text encoder's
        similarity."""
        out = []
        prompt = parsed.prompt
        if parsed.groups:
            with contextlib.suppress(PlanError):
                out.append(make_plan(parsed, 64, 64, 8.0, 17, seed=0)["caption"])
        captions, vectors = self._caption_bank()
        scores = vectors @ self._sentences([prompt])[0]
        for i in scores.argsort(descending=True).tolist():
            if len(out) >= k:
                break
            if captions[i] not in out:
                out.append(captions[i])
        return out[:k]

    def plan(
        self, prompt: str, width: int, height: int, fps: float, frames: int, seed: int
    ) -> dict[str, Any]:
        """The plan of `prompt`; check `plan["understood"]` before relying on it. Raises
        PlanError if nothing can be laid out."""
        return self._plan(prompt, None, width, height, fps, frames, seed)

    def _plan(
        self, prompt: str, parsed: Parse | None, width: int, height: int, fps: float, frames: int,
        seed: int,
    ) -> dict[str, Any]:  # fmt: skip
        """`plan`, from the prompt's parse when the caller has it."""
        key = (prompt, width, height, fps, frames, seed)
        if key not in self._plans:
            parsed = parsed or self.parse(prompt)
            self._plans[key] = make_plan(parsed, width, height, fps, frames, seed=seed)
            while len(self._plans) > PLANS_KEPT:
                self._plans.popitem(last=False)
        self._plans.move_to_end(key)
        return copy.deepcopy(self._plans[key])  # callers may change their copy

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
                return self._plan(prompt, parsed, width, height, fps, frames, seed)
            return plan_from_frames(parsed, context, fps, frames)
        except PlanError as err:
            logger.info("not planning: %s", err)
            return None
