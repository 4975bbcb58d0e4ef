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
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from sorakit.data.layout import LayoutError, box_track
from sorakit.fileio import atomic_write
from sorakit.planner.parse import Parse
from sorakit.world.captions import make_caption
from sorakit.world.clip import annotate, clip_duration, frame_times
from sorakit.world.events import directions_hold, events_visible
from sorakit.world.physics import Trajectory
from sorakit.world.sampling import SceneSamplingError, SceneSpec, sample_scene
from sorakit.world.scene import Relation, Scene
from sorakit.world.vocab import MAX_OBJECTS

PLAN_KIND = "sorakit-plan"


class PlanError(ValueError):
    """A prompt that cannot be laid out, or a plan file that is not a plan."""


PLAN_TRIES = 40  # layouts tried for one whose motions all read as asked inside the clip


def make_plan(
    parsed: Parse, width: int, height: int, fps: float, num_frames: int, seed: int = 0
) -> dict[str, Any]:
    """Lay out `parsed` on a canvas (positions and velocities sampled until every stated
    relation and event holds, preferring a layout where every motion can be seen inside the
    clip and every mover keeps its direction: `sorakit.world.events`), simulate it with the
    world's physics, and return the plan."""
    if not parsed.groups:
        raise PlanError(f"nothing to plan in {parsed.prompt!r}: no object named")
    objects = sum(group.count for group in parsed.groups)
    if objects > MAX_OBJECTS:
        raise PlanError(f"{objects} objects named; a world scene holds at most {MAX_OBJECTS}")
    assumed = list(parsed.assumed)
    groups = tuple(replace(g, motion=g.motion or "still") for g in parsed.groups)
    relations = _open_sides(parsed.relations, seed, assumed)
    spec = SceneSpec(groups, relations=relations, sequence=parsed.sequence)
    try:
        scene, trajectory, shown = _visible_layout(spec, width / height, fps, num_frames, seed)
    except SceneSamplingError as err:
        raise PlanError(f"cannot lay out {parsed.prompt!r} on {width}x{height}: {err}") from None
    assumed += _chosen(parsed, scene)
    if not shown:
        assumed.append(
            f"no layout in {PLAN_TRIES} tries shows every motion inside "
            f"{num_frames} frames at {fps:g} fps; this one shows it in part"
        )
    caption = make_caption(scene, trajectory, seed)
    plan = annotate(scene, trajectory, width, height, fps, num_frames, caption, "plan")
    return {
        "version": plan.pop("version"),
        "kind": PLAN_KIND,
        "prompt": parsed.prompt,
        "understood": parsed.understood,
        "unplaced": list(parsed.unplaced),
        "substitutions": dict(parsed.substitutions),
        "assumed": assumed,
        **plan,
    }


def _open_sides(relations: list[Relation], seed: int, assumed: list[str]) -> tuple:
    """'beside' leaves the side open: the seed picks it, and the plan says so."""
    rng = np.random.default_rng([seed, 0xB5])
    out = []
    for r in relations:
        if r.word == "beside":
            side = str(rng.choice(["left of", "right of"]))
            assumed.append(f"'beside' leaves the side open: group {r.subject} {side} "
                           f"group {r.object}")  # fmt: skip
            r = replace(r, word=side)
        out.append(r)
    return tuple(out)


def _chosen(parsed: Parse, scene: Scene) -> list[str]:
    """The attributes the prompt left open and the layout picked, one line per group."""
    lines = []
    for g, (spec, group) in enumerate(zip(parsed.groups, scene.groups, strict=True)):
        picked = [f"{k} {getattr(group, k)}" for k in ("colour", "shape", "size")
                  if getattr(spec, k) is None]  # fmt: skip
        if picked:
            lines.append(f"group {g} ({group.count} x {group.shape}): " + ", ".join(picked))
    return lines


def _visible_layout(
    spec: SceneSpec, aspect: float, fps: float, num_frames: int, seed: int
) -> tuple[Scene, Trajectory, bool]:
    """The first of `PLAN_TRIES` sampled layouts whose motions all show inside the clip (the
    first try uses `seed` itself), or the first layout and False. An image shows no motion,
    so it takes the first layout."""
    duration = clip_duration(fps, num_frames)
    times = frame_times(fps, num_frames)
    first = sample_scene(seed, aspect=aspect, duration=duration, spec=spec)
    if num_frames == 1 or _reads_as_asked(*first, times):
        return *first, True
    for attempt in range(1, PLAN_TRIES):
        key = int(np.random.SeedSequence([seed, attempt]).generate_state(1)[0] & 0x7FFFFFFF)
        try:
            scene, trajectory = sample_scene(key, aspect=aspect, duration=duration, spec=spec)
        except SceneSamplingError:
            continue
        if _reads_as_asked(scene, trajectory, times):
            return scene, trajectory, True
    return *first, False


def _reads_as_asked(scene: Scene, trajectory: Trajectory, times: np.ndarray) -> bool:
    """Every motion shows inside the clip, and every mover keeps its direction for most of
    it (a mover started near the wall it heads for would show the opposite motion)."""
    return events_visible(scene, trajectory, times) and directions_hold(scene, trajectory, times)


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
