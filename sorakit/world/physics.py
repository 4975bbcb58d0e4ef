"""Rigid-body simulation of a scene with pymunk, sampled at any times afterwards.

The simulation runs once, at a fixed internal step, independent of any frame rate; frames are
then read off the recorded trajectory by interpolation. That is what makes the same scene at
8 fps and at 24 fps show the same motion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pymunk
import pymunk.batch
from pymunk.batch import BodyFields

from sorakit.world.scene import Scene, WorldObject, triangle_vertices
from sorakit.world.vocab import SIZES

SIM_DT = 1.0 / 480.0
WALL_THICKNESS = 0.5  # thick walls make tunnelling impossible at the world's speeds
_WALL_CATEGORY = 1
_GROUND_TYPE = 1  # collision type of the ground; object i has type _FIRST_OBJECT_TYPE + i
_FIRST_OBJECT_TYPE = 2
_READ_FIELDS = BodyFields.BODY_ID | BodyFields.POSITION | BodyFields.VELOCITY


@dataclass
class Trajectory:
    """Positions and velocities of every object at every internal step, world units, y down."""

    times: np.ndarray  # (S,)
    positions: np.ndarray  # (S, N, 2)
    velocities: np.ndarray  # (S, N, 2)
    start_times: np.ndarray  # (N,) when each object's motion started (inf: never)
    first_landing: np.ndarray  # (N,) first contact with the ground (inf: never)

    def sample(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Linearly interpolated (positions, velocities) at `times`: each (len(times), N, 2)."""
        times = np.clip(np.asarray(times, dtype=np.float64), self.times[0], self.times[-1])
        idx = np.clip(np.searchsorted(self.times, times, side="right") - 1, 0, len(self.times) - 2)
        w = ((times - self.times[idx]) / (self.times[idx + 1] - self.times[idx]))[:, None, None]
        pos = (1 - w) * self.positions[idx] + w * self.positions[idx + 1]
        vel = (1 - w) * self.velocities[idx] + w * self.velocities[idx + 1]
        return pos, vel


def _collision_partners(scene: Scene) -> dict[int, int]:
    """Objects that collide with each other: the members of a 'collide' pair of groups."""
    colliders = [i for i, o in enumerate(scene.objects) if o.motion == "collide"]
    partners: dict[int, int] = {}
    for a, b in zip(colliders[0::2], colliders[1::2], strict=True):
        partners[a], partners[b] = b, a
    return partners


def _make_space(gravity: float, width: float, height: float) -> pymunk.Space:
    """A space with ground, left and right walls and an invisible ceiling."""
    space = pymunk.Space()
    space.gravity = (0.0, gravity)
    space.collision_slop = 1e-4
    t = WALL_THICKNESS
    boxes = {
        "ground": [(-t, height), (width + t, height), (width + t, height + t), (-t, height + t)],
        "left": [(-t, -t), (0, -t), (0, height + t), (-t, height + t)],
        "right": [(width, -t), (width + t, -t), (width + t, height + t), (width, height + t)],
        "ceiling": [(-t, -t), (width + t, -t), (width + t, 0), (-t, 0)],
    }
    for name, verts in boxes.items():
        shape = pymunk.Poly(space.static_body, verts)
        shape.elasticity, shape.friction = 1.0, 0.0
        shape.filter = pymunk.ShapeFilter(categories=_WALL_CATEGORY)
        shape.collision_type = _GROUND_TYPE if name == "ground" else 0
        space.add(shape)
    return space


def _make_shape(body: pymunk.Body, obj: WorldObject) -> pymunk.Shape:
    side = SIZES[obj.size]
    if obj.shape == "circle":
        return pymunk.Circle(body, side / 2.0)
    if obj.shape == "square":
        return pymunk.Poly.create_box(body, (side, side))
    return pymunk.Poly(body, triangle_vertices(side))


def _elasticity(obj: WorldObject, restitution: float) -> float:
    # Movers and colliders bounce elastically; falling and thrown objects lose energy.
    return restitution if obj.uses_gravity else 1.0


