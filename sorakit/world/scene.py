"""Scene graphs of the built-in world, in world units.

World units: the shorter canvas side is 1.0; x grows right, y grows DOWN (as in pixels), so the
ground is the line y = world height. Gravity therefore points to +y.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sorakit.world.vocab import SIZES

GRAVITY = 3.0  # world units / s^2: a fall across the canvas takes about 0.8 s


def world_extent(aspect: float) -> tuple[float, float]:
    """(width, height) of the canvas in world units for aspect = width / height."""
    return (aspect, 1.0) if aspect >= 1.0 else (1.0, 1.0 / aspect)


def triangle_vertices(side: float) -> list[tuple[float, float]]:
    """Upright equilateral triangle around its centroid, y down: apex first."""
    h = side * math.sqrt(3.0) / 2.0
    return [(0.0, -2.0 * h / 3.0), (side / 2.0, h / 3.0), (-side / 2.0, h / 3.0)]


def extents(shape: str, size: str) -> tuple[float, float, float, float]:
    """Offsets of the bounding box from the object's centre: (left, top, right, bottom).

    The centre is the centroid, which for the triangle is not the box centre.
    """
    s = SIZES[size]
    if shape == "triangle":
        h = s * math.sqrt(3.0) / 2.0
        return (-s / 2.0, -2.0 * h / 3.0, s / 2.0, h / 3.0)
    return (-s / 2.0, -s / 2.0, s / 2.0, s / 2.0)


def area(shape: str, size: str) -> float:
    s = SIZES[size]
    if shape == "circle":
        return math.pi * s * s / 4.0
    if shape == "square":
        return s * s
    return s * s * math.sqrt(3.0) / 4.0


@dataclass(frozen=True)
class WorldObject:
    """One simulated object. Velocities are in world units per second, y down."""

    colour: str
    shape: str
    size: str
    motion: str  # one of vocab.MOTIONS
    direction: str | None  # move: left/right/up/down; thrown: left/right; else None
    position: tuple[float, float]  # centre at t = 0
    velocity: tuple[float, float]  # velocity given when the motion starts
    group: int  # which caption group (same colour/shape/size/motion) it belongs to
    delay: float = 0.0  # seconds before the motion starts (after the trigger, if any)
    trigger: int | None = None  # object index whose first landing starts this one's motion
    in_air: bool = False  # a still object fixed in the air

    @property
    def uses_gravity(self) -> bool:
        return self.motion in ("fall", "thrown")

    @property
    def mass(self) -> float:
        return area(self.shape, self.size)  # unit density


@dataclass(frozen=True)
class Group:
    """Objects a caption names together: 'two small white squares rest on the ground'."""

    colour: str
    shape: str
    size: str
    motion: str
    direction: str | None
    count: int
    in_air: bool = False


@dataclass(frozen=True)
class Relation:
    subject: int  # group index
    word: str  # one of vocab.RELATIONS
    object: int  # group index


@dataclass(frozen=True)
class Sequence:
    """Group `second` starts after group `first`: on its landing or after a delay."""

    first: int
    second: int
    on_landing: bool


@dataclass(frozen=True)
class Scene:
    aspect: float  # canvas width / height
    duration: float  # seconds of simulated time the clip must show
    gravity: float
    restitution: float
    seed: int
    objects: tuple[WorldObject, ...]
    groups: tuple[Group, ...]
    relations: tuple[Relation, ...]
    sequence: Sequence | None

    @property
    def extent(self) -> tuple[float, float]:
        return world_extent(self.aspect)

    def members(self, group: int) -> list[int]:
        return [i for i, o in enumerate(self.objects) if o.group == group]
