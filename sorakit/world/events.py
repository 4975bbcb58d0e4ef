"""Whether a clip shows the motion a caption states, not just a scene where it happens.

The world's sampler makes every stated event happen within the simulation, but a clip can
still hide it: a mover placed against a wall turns round before it has gone anywhere, a fall
lands after three frames, a collision happens on the first frame. The evaluation suite keeps
only clips where the event can be seen (so its answers can be checked), and the planner picks
layouts where it can be seen (so a user gets the video the prompt asks for). One definition
serves both, per object, with times counted from the object's own start:
- `move`: keeps its direction for the first half second;
- `fall`, `thrown`: five frames or more in the air before the first landing, with no wall
  bounce in that flight;
- `collide`: the first reversal of its horizontal velocity has three frames before it and
  four after it.
"""

from __future__ import annotations

import numpy as np

from sorakit.world.physics import Trajectory
from sorakit.world.scene import Scene

MOVE_WINDOW = 0.5  # seconds a mover must keep its direction
# A mover should read as asked over the clip, not only at its start: the share of frame steps
# that go the asked way (a step of under STEP_EPS world units counts as not going).
HOLD_FRACTION = 0.75
STEP_EPS = 0.002
# ... over its first seconds: past them a mover meets a wall and turns, as asked in a long clip.
HOLD_SECONDS = 2.0
_AXES = {"left": (-1.0, 0.0), "right": (1.0, 0.0), "up": (0.0, -1.0), "down": (0.0, 1.0)}
FLIGHT_FRAMES = 5  # frames in the air before the first landing
COLLISION_MARGIN = (3, 5)  # frames before the reversal, frames from the reversal to the end


def event_visible(motion: str, traj: Trajectory, obj: int, times: np.ndarray) -> bool:
    """Whether object `obj`'s `motion` can be seen on frames at `times` (seconds); motions
    without an event (`still`) always can."""
    start = traj.start_times[obj]
    if motion == "still":
        return True
    if not np.isfinite(start):
        return False
    own = times[times >= start - 1e-9]
    if motion == "move":
        velocity = traj.sample(own[own <= start + MOVE_WINDOW + 1e-9])[1][:, obj]  # (t, 2)
        return bool(velocity.size and np.all(np.sign(velocity) == np.sign(velocity[0])))
    if motion in ("fall", "thrown"):
        landing = traj.first_landing[obj]
        if not (np.isfinite(landing) and (own < landing).sum() >= FLIGHT_FRAMES):
            return False
        in_flight = (traj.times >= start) & (traj.times < landing)
        vx = traj.velocities[in_flight, obj, 0]
        return bool(np.all(np.sign(vx) == np.sign(vx[0])))
    if motion == "collide":
        vx = traj.sample(own)[1][:, obj, 0]
        flips = np.flatnonzero(np.sign(vx[1:]) != np.sign(vx[:-1]))
        before, after = COLLISION_MARGIN
        return bool(flips.size and before <= flips[0] <= len(own) - after)
    raise ValueError(f"unknown motion {motion!r}")


def direction_fraction(positions: np.ndarray, direction: str) -> float:
    """The share of steps between consecutive positions (T, 2), world units, y down, that go
    `direction` by more than STEP_EPS; 0 for fewer than two positions."""
    if len(positions) < 2:
        return 0.0
    along = np.diff(positions, axis=0) @ np.array(_AXES[direction])
    return float(np.mean(along > STEP_EPS))


def directions_hold(scene: Scene, traj: Trajectory, times: np.ndarray) -> bool:
    """Whether every mover goes its way on at least HOLD_FRACTION of the clip's frame steps
    in its first HOLD_SECONDS from its own start."""
    positions = traj.sample(times)[0]  # (t, objects, 2)
    since = times[:, None] - traj.start_times[None, :]  # from each object's own start
    own = (since >= -1e-9) & (since <= HOLD_SECONDS + 1e-9)
    return all(
        direction_fraction(positions[own[:, i], i], o.direction) >= HOLD_FRACTION
        for i, o in enumerate(scene.objects) if o.motion == "move"
    )  # fmt: skip


def events_visible(scene: Scene, traj: Trajectory, times: np.ndarray) -> bool:
    """Whether every object's motion can be seen on frames at `times`."""
    return all(event_visible(o.motion, traj, i, times) for i, o in enumerate(scene.objects))
