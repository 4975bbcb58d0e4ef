"""Plans that continue given frames: objects found in the frames, motions from the prompt.

For extending a video, the layout must start where the video ends. Each object the prompt names
is found in the given frames with the world detector (`sorakit.eval.detect`), its velocity is
estimated from the last two frames, and the world's physics carries it on under the motion the
prompt gives it (gravity for falls and throws, none for slides, still objects stay). The plan
holds the detected boxes on the given frames and the simulated ones after.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sorakit.planner.parse import Parse
from sorakit.planner.plan import PLAN_KIND, PlanError
from sorakit.world.clip import frame_times
from sorakit.world.physics import simulate
from sorakit.world.scene import GRAVITY, Scene, WorldObject, extents

RESTITUTION = 0.7  # the middle of the world's range: a bounce the frames have not shown yet


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


def plan_from_frames(
    parsed: Parse, frames: np.ndarray, fps: float, num_frames: int
) -> dict[str, Any]:
    """A plan of `num_frames` frames at `fps` whose first len(frames) frames are the given
    (T, H, W, 3) uint8 frames, continued by physics under the prompt's motions."""
    from sorakit.eval.detect import detect_video

    if len(frames) < 2:
        raise PlanError("continuing a layout needs at least two given frames (for velocities)")
    height, width = frames.shape[1:3]
    ppu = float(min(width, height))
    detections = detect_video(frames)
    found = _find(parsed, detections[-1], detections[-2])
    objects = []
    for g, det, prev in found:
        spec = parsed.groups[g]
        motion = spec.motion
        velocity = np.zeros(2)
        if motion != "still":
            velocity = np.subtract(det.center, prev.center) * fps / ppu
        if motion in ("fall", "thrown"):  # a difference is the mid-interval velocity
            velocity[1] += GRAVITY * 0.5 / fps
        objects.append(WorldObject(
            det.colour, det.shape, spec.size or det.size, motion, spec.direction,
            position=tuple(np.asarray(det.center) / ppu), velocity=tuple(velocity), group=g,
        ))  # fmt: skip
    given = len(frames)
    future = frame_times(fps, num_frames - given + 1)  # from the last given frame on
    scene = Scene(width / height, float(future[-1]), GRAVITY, RESTITUTION, 0, tuple(objects),
                  (), (), None)  # fmt: skip
    positions = simulate(scene, float(future[-1]) + 0.1).sample(future)[0] * ppu  # (F, N, 2)
    anchors = [det.center for _, det, _ in found]
    records = []
    for t in range(num_frames):
        if t < given:  # the given frames: where the detector sees each object
            pairs = zip(objects, anchors, strict=True)
            centres = [_nearest(detections[t], o.colour, a) for o, a in pairs]
        else:
            centres = list(positions[t - given + 1])
        placed = enumerate(zip(objects, centres, strict=True))
        boxes = [_box(i, o, c, ppu) for i, (o, c) in placed if c is not None]
        records.append({"index": t, "time": round(t / fps, 6), "objects": boxes})
    return {
        "version": 1, "kind": PLAN_KIND, "prompt": parsed.prompt, "understood": True,
        "unplaced": [], "substitutions": dict(parsed.substitutions),
        "assumed": [*parsed.assumed, f"restitution {RESTITUTION}", "continues given frames"],
        "scene": {"width": width, "height": height, "fps": fps, "num_frames": num_frames},
        "objects": [{"id": i, "colour": o.colour, "shape": o.shape, "size": o.size,
                     "motion": o.motion, "direction": o.direction} for i, o in enumerate(objects)],
        "frames": records,
    }  # fmt: skip


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
