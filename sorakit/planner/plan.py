"""Scene plans: a parsed prompt laid out and simulated into per-frame object boxes.

A plan is a JSON document in the world's annotation format (WORLD.md: `scene`, `groups`,
`relations`, `sequence`, `objects`, and `frames` with every object's pixel `bbox` on every
frame), plus what the planner read:

    {
      "version": 1, "kind": "sorakit-plan",
      "prompt": "...",                       # the prompt it was made from ("" if by hand)
      "understood": true,                    # every part of the prompt placed
      "unplaced": ["..."],                   # words or problems the planner could not place
      "substitutions": {"crimson": "red"},   # unknown words read as known ones
      "assumed": ["..."],                    # defaults the planner chose
      "scene": {"width", "height", "fps", "num_frames", ...},
      "groups": [...], "relations": [...], "sequence": null,
      "objects": [{"id", "colour", "shape", "size", "motion", ...}],
      "frames": [{"index", "time", "objects": [{"id", "colour", "shape", "bbox", ...}]}]
    }

Generation reads only `scene` (width, height, fps, num_frames) and `frames` (each object's id,
colour, shape and bbox `[x0, y0, x1, y1]` in pixels, y down): edit those by hand, or write them
from another planner (an LLM, a layout tool), and `sorakit generate --plan` renders them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sorakit.data.layout import LayoutError, box_track
from sorakit.fileio import atomic_write
from sorakit.planner.parse import Parse
from sorakit.world.captions import make_caption
from sorakit.world.clip import annotate, clip_duration
from sorakit.world.sampling import SceneSamplingError, SceneSpec, sample_scene

PLAN_KIND = "sorakit-plan"


class PlanError(ValueError):
    """A prompt that cannot be laid out, or a plan file that is not a plan."""


def make_plan(
    parsed: Parse, width: int, height: int, fps: float, num_frames: int, seed: int = 0
) -> dict[str, Any]:
    """Lay out `parsed` on a canvas (positions and velocities sampled until every stated
    relation and event holds), simulate it with the world's physics, and return the plan."""
    if not parsed.groups:
        raise PlanError(f"nothing to plan in {parsed.prompt!r}: no object named")
    spec = SceneSpec(
        tuple(parsed.groups), relations=tuple(parsed.relations), sequence=parsed.sequence
    )
    duration = clip_duration(fps, num_frames)
    try:
        scene, trajectory = sample_scene(seed, aspect=width / height, duration=duration, spec=spec)
    except SceneSamplingError as err:
        raise PlanError(f"cannot lay out {parsed.prompt!r} on {width}x{height}: {err}") from None
    caption = make_caption(scene, trajectory, seed)
    plan = annotate(scene, trajectory, width, height, fps, num_frames, caption, "plan")
    return {
        "version": plan.pop("version"),
        "kind": PLAN_KIND,
        "prompt": parsed.prompt,
        "understood": parsed.understood,
        "unplaced": list(parsed.unplaced),
        "substitutions": dict(parsed.substitutions),
        "assumed": list(parsed.assumed),
        **plan,
    }


def save_plan(plan: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    atomic_write(path, lambda p: p.write_text(json.dumps(plan, indent=1)))
    return path


def load_plan(path: str | Path) -> dict[str, Any]:
    """Read and check a plan file; raises PlanError with the reason if it is not usable."""
    try:
        plan = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise PlanError(f"{path}: cannot read a plan ({err})") from None
    check_plan(plan, str(path))
    return plan


def check_plan(plan: dict[str, Any], where: str = "plan") -> None:
    if not isinstance(plan, dict):
        raise PlanError(f"{where}: a plan is a JSON object")
    scene = plan.get("scene", {})
    for key in ("width", "height", "fps", "num_frames"):
        if not isinstance(scene.get(key), int | float) or scene[key] <= 0:
            raise PlanError(f"{where}: scene.{key} must be a positive number")
    try:
        box_track(plan)
    except LayoutError as err:
        raise PlanError(f"{where}: {err}") from None
