"""The world evaluation's verdicts on one served video: what `sorakit eval world` would say of it.

The checks are `sorakit.eval`'s own (`eval.run.judge` over the world detector's tracks), asked of
the scene the planner laid out for the prompt, so a served video is judged by the same rules as
the benchmark: objects found and bound to their shapes, the direction of a move, the fitted g of
a fall against the world's, relations, and the checks every video gets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, cast

import numpy as np

from sorakit.eval.metrics import VideoAnalysis
from sorakit.eval.run import judge
from sorakit.eval.suite import SuiteItem
from sorakit.world.scene import Group, Relation, Scene

# The prompted fact each motion of the first group is judged on, as the suite's categories do.
_MOTION_CATEGORY = {"move": "motion", "fall": "gravity", "thrown": "throw", "collide": "collision"}


@dataclass(frozen=True)
class _Prompted:
    """What `judge` reads of a suite item (its category and scene), for a prompt's plan."""

    category: str
    scene: Scene


def plan_scene(plan: dict[str, Any]) -> Scene:
    """The scene graph a plan was laid out from; the judges read its groups, relations and
    gravity, not its objects' starting states."""
    scene = plan["scene"]
    return Scene(
        aspect=scene["width"] / scene["height"], duration=scene["duration"],
        gravity=scene["gravity"], restitution=scene["restitution"], seed=scene["seed"],
        objects=(), groups=tuple(Group(**g) for g in plan["groups"]),
        relations=tuple(Relation(**r) for r in plan["relations"]), sequence=None,
    )  # fmt: skip


def categories(scene: Scene) -> list[str]:
    """The suite's prompt categories that apply to a scene: shapes per colour always, the count
    when one colour is asked, relations when stated, and the first group's motion."""
    asked = ["binding"]
    if len({g.colour for g in scene.groups}) == 1:
        asked.append("count")
    if scene.relations:
        asked.append("relation")
    if scene.groups and scene.groups[0].motion in _MOTION_CATEGORY:
        asked.append(_MOTION_CATEGORY[scene.groups[0].motion])
    return asked


def plan_verdicts(frames: np.ndarray, fps: float, plan: dict[str, Any]) -> dict[str, dict]:
    """Every verdict that applies to `frames` made from `plan`, as JSON: name -> passed, value,
    note (the curve fits of the benchmark's plots are left out)."""
    scene = plan_scene(plan)
    video = VideoAnalysis(frames, fps)
    verdicts = {}
    for category in categories(scene):
        # judge() takes a suite item; a prompt's plan gives it the two fields it reads.
        verdicts |= judge(cast(SuiteItem, _Prompted(category, scene)), video)
    return {name: {k: v for k, v in asdict(verdict).items() if k != "fit"}
            for name, verdict in verdicts.items()}  # fmt: skip
