"""Plans that continue given frames: objects found in the frames, motions from the prompt.

For extending a video, the layout must start where the video ends. Each object the prompt names
is found in the given frames with the world detector (`sorakit.world.detect`) and tracked back
through them. The world's physics then carries the objects on under the motions the prompt gives
them (gravity for falls and throws, none for slides, still objects stay), fitted to the frames:

- A velocity comes from a pair of consecutive frames, and is wrong when something happened
  between the two (two objects collided, a ball bounced). A reference simulation starts from
  the earliest pair that, run through the later given frames, reproduces them all; its
  velocities show between which frames something happened. The continuation starts from the
  latest pair with nothing between its frames (the last pair when none reproduces the frames).
- The ground's restitution cannot be seen before a bounce. When a bounce lies inside the given
  frames it is fitted to them; otherwise the middle of the world's range is assumed.

The plan holds the tracked boxes on the given frames and the simulated ones after.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from sorakit.planner.parse import Parse
from sorakit.planner.plan import PLAN_KIND, PlanError
from sorakit.world.clip import frame_times
from sorakit.world.detect import detect_video
from sorakit.world.physics import simulate
from sorakit.world.scene import GRAVITY, Scene, WorldObject, extents

RESTITUTION = 0.7  # the middle of the world's range: a bounce the frames have not shown yet
RESTITUTION_RANGE = (0.5, 0.9)  # what a fit may choose from (the world's range)
FIT_TOLERANCE = 0.01  # world units: a simulation "reproduces" a given frame this closely
FIT_FRAMES = 9  # the given frames a start is looked for in: the last second at 8 fps
EVENT_SPEED = 0.05  # world units / s: a velocity change between frames beyond gravity is an event


def _find(parsed: Parse, last, before) -> list[tuple[int, Any, Any]]:
    """(group, detection on the last frame, nearest detection on the frame before) for every
    object the prompt names; raises PlanError for one the frames do not show."""
    found, used = [], set()
    for g, spec in enumerate(parsed.groups):
        mine = [
            (k, d) for k, d in enumerate(last)
            if k not in used and (spec.colour is None or d.colour == spec.colour)
            and (spec.shape is None or d.shape == spec.shape)
        ]  # fmt: skip
        if len(mine) < spec.count:
            what = " ".join(w for w in (spec.colour, spec.shape) if w) or "object"
            raise PlanError(f"the given frames show {len(mine)} {what}(s), the prompt {spec.count}")
        for k, d in sorted(mine, key=lambda kd: -kd[1].area)[: spec.count]:
            used.add(k)
            same = [p for p in before if p.colour == d.colour] or [d]
            prev = min(same, key=lambda p: np.hypot(*np.subtract(p.center, d.center)))
            found.append((g, d, prev))
    return found


def _tracks(detections, found) -> np.ndarray:
    """(T, N, 2) pixel centres of each found object on every given frame: the detections
    `_find` chose on the last two frames, then back to the nearest detection of the same colour;
    NaN where a frame lacks it."""
    tracks = np.full((len(detections), len(found), 2), np.nan)
    for n, (_, det, prev) in enumerate(found):
        tracks[-1, n], tracks[-2, n] = det.center, prev.center
        anchor = prev.center
        for t in range(len(detections) - 3, -1, -1):
            centre = _nearest(detections[t], det.colour, anchor)
            if centre is not None:
                tracks[t, n] = anchor = centre
    return tracks


def _start(
    objects: list[WorldObject], tracks: np.ndarray, frame: int, fps: float, ppu: float
) -> tuple[WorldObject, ...] | None:
    """`objects` placed on given frame `frame` (>= 1) with velocities from the frame before;
    None when a track misses either frame."""
    here, before = tracks[frame], tracks[frame - 1]
    if not (np.isfinite(here).all() and np.isfinite(before).all()):
        return None
    placed = []
    for obj, now, then in zip(objects, here, before, strict=True):
        velocity = np.zeros(2) if obj.motion == "still" else (now - then) * fps / ppu
        if obj.uses_gravity:  # a difference is the mid-interval velocity
            velocity[1] += GRAVITY * 0.5 / fps
        placed.append(replace(obj, position=tuple(now / ppu), velocity=tuple(velocity)))
    return tuple(placed)


def _simulate(objects, restitution: float, size, fps: float, frames: int):
    """(positions, velocities), each (frames, N, 2), of `objects` simulated from their places
    for `frames` frames at `fps` on a canvas of `size` (width, height) pixels; positions in
    pixels, velocities in world units per second."""
    width, height = size
    times = frame_times(fps, frames)
    scene = Scene(width / height, float(times[-1]), GRAVITY, restitution, 0, tuple(objects),
                  (), (), None)  # fmt: skip
    positions, velocities = simulate(scene, float(times[-1]) + 0.1).sample(times)
    return positions * float(min(size)), velocities


def _miss(simulated: np.ndarray, later: np.ndarray, ppu: float) -> float:
    """Largest distance (world units) between simulated centres and the given frames they cover."""
    dist = np.linalg.norm(simulated[: len(later)] - later, axis=-1) / ppu
    dist = dist[np.isfinite(dist)]
    return float(dist.max()) if dist.size else 0.0


def _cost(simulated: np.ndarray, later: np.ndarray) -> float:
    """Mean squared pixel distance between simulated centres and the given frames they cover."""
    sq = ((simulated[: len(later)] - later) ** 2).sum(-1)
    return float(np.nanmean(sq)) if np.isfinite(sq).any() else 0.0


def _fit_restitution(objects, later: np.ndarray, size, fps, frames, known: float | None):
    """(restitution, simulation) for the restitution whose simulation of `objects` comes
    closest (mean square) to the `later` given frames, searched on ever finer grids over the
    world's range; `known` instead when given. The assumed value stays unless another is
    closer: without a bounce in the given frames every value simulates them alike."""
    first = RESTITUTION if known is None else known
    best = (first, _simulate(objects, first, size, fps, frames))
    if known is not None or not any(o.uses_gravity for o in objects):
        return best
    best_cost = _cost(best[1][0], later)
    lo, hi = RESTITUTION_RANGE
    values = np.arange(lo, hi + 1e-9, 0.05)
    for step in (0.01, 0.002, None):  # each grid spans the last one's step around its best
        for r in values:
            simulation = _simulate(objects, float(r), size, fps, frames)
            cost = _cost(simulation[0], later)
            if cost < best_cost - 1e-9:
                best, best_cost = (float(r), simulation), cost
        if step is not None:
            values = np.clip(best[0] + step * np.arange(-4, 5), lo, hi)
    return best


def _events(objects, velocities: np.ndarray, fps: float) -> np.ndarray:
    """(F - 1,) whether anything happened between consecutive frames of a simulation (a bounce,
    a collision): a velocity change beyond what gravity gives, on any object."""
    expected = np.zeros((len(objects), 2))
    expected[[o.uses_gravity for o in objects], 1] = GRAVITY / fps
    change = np.diff(velocities, axis=0) - expected  # (F - 1, N, 2)
    return (np.linalg.norm(change, axis=-1) > EVENT_SPEED).any(-1)


def _reference(starts: dict, tracks: np.ndarray, size, fps: float, frames: int, known):
    """(first, restitution, positions, velocities): the simulation from the earliest start
    among the last `FIT_FRAMES` given frames that, with a fitted restitution, reproduces every
    later given frame (the longest stretch, so a bounce in it tells the restitution); None when
    no start does."""
    given, ppu = len(tracks), float(min(size))
    for first in range(max(1, given - FIT_FRAMES), given - 1):
        if starts[first] is None:
            continue
        later = tracks[first:]
        fit = _fit_restitution(starts[first], later, size, fps, frames - first, known)
        restitution, (positions, velocities) = fit
        if _miss(positions, later, ppu) <= FIT_TOLERANCE:
            return first, restitution, positions, velocities
    return None


def _continue(objects, tracks: np.ndarray, size, fps: float, frames: int, known=None):
    """(restitution, (frames - given + 1, N, 2) pixel centres from the last given frame on).

    The reference simulation's velocities show between which given frames something happened.
    The continuation starts from the latest pair of frames with nothing between them (the
    freshest velocities), or carries the reference on when every later pair has an event.
    Without a reference the last pair is all there is. `known`: the restitution, if known."""
    given, ppu = len(tracks), float(min(size))
    starts = {f: _start(objects, tracks, f, fps, ppu) for f in range(1, given)}
    reference = _reference(starts, tracks, size, fps, frames, known)
    if reference is None:
        restitution = RESTITUTION if known is None else known
        last = _simulate(starts[given - 1], restitution, size, fps, frames - given + 1)
        return restitution, last[0]
    first, restitution, positions, velocities = reference
    events = _events(starts[first], velocities, fps)  # [k]: between frames first + k, + k + 1
    for frame in range(given - 1, first, -1):
        if starts[frame] is not None and not events[frame - 1 - first]:
            fresh = _simulate(starts[frame], restitution, size, fps, frames - frame)
            return restitution, fresh[0][given - 1 - frame :]
    return restitution, positions[given - 1 - first :]


def plan_from_frames(
    parsed: Parse,
    frames: np.ndarray,
    fps: float,
    num_frames: int,
    restitution: float | None = None,
) -> dict[str, Any]:
    """A plan of `num_frames` frames at `fps` whose first len(frames) frames are the given
    (T, H, W, 3) uint8 frames, continued by physics under the prompt's motions. `restitution`:
    the ground's, when known (None: fitted to a bounce in the frames, else assumed)."""
    if len(frames) < 2:
        raise PlanError("continuing a layout needs at least two given frames (for velocities)")
    height, width = frames.shape[1:3]
    ppu = float(min(width, height))
    detections = detect_video(frames)
    found = _find(parsed, detections[-1], detections[-2])
    tracks = _tracks(detections, found)
    objects = [_identity(parsed, g, det) for g, det, _ in found]
    size = (width, height)
    restitution, future = _continue(objects, tracks, size, fps, num_frames, restitution)
    given = len(frames)
    records = []
    for t in range(num_frames):
        centres = tracks[t] if t < given else future[t - given + 1]
        placed = enumerate(zip(objects, centres, strict=True))
        boxes = [_box(i, o, c, ppu) for i, (o, c) in placed if np.isfinite(c).all()]
        records.append({"index": t, "time": round(t / fps, 6), "objects": boxes})
    return {
        "version": 1, "kind": PLAN_KIND, "prompt": parsed.prompt, "understood": True,
        "unplaced": [], "substitutions": dict(parsed.substitutions),
        "assumed": [*parsed.assumed, f"restitution {restitution:.3g}", "continues given frames"],
        "scene": {"width": width, "height": height, "fps": fps, "num_frames": num_frames},
        "objects": [{"id": i, "colour": o.colour, "shape": o.shape, "size": o.size,
                     "motion": o.motion, "direction": o.direction} for i, o in enumerate(objects)],
        "frames": records,
    }  # fmt: skip