class _Simulation:
    """Steps one scene; lives only inside `simulate`.

    Objects under gravity (falling, thrown) and objects free of it (still, moving, colliding)
    live in two spaces that differ only in gravity: they never touch each other (sampling rejects
    scenes where they would), so the split changes no motion and needs no per-body callbacks.
    An object joins its space when its motion starts; until then it is held where it is.
    """

    def __init__(self, scene: Scene):
        self.scene = scene
        width, height = scene.extent
        self.spaces = {
            True: _make_space(scene.gravity, width, height),
            False: _make_space(0.0, width, height),
        }
        n = len(scene.objects)
        self.t = 0.0
        self.start_times = np.full(n, math.inf)
        self.pending = list(range(n))  # objects whose motion has not started
        self.first_landing = np.full(n, math.inf)
        for space in self.spaces.values():
            space.on_collision(_GROUND_TYPE, None, begin=self._begin)
        partners = _collision_partners(scene)
        self.bodies: list[pymunk.Body] = []
        self.body_index: dict[int, int] = {}
        for i, obj in enumerate(scene.objects):
            body = pymunk.Body(obj.mass, math.inf)  # infinite moment: objects never rotate
            body.position = obj.position
            shape = _make_shape(body, obj)
            shape.elasticity, shape.friction = _elasticity(obj, scene.restitution), 0.0
            shape.collision_type = _FIRST_OBJECT_TYPE + i
            mask = _WALL_CATEGORY | (1 << (partners[i] + 1) if i in partners else 0)
            shape.filter = pymunk.ShapeFilter(categories=1 << (i + 1), mask=mask)
            self.bodies.append(body)
            self.body_index[body.id] = i

    def _object_of(self, arbiter: pymunk.Arbiter) -> int:
        shape = next(s for s in arbiter.shapes if s.collision_type != _GROUND_TYPE)
        return shape.collision_type - _FIRST_OBJECT_TYPE

    def _begin(self, arbiter: pymunk.Arbiter, space: pymunk.Space, data) -> None:
        i = self._object_of(arbiter)
        # A contact at the very start is the ground a thrown object leaves, not a landing.
        if math.isinf(self.first_landing[i]) and self.t - self.start_times[i] > 2 * SIM_DT:
            self.first_landing[i] = self.t + SIM_DT  # the contact appears during this step

    def _start_due(self) -> None:
        """Start every motion that is due at time self.t."""
        for i in list(self.pending):
            obj = self.scene.objects[i]
            base = 0.0 if obj.trigger is None else self.first_landing[obj.trigger]
            if self.t >= base + obj.delay - 1e-9:
                self.start_times[i] = self.t
                self.pending.remove(i)
                body = self.bodies[i]
                body.velocity = obj.velocity
                self.spaces[obj.uses_gravity].add(body, *body.shapes)

    def _record(self, k: int, buffer: pymunk.batch.Buffer, log: dict) -> None:
        """Append the raw state of every started body at step k to `log`, keyed by membership.

        Reading is deferred to `_unpack`: per-step numpy indexing would cost more than the
        physics itself.
        """
        for space in self.spaces.values():
            if not space.bodies:
                continue
            buffer.clear()
            pymunk.batch.get_space_bodies(space, _READ_FIELDS, buffer)
            key = (id(space), len(space.bodies))
            if key not in log:  # membership changed: remember which object each row is
                ids = np.frombuffer(buffer.int_buf(), dtype=np.int64).tolist()
                log[key] = ([self.body_index.get(b, -1) for b in ids], [], [])  # -1: static
            log[key][1].append(k)
            log[key][2].append(bytes(buffer.float_buf()))

    @staticmethod
    def _unpack(log: dict, positions: np.ndarray, velocities: np.ndarray) -> None:
        for rows, steps, chunks in log.values():
            rows = np.asarray(rows)
            keep = rows >= 0
            state = np.frombuffer(b"".join(chunks), dtype=np.float64)
            state = state.reshape(len(steps), len(rows), 4)[:, keep]  # (steps, bodies, xy+vxy)
            index = np.ix_(np.asarray(steps), rows[keep])
            positions[index], velocities[index] = state[..., :2], state[..., 2:]

    def run(self, horizon: float) -> Trajectory:
        steps = int(math.ceil(horizon / SIM_DT)) + 1
        n = len(self.bodies)
        positions = np.zeros((steps + 1, n, 2))
        velocities = np.zeros((steps + 1, n, 2))
        positions[:] = np.array([o.position for o in self.scene.objects])  # held until started
        buffer, log = pymunk.batch.Buffer(), {}
        for k in range(steps + 1):
            self.t = k * SIM_DT
            self._start_due()
            self._record(k, buffer, log)
            if k < steps:
                for space in self.spaces.values():
                    if space.bodies:
                        space.step(SIM_DT)
        self._unpack(log, positions, velocities)
        return Trajectory(
            times=np.arange(steps + 1) * SIM_DT,
            positions=positions,
            velocities=velocities,
            start_times=self.start_times,
            first_landing=self.first_landing,
        )


def simulate(scene: Scene, horizon: float | None = None) -> Trajectory:
    """Simulate `scene` for `horizon` seconds (default: its duration)."""
    return _Simulation(scene).run(scene.duration if horizon is None else horizon)
