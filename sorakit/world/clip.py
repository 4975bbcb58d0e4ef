"""One captioned, annotated world clip: scene, simulation, frames, caption, annotation."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sorakit.world.captions import make_caption
from sorakit.world.physics import Trajectory
from sorakit.world.render import render_frames
from sorakit.world.sampling import sample_scene
from sorakit.world.scene import Scene, extents

ANNOTATION_VERSION = 1


@dataclass
class WorldClip:
    frames: np.ndarray  # (T, H, W, 3) uint8
    fps: float
    caption: str
    annotation: dict[str, Any]


def frame_times(fps: float, num_frames: int) -> np.ndarray:
    return np.arange(num_frames, dtype=np.float64) / fps


def clip_duration(fps: float, num_frames: int) -> float:
    """Seconds from the first to the last frame time (0 for an image)."""
    return (num_frames - 1) / fps


def _round(values: np.ndarray, digits: int = 4) -> list[float]:
    return [round(float(v), digits) for v in values]


def annotate(
    scene: Scene,
    trajectory: Trajectory,
    width: int,
    height: int,
    fps: float,
    num_frames: int,
    caption: str,
    split: str,
) -> dict[str, Any]:
    """The annotation of WORLD.md: scene parameters and every object on every frame, in pixels
    (y down) and, for convenience, world units."""
    ppu = float(min(width, height))
    times = frame_times(fps, num_frames)
    positions, velocities = trajectory.sample(times)  # (T, N, 2) each
    objects = []
    for i, obj in enumerate(scene.objects):
        objects.append(
            {
                "id": i,
                "group": obj.group,
                "colour": obj.colour,
                "shape": obj.shape,
                "size": obj.size,
                "motion": obj.motion,
                "direction": obj.direction,
                "in_air": obj.in_air,
                "mass": round(obj.mass, 6),
                "start_time": float(trajectory.start_times[i]),
                "first_landing": (
                    float(trajectory.first_landing[i])
                    if np.isfinite(trajectory.first_landing[i])
                    else None
                ),
            }
        )
    frames = []
    for t, time in enumerate(times):
        per_object = []
        for i, obj in enumerate(scene.objects):
            left, top, right, bottom = extents(obj.shape, obj.size)
            x, y = positions[t, i]
            per_object.append(
                {
                    "id": i,
                    "colour": obj.colour,
                    "shape": obj.shape,
                    "size": obj.size,
                    "center": _round(positions[t, i] * ppu),
                    "bbox": _round(np.array([x + left, y + top, x + right, y + bottom]) * ppu),
                    "velocity": _round(velocities[t, i] * ppu),
                    "center_world": _round(positions[t, i], 6),
                    "velocity_world": _round(velocities[t, i], 6),
                }
            )
        frames.append({"index": t, "time": round(float(time), 6), "objects": per_object})
    world_w, world_h = scene.extent
    return {
        "version": ANNOTATION_VERSION,
        "caption": caption,
        "split": split,
        "scene": {
            "width": width,
            "height": height,
            "fps": fps,
            "num_frames": num_frames,
            "duration": scene.duration,
            "gravity": scene.gravity,
            "gravity_px": scene.gravity * ppu,
            "restitution": scene.restitution,
            "seed": scene.seed,
            "pixels_per_unit": ppu,
            "world_width": world_w,
            "world_height": world_h,
            "units": "positions in pixels, y down; *_world in world units (shorter side = 1)",
        },
        "groups": [asdict(g) for g in scene.groups],
        "relations": [asdict(r) for r in scene.relations],
        "sequence": asdict(scene.sequence) if scene.sequence else None,
        "objects": objects,
        "frames": frames,
    }


def render_clip(
    seed: int,
    width: int = 64,
    height: int = 64,
    fps: float = 8.0,
    num_frames: int = 17,
    split: str = "train",
) -> WorldClip:
    """Sample the scene of `seed` for this canvas and duration, render it and caption it."""
    if width < 8 or height < 8:
        raise ValueError(f"canvas must be at least 8x8 pixels, got {width}x{height}")
    if fps <= 0 or num_frames < 1:
        raise ValueError(f"need fps > 0 and at least 1 frame, got fps={fps}, frames={num_frames}")
    duration = clip_duration(fps, num_frames)
    scene, trajectory = sample_scene(seed, aspect=width / height, duration=duration)
    return render_scene(scene, trajectory, width, height, fps, num_frames, split)


def render_scene(
    scene: Scene,
    trajectory: Trajectory,
    width: int,
    height: int,
    fps: float,
    num_frames: int,
    split: str = "train",
) -> WorldClip:
    """Render an already simulated scene at any size and frame rate of the same aspect ratio."""
    positions, _ = trajectory.sample(frame_times(fps, num_frames))
    frames = render_frames(scene, positions, width, height)
    caption = make_caption(scene, trajectory, scene.seed, split)
    annotation = annotate(scene, trajectory, width, height, fps, num_frames, caption, split)
    return WorldClip(frames=frames, fps=fps, caption=caption, annotation=annotation)