def _identity(parsed: Parse, group: int, det) -> WorldObject:
    """What the prompt and the detector say a found object is; placed and set moving later."""
    spec = parsed.groups[group]
    size = spec.size or det.size
    motion = spec.motion or "still"
    return WorldObject(det.colour, det.shape, size, motion, spec.direction, (0.0, 0.0),
                       (0.0, 0.0), group)  # fmt: skip


def _nearest(dets, colour: str, anchor) -> tuple[float, float] | None:
    """The centre of the `colour` detection nearest `anchor`, or None if there is none."""
    same = [d for d in dets if d.colour == colour]
    if not same:
        return None
    return min(same, key=lambda d: float(np.hypot(*np.subtract(d.center, anchor)))).center


def _box(i: int, obj: WorldObject, centre, ppu: float) -> dict[str, Any]:
    """One object's entry on a plan frame: its box around `centre` (pixels) from its size."""
    x, y = float(centre[0]), float(centre[1])
    left, top, right, bottom = (v * ppu for v in extents(obj.shape, obj.size))
    return {"id": i, "colour": obj.colour, "shape": obj.shape, "size": obj.size,
            "center": [round(x, 4), round(y, 4)],
            "bbox": [round(x + left, 4), round(y + top, 4), round(x + right, 4),
                     round(y + bottom, 4)]}  # fmt: skip
