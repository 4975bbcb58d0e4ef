"""Random scenes: groups of objects, their placement and motion, relations and order of events.

Sampling is rejection sampling against the simulation: a candidate scene is simulated and kept
only if its objects never overlap (except colliding pairs), never leave the canvas, and every
event the caption will state (a collision, a landing that starts another motion) happens in time.
All randomness comes from one numpy Generator seeded by the caller, so a seed fixes the scene.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from sorakit.world.physics import Trajectory, simulate
from sorakit.world.scene import (
    GRAVITY,
    Group,
    Relation,
    Scene,
    Sequence,
    WorldObject,
    extents,
    world_extent,
)
from sorakit.world.vocab import COLOURS, MOVE_DIRECTIONS, SHAPES, SIZES, THROW_DIRECTIONS

MIN_HORIZON = 2.0  # seconds simulated even for short clips and images, so events are real
RELATION_MARGIN = 0.06  # world units by which centres must differ for a relation to hold
START_GAP = 0.03  # world units between objects' boxes at t = 0
RUN_GAP = 0.005  # world units between non-colliding objects' boxes at any time
MAX_TRIES = 400
# A landing object sinks into the ground for at most one internal step (about 0.005 units at
# the fastest landings) before the contact pushes it out: a third of a pixel at 64 px.
PENETRATION_TOL = 0.006

_FREE_MOTIONS = ("still", "move", "fall", "thrown")


class SceneSamplingError(ValueError):
    """No valid scene could be found for the requested canvas."""


@dataclass(frozen=True)
class GroupSpec:
    """What a caption group must be; None fields are sampled."""

    motion: str
    direction: str | None = None
    count: int = 1
    in_air: bool = False
    colour: str | None = None
    shape: str | None = None
    size: str | None = None


@dataclass(frozen=True)
class SceneSpec:
    """A constrained scene: these groups, in this order, relations that must hold (between
    group indices) and optionally an order of events. Used to build evaluation prompts with
    known answers, and by the planner to lay out a parsed prompt."""

    groups: tuple[GroupSpec, ...]
    relation: Relation | None = None
    relations: tuple[Relation, ...] = ()  # more required relations
    sequence: Sequence | None = None

    @property
    def required(self) -> tuple[Relation, ...]:
        return ((self.relation,) if self.relation else ()) + tuple(self.relations)


def _plan_groups(rng: np.random.Generator, n_objects: int) -> list[GroupSpec]:
    units: list[list[GroupSpec]] = []  # a colliding pair stays adjacent through the shuffle
    remaining = n_objects
    if n_objects >= 2 and rng.random() < 0.25:
        units.append([GroupSpec("collide"), GroupSpec("collide")])
        remaining -= 2
    while remaining > 0:
        count = 1 if rng.random() < 0.55 else int(rng.integers(1, remaining + 1))
        motion = str(rng.choice(_FREE_MOTIONS))
        direction = None
        if motion == "move":
            direction = str(rng.choice(MOVE_DIRECTIONS))
        elif motion == "thrown":
            direction = str(rng.choice(THROW_DIRECTIONS))
        units.append([GroupSpec(motion, direction, count)])
        remaining -= count
    plans = [plan for i in rng.permutation(len(units)) for plan in units[i]]
    return [
        replace(p, in_air=p.motion == "still" and len(plans) > 1 and rng.random() < 0.35)
        for p in plans
    ]


def _pick_sequence(rng: np.random.Generator, plans: list[GroupSpec]) -> Sequence | None:
    """Maybe make one single-object group start after another; moves those two to the front."""
    firsts = [
        i for i, p in enumerate(plans) if p.count == 1 and p.motion in ("fall", "thrown", "move")
    ]
    if not firsts or rng.random() >= 0.6:
        return None
    first = int(rng.choice(firsts))
    seconds = [
        i
        for i, p in enumerate(plans)
        if i != first and p.count == 1 and p.motion in ("fall", "thrown", "move")
    ]
    if not seconds:
        return None
    second = int(rng.choice(seconds))
    rest = [p for i, p in enumerate(plans) if i not in (first, second)]
    plans[:] = [plans[first], plans[second], *rest]
    return Sequence(first=0, second=1, on_landing=plans[0].motion in ("fall", "thrown"))


def _box(shape: str, size: str, pos: tuple[float, float]) -> np.ndarray:
    left, top, right, bottom = extents(shape, size)
    return np.array([pos[0] + left, pos[1] + top, pos[0] + right, pos[1] + bottom])


def _gap(a: np.ndarray, b: np.ndarray) -> float:
    """Separation of two boxes (x0, y0, x1, y1): positive when apart, negative when overlapping."""
    return max(b[0] - a[2], a[0] - b[2], b[1] - a[3], a[1] - b[3])


class _Placer:
    """Draws start positions and velocities for objects of one candidate scene."""

    def __init__(self, rng: np.random.Generator, aspect: float, horizon: float):
        self.rng = rng
        self.width, self.height = world_extent(aspect)
        self.horizon = horizon
        self.boxes: list[np.ndarray] = []

    def _uniform_x(self, shape: str, size: str, lo: float = 0.0, hi: float = 1.0) -> float:
        left, _, right, _ = extents(shape, size)
        a, b = max(-left, lo * self.width), min(self.width - right, hi * self.width)
        return float(self.rng.uniform(a, b)) if b > a else math.nan

    def _uniform_y(self, shape: str, size: str, hi: float = 1.0) -> float:
        _, top, _, bottom = extents(shape, size)
        a, b = -top + 0.02, min(self.height - bottom, hi * self.height)
        return float(self.rng.uniform(a, b)) if b > a else math.nan

    def _ground_y(self, shape: str, size: str) -> float:
        return self.height - extents(shape, size)[3]

    def free(self, shape: str, size: str, plan: GroupSpec):
        """(position, velocity) of one object of a non-colliding group."""
        rng, m = self.rng, plan.motion
        if m == "still":
            y = self._uniform_y(shape, size, 0.55) if plan.in_air else self._ground_y(shape, size)
            return (self._uniform_x(shape, size), y), (0.0, 0.0)
        if m == "move":
            speed = float(rng.uniform(0.2, 0.45))
            dx, dy = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}[
                plan.direction
            ]
            pos = (self._uniform_x(shape, size), self._uniform_y(shape, size))
            return pos, (dx * speed, dy * speed)
        if m == "fall":
            return (self._uniform_x(shape, size), self._uniform_y(shape, size, 0.45)), (0.0, 0.0)
        # thrown: from the ground on the side it is thrown away from
        sign = 1.0 if plan.direction == "right" else -1.0
        lo, hi = (0.0, 0.4) if sign > 0 else (0.6, 1.0)
        y = self._ground_y(shape, size)
        rise = (y + extents(shape, size)[1] - 0.05) * float(rng.uniform(0.45, 0.85))
        vy = -math.sqrt(2.0 * GRAVITY * max(rise, 0.0))
        return (self._uniform_x(shape, size, lo, hi), y), (sign * float(rng.uniform(0.3, 0.6)), vy)

    def colliding_pair(self, a: tuple[str, str], b: tuple[str, str]):
        """Positions and velocities of two objects heading toward each other at one height."""
        rng = self.rng
        half = max(-extents(*a)[1], extents(*a)[3], -extents(*b)[1], extents(*b)[3])
        y = float(rng.uniform(half + 0.02, self.height - half))
        xa = self._uniform_x(*a, 0.0, 0.35)
        xb = self._uniform_x(*b, 0.65, 1.0)
        va, vb = float(rng.uniform(0.3, 0.6)), float(rng.uniform(0.3, 0.6))
        return [((xa, y), (va, 0.0)), ((xb, y), (-vb, 0.0))]

    def fits(self, shape: str, size: str, pos: tuple[float, float]) -> bool:
        if any(math.isnan(p) for p in pos):
            return False
        box = _box(shape, size, pos)
        inside = box[0] >= 0 and box[1] >= 0 and box[2] <= self.width and box[3] <= self.height
        return inside and all(_gap(box, other) >= START_GAP for other in self.boxes)

    def accept(self, shape: str, size: str, pos: tuple[float, float]) -> None:
        self.boxes.append(_box(shape, size, pos))


def _place(
    rng: np.random.Generator, aspect: float, horizon: float, plans: list[GroupSpec]
) -> tuple[list[WorldObject], list[Group]] | None:
    fixed = {(p.colour, p.shape) for p in plans}
    combos = [(c, s) for c in COLOURS for s in SHAPES if (c, s) not in fixed]
    picks = rng.choice(len(combos), size=len(plans), replace=False)
    placer = _Placer(rng, aspect, horizon)
    objects: list[WorldObject] = []
    groups: list[Group] = []
    for g, plan in enumerate(plans):
        colour, shape = combos[picks[g]]
        colour, shape = plan.colour or colour, plan.shape or shape
        size = plan.size or str(rng.choice(tuple(SIZES)))
        groups.append(
            Group(colour, shape, size, plan.motion, plan.direction, plan.count, plan.in_air)
        )
    if len({(g.colour, g.shape) for g in groups}) < len(groups):
        return None  # a partly specified group came out the same as another: ambiguous caption
    g = 0
    while g < len(plans):
        plan, group = plans[g], groups[g]
        for _ in range(plan.count):
            for _attempt in range(30):
                if plan.motion == "collide":
                    other = groups[g + 1]
                    cands = placer.colliding_pair(
                        (group.shape, group.size), (other.shape, other.size)
                    )
                    members = [(group, g, cands[0]), (other, g + 1, cands[1])]
                else:
                    members = [(group, g, placer.free(group.shape, group.size, plan))]
                if all(placer.fits(m.shape, m.size, pv[0]) for m, _, pv in members):
                    break
            else:
                return None
            for m, gi, (pos, vel) in members:
                placer.accept(m.shape, m.size, pos)
                objects.append(
                    WorldObject(
                        m.colour,
                        m.shape,
                        m.size,
                        m.motion,
                        m.direction,
                        position=pos,
                        velocity=vel,
                        group=gi,
                        in_air=m.in_air,
                    )
                )
        g += 2 if plan.motion == "collide" else 1
    return objects, groups


def _apply_sequence(
    rng: np.random.Generator, objects: list[WorldObject], seq: Sequence | None
) -> list[WorldObject]:
    if seq is None:
        return objects
    first = next(i for i, o in enumerate(objects) if o.group == seq.first)
    out = []
    for o in objects:
        if o.group == seq.second:
            if seq.on_landing:
                o = replace(o, trigger=first, delay=0.0)
            else:
                o = replace(o, delay=float(rng.uniform(0.4, 1.0)))
        out.append(o)
    return out


def _boxes_over_time(scene: Scene, traj: Trajectory) -> np.ndarray:
    """(S, N, 4) boxes of every object at every internal step."""
    offsets = np.array([extents(o.shape, o.size) for o in scene.objects])  # (N, 4)
    xy = np.concatenate([traj.positions, traj.positions], axis=-1)  # (S, N, 4) as x, y, x, y
    return xy + offsets[None]


def _valid(scene: Scene, traj: Trajectory, horizon: float) -> bool:
    width, height = scene.extent
    boxes = _boxes_over_time(scene, traj)
    tol = PENETRATION_TOL
    if (boxes[..., :2] < -tol).any() or (boxes[..., 2] > width + tol).any():
        return False
    if (boxes[..., 3] > height + tol).any():
        return False
    n = len(scene.objects)
    for i in range(n):
        for j in range(i + 1, n):
            oi, oj = scene.objects[i], scene.objects[j]
            if oi.motion == "collide" and oj.motion == "collide":
                continue
            a, b = boxes[:, i], boxes[:, j]
            gap = np.max(
                np.stack(
                    [b[:, 0] - a[:, 2], a[:, 0] - b[:, 2], b[:, 1] - a[:, 3], a[:, 1] - b[:, 3]]
                ),
                axis=0,
            )
            if gap.min() < RUN_GAP:
                return False
    colliders = [i for i, o in enumerate(scene.objects) if o.motion == "collide"]
    if colliders and not (traj.velocities[:, colliders[0], 0] < 0).any():
        return False  # the pair never met within the horizon
    late = horizon - 0.3
    return bool((traj.start_times[np.isfinite(traj.start_times)] <= late).all()) and bool(
        np.isfinite(traj.start_times).all()
    )


def _relation_words(scene: Scene, a: int, b: int) -> list[tuple[str, float]]:
    """Relations that hold for every member pair of groups a and b, with their clearance."""
    pa = np.array([scene.objects[i].position for i in scene.members(a)])
    pb = np.array([scene.objects[i].position for i in scene.members(b)])
    dx = pb[None, :, 0] - pa[:, None, 0]  # > 0: a is left of b
    dy = pb[None, :, 1] - pa[:, None, 1]  # > 0: a is above b (y down)
    clear = {
        "left of": dx.min(),
        "right of": (-dx).min(),
        "above": dy.min(),
        "below": (-dy).min(),
    }
    return [(w, float(c)) for w, c in clear.items() if c > RELATION_MARGIN]


def _pick_relations(
    rng: np.random.Generator, scene: Scene, extra: bool = True
) -> tuple[Relation, ...] | None:
    """Relations for the caption: one 'above' for each object fixed in the air (None if one has
    nothing below it), then, if `extra`, random true relations up to two in all."""
    n = len(scene.groups)
    chosen: list[Relation] = []
    for g, group in enumerate(scene.groups):
        if group.in_air:
            below = [
                (c, h)
                for h in range(n)
                if h != g
                for w, c in _relation_words(scene, g, h)
                if w == "above"
            ]
            if not below:
                return None
            chosen.append(Relation(g, "above", max(below)[1]))
    pairs = [(a, b) for a in range(n) for b in range(a + 1, n)] if extra else []
    rng.shuffle(pairs)
    for a, b in pairs:
        if len(chosen) >= 2 or rng.random() < 0.3:
            break
        words = _relation_words(scene, a, b)
        if words and not any({r.subject, r.object} == {a, b} for r in chosen):
            word = max(words, key=lambda wc: wc[1])[0]
            chosen.append(
                Relation(a, word, b) if rng.random() < 0.5 else _flip(Relation(a, word, b))
            )
    return tuple(chosen)


def _flip(rel: Relation) -> Relation:
    opposite = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}
    return Relation(rel.object, opposite[rel.word], rel.subject)


def _spec_relations(scene: Scene, spec: SceneSpec) -> tuple[Relation, ...] | None:
    """The relations a constrained scene states: the required ones and those of objects fixed
    in the air; None if a required relation does not hold."""
    in_air = _pick_relations(np.random.default_rng(0), scene, extra=False)  # draws nothing
    if in_air is None:
        return None
    chosen = list(in_air)
    for k, rel in enumerate(spec.required):
        if rel.word not in {w for w, _ in _relation_words(scene, rel.subject, rel.object)}:
            return None
        chosen = [r for r in chosen if {r.subject, r.object} != {rel.subject, rel.object}]
        chosen.insert(k, rel)
    return tuple(chosen)


def sample_scene(
    seed: int, aspect: float = 1.0, duration: float = 2.0, spec: SceneSpec | None = None
) -> tuple[Scene, Trajectory]:
    """A random valid scene for a canvas of `aspect` (width / height) and `duration` seconds,
    with its simulation over `max(duration, MIN_HORIZON)` seconds. With `spec`, the scene has
    exactly the specified groups (their unspecified fields sampled) and relation."""
    rng = np.random.default_rng(seed)
    horizon = max(duration, MIN_HORIZON)
    n_objects = int(rng.integers(1, 5))
    for attempt in range(MAX_TRIES):
        if spec is None:
            # Crowded canvases may not fit four movers: ask for fewer after many failures.
            plans = _plan_groups(rng, max(1, n_objects - attempt // 80))
            seq = _pick_sequence(rng, plans)
        else:
            plans, seq = list(spec.groups), spec.sequence
        placed = _place(rng, aspect, horizon, plans)
        if placed is None:
            continue
        objects, groups = placed
        objects = _apply_sequence(rng, objects, seq)
        scene = Scene(
            aspect=aspect,
            duration=duration,
            gravity=GRAVITY,
            restitution=float(rng.uniform(0.5, 0.9)),
            seed=seed,
            objects=tuple(objects),
            groups=tuple(groups),
            relations=(),
            sequence=seq,
        )
        trajectory = simulate(scene, horizon)
        if not _valid(scene, trajectory, horizon):
            continue
        relations = _pick_relations(rng, scene) if spec is None else _spec_relations(scene, spec)
        if relations is not None:
            return replace(scene, relations=relations), trajectory
    raise SceneSamplingError(
        f"no valid scene after {MAX_TRIES} tries (seed {seed}, aspect {aspect:.3f}): "
        "the canvas is too narrow for the world's objects, or the spec cannot be met"
    )
