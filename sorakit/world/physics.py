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

from sorakit.world.scene import Scene, WorldObject, triangle_vertices
from sorakit.world.vocab import SIZES

SIM_DT = 1.0 / 480.0
WALL_THICKNESS = 0.5  # thick walls make tunnelling impossible at the world's speeds
_WALL_CATEGORY = 1


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


def _add_walls(space: pymunk.Space, width: float, height: float) -> pymunk.Shape:
    """Ground, left and right walls, and an invisible ceiling. Returns the ground shape."""
    t = WALL_THICKNESS
    boxes = {
        "ground": [(-t, height), (width + t, height), (width + t, height + t), (-t, height + t)],
        "left": [(-t, -t), (0, -t), (0, height + t), (-t, height + t)],
        "right": [(width, -t), (width + t, -t), (width + t, height + t), (width, height + t)],
        "ceiling": [(-t, -t), (width + t, -t), (width + t, 0), (-t, 0)],
    }
    shapes = {}
    for name, verts in boxes.items():
        shape = pymunk.Poly(space.static_body, verts)
        shape.elasticity, shape.friction = 1.0, 0.0
        shape.filter = pymunk.ShapeFilter(categories=_WALL_CATEGORY)
        shapes[name] = shape
        space.add(shape)
    return shapes["ground"]


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
    """Builds the pymunk space for a scene and steps it; lives only inside `simulate`."""

    def __init__(self, scene: Scene):
        self.scene = scene
        width, height = scene.extent
        self.space = pymunk.Space()
        self.space.gravity = (0.0, scene.gravity)
        self.space.collision_slop = 1e-4
        self.ground = _add_walls(self.space, width, height)
        partners = _collision_partners(scene)
        n = len(scene.objects)
        self.started = np.zeros(n, dtype=bool)
        self.start_times = np.full(n, math.inf)
        self.first_landing = np.full(n, math.inf)
        # A landing is a ground contact after time in the air; thrown objects start on the ground.
        self.airborne = np.zeros(n, dtype=bool)
        self.bodies: list[pymunk.Body] = []
        for i, obj in enumerate(scene.objects):
            body = pymunk.Body(obj.mass, math.inf)  # infinite moment: objects never rotate
            body.position = obj.position
            body.velocity_func = self._velocity_func(i, obj)
            shape = _make_shape(body, obj)
            shape.elasticity, shape.friction = _elasticity(obj, scene.restitution), 0.0
            mask = _WALL_CATEGORY | (1 << (partners[i] + 1) if i in partners else 0)
            shape.filter = pymunk.ShapeFilter(categories=1 << (i + 1), mask=mask)
            self.space.add(body, shape)
            self.bodies.append(body)

    def _velocity_func(self, i: int, obj: WorldObject):
        def update(body, gravity, damping, dt):
            g = gravity if (obj.uses_gravity and self.started[i]) else (0.0, 0.0)
            pymunk.Body.update_velocity(body, g, 1.0, dt)

        return update

    def _touches_ground(self, i: int) -> bool:
        hit = False

        def check(arbiter: pymunk.Arbiter) -> None:
            nonlocal hit
            hit = hit or self.ground in arbiter.shapes

        self.bodies[i].each_arbiter(check)
        return hit

    def _note_landing(self, i: int, t: float) -> None:
        if not self._touches_ground(i):
            self.airborne[i] = True
        elif self.airborne[i]:
            self.first_landing[i] = t

    def _start_due(self, t: float) -> None:
        for i, obj in enumerate(self.scene.objects):
            if self.started[i]:
                continue
            base = 0.0 if obj.trigger is None else self.first_landing[obj.trigger]
            if t >= base + obj.delay - 1e-9:
                self.started[i] = True
                self.start_times[i] = t
                self.bodies[i].velocity = obj.velocity

    def run(self, horizon: float) -> Trajectory:
        steps = int(math.ceil(horizon / SIM_DT)) + 1
        n = len(self.bodies)
        positions = np.zeros((steps + 1, n, 2))
        velocities = np.zeros((steps + 1, n, 2))
        for k in range(steps + 1):
            t = k * SIM_DT
            self._start_due(t)
            for i, body in enumerate(self.bodies):
                positions[k, i] = body.position
                velocities[k, i] = body.velocity
                if self.started[i] and math.isinf(self.first_landing[i]):
                    self._note_landing(i, t)
            if k < steps:
                self.space.step(SIM_DT)
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
