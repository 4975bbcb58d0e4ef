"""Prompt suites with known answers, built from the world's own scenes.

Every item is a constrained world scene (`SceneSpec`) whose caption is the prompt, so the expected
facts (colours, shapes, counts, relations, motions, gravity) are exact. Items are re-derived from
(suite, category, split, index): a suite is a pure function of its name and size.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from sorakit.world.captions import make_caption
from sorakit.world.clip import clip_duration, frame_times
from sorakit.world.events import directions_hold, event_visible
from sorakit.world.physics import Trajectory
from sorakit.world.sampling import GroupSpec, SceneSpec, sample_scene
from sorakit.world.scene import Relation, Scene
from sorakit.world.vocab import (
    COLOURS,
    MOVE_DIRECTIONS,
    RELATIONS,
    SHAPES,
    SPLITS,
    THROW_DIRECTIONS,
)

# Categories with their own prompts.
PROMPT_CATEGORIES: tuple[str, ...] = (
    "colour",
    "shape",
    "count",
    "relation",
    "binding",
    "motion",
    "gravity",
    "throw",
    "collision",
)
# Categories judged on every video of the suite.
VIDEO_CATEGORIES: tuple[str, ...] = ("no_extra", "permanence", "flicker", "smoothness")
CATEGORIES = PROMPT_CATEGORIES + VIDEO_CATEGORIES

# Public benchmarks' names for the same measurements, for the report.
BENCHMARK_NAMES: dict[str, str] = {
    "colour": "VBench: color",
    "shape": "VBench: object class",
    "count": "T2V-CompBench: generative numeracy",
    "relation": "VBench: spatial relationship; T2V-CompBench: spatial relationships",
    "binding": "T2V-CompBench: consistent attribute binding",
    "motion": "T2V-CompBench: motion binding",
    "gravity": "PhyGenBench / Physics-IQ: mechanics (free fall)",
    "throw": "PhyGenBench: mechanics (projectile)",
    "collision": "PhyGenBench: mechanics (collision); T2V-CompBench: object interactions",
    "no_extra": "VBench: multiple objects (no hallucinated objects)",
    "permanence": "VBench: subject consistency",
    "flicker": "VBench: temporal flickering",
    "smoothness": "VBench: motion smoothness",
}


@dataclass(frozen=True)
class SuiteConfig:
    name: str
    width: int
    height: int
    fps: float
    num_frames: int
    per_category: int  # items per category and split
    continuation: int = 12  # held-out clips for the continuation test
    context_frames: int = 5  # frames given to the model in the continuation test


SUITES: dict[str, SuiteConfig] = {
    "default": SuiteConfig("default", 64, 64, 8.0, 17, 8),
    "quick": SuiteConfig("quick", 64, 64, 8.0, 17, 2, continuation=4),
    "wide": SuiteConfig("wide", 96, 64, 8.0, 17, 8),
    "fine": SuiteConfig("fine", 128, 128, 24.0, 49, 8, context_frames=13),
    # Twice the default model's size and frame rate: what its cascade refiners are for.
    "cascade": SuiteConfig("cascade", 128, 128, 16.0, 17, 2, continuation=4),
    # The default's size and length at twice its frame rate: the temporal refiner alone.
    "cascade-temporal": SuiteConfig(
        "cascade-temporal", 64, 64, 16.0, 33, 2, continuation=4, context_frames=9
    ),
}


@dataclass(frozen=True)
class SuiteItem:
    id: str
    category: str
    split: str
    seed: int
    spec: SceneSpec
    width: int
    height: int
    fps: float
    num_frames: int

    @cached_property
    def simulated(self) -> tuple[Scene, Trajectory]:
        return sample_scene(self.seed, self.width / self.height, self.duration, self.spec)

    @property
    def scene(self) -> Scene:
        return self.simulated[0]

    @property
    def duration(self) -> float:
        return clip_duration(self.fps, self.num_frames)

    @cached_property
    def prompt(self) -> str:
        scene, trajectory = self.simulated
        return make_caption(scene, trajectory, self.seed, self.split)

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "category": self.category,
            "split": self.split,
            "seed": self.seed,
            "prompt": self.prompt,
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
            "num_frames": self.num_frames,
        }


def _distinct_colours(rng: np.random.Generator, n: int) -> list[str]:
    return [COLOURS[i] for i in rng.permutation(len(COLOURS))[:n]]


def _spec(category: str, i: int, rng: np.random.Generator) -> SceneSpec:
    """The i-th scene spec of a category: values cycle so every colour, shape, count,
    relation word and direction is asked for."""
    if category == "colour":
        return SceneSpec((GroupSpec("still", colour=COLOURS[i % len(COLOURS)]),))
    if category == "shape":
        return SceneSpec((GroupSpec("still", shape=SHAPES[i % len(SHAPES)]),))
    if category == "count":
        count = 1 + i % 4
        return SceneSpec((GroupSpec("still", count=count, size="small" if count > 2 else None),))
    if category == "relation":
        word = RELATIONS[i % len(RELATIONS)]
        a, b = _distinct_colours(rng, 2)
        lifted = {"above": (True, False), "below": (False, True)}.get(word, (False, False))
        groups = (
            GroupSpec("still", colour=a, in_air=lifted[0]),
            GroupSpec("still", colour=b, in_air=lifted[1]),
        )
        return SceneSpec(groups, Relation(0, word, 1))
    if category == "binding":
        n = 2 + i % 3
        colours = _distinct_colours(rng, n)
        # Every shape once, then repeats: four objects cannot all differ in shape.
        shapes = [SHAPES[k] for k in rng.permutation(len(SHAPES))] + [str(rng.choice(SHAPES))]
        return SceneSpec(
            tuple(
                GroupSpec("still", colour=c, shape=s, size="small")
                for c, s in zip(colours, shapes[:n], strict=True)
            )
        )
    if category == "motion":
        return SceneSpec((GroupSpec("move", direction=MOVE_DIRECTIONS[i % 4]),))
    if category == "gravity":
        return SceneSpec((GroupSpec("fall"),))
    if category == "throw":
        return SceneSpec((GroupSpec("thrown", direction=THROW_DIRECTIONS[i % 2]),))
    if category == "collision":
        a, b = _distinct_colours(rng, 2)
        return SceneSpec((GroupSpec("collide", colour=a), GroupSpec("collide", colour=b)))
    raise ValueError(f"unknown category {category!r}")


def _observable(category: str, item: SuiteItem) -> bool:
    """Whether the prompted fact can be seen in the clip (`sorakit.world.events`: the
    prompted object's motion, which is the first object's; a mover keeps its direction)."""
    motion = {"motion": "move", "gravity": "fall", "throw": "thrown", "collision": "collide"}
    if category not in motion:
        return True
    scene, traj = item.simulated
    times = frame_times(item.fps, item.num_frames)
    visible = event_visible(motion[category], traj, 0, times)
    # A mover's verdict reads the whole clip: its truth must keep the asked direction too.
    return visible and (category != "motion" or directions_hold(scene, traj, times))


def _item_seed(suite: str, category: str, split: str, index: int, attempt: int) -> int:
    key = [zlib.crc32(f"{suite}/{category}/{split}".encode()), index, attempt]
    return int(np.random.SeedSequence(key).generate_state(1)[0] & 0x7FFFFFFF)


def build_suite(
    config: SuiteConfig,
    categories: tuple[str, ...] = PROMPT_CATEGORIES,
    splits: tuple[str, ...] = SPLITS,
) -> list[SuiteItem]:
    """Every item of the suite, in category, split, index order."""
    items = []
    for category in categories:
        for split in splits:
            for i in range(config.per_category):
                items.append(_make_item(config, category, split, i))
    return items


def _make_item(config: SuiteConfig, category: str, split: str, i: int) -> SuiteItem:
    for attempt in range(50):
        seed = _item_seed(config.name, category, split, i, attempt)
        rng = np.random.default_rng(seed)
        item = SuiteItem(
            id=f"{category}-{split}-{i:03d}",
            category=category,
            split=split,
            seed=seed,
            spec=_spec(category, i, rng),
            width=config.width,
            height=config.height,
            fps=config.fps,
            num_frames=config.num_frames,
        )
        if _observable(category, item):
            return item
    raise RuntimeError(f"no observable scene for {category} item {i} of suite {config.name}")


@dataclass(frozen=True)
class ContinuationItem:
    """A held-out clip whose first `context_frames` frames are given and the rest predicted."""

    item: SuiteItem
    context_frames: int


_CONTINUATION_SPECS: tuple[Callable[[np.random.Generator], SceneSpec], ...] = (
    lambda rng: SceneSpec((GroupSpec("fall", colour=_distinct_colours(rng, 1)[0]),)),
    lambda rng: SceneSpec(
        (
            GroupSpec(
                "thrown",
                direction=str(rng.choice(THROW_DIRECTIONS)),
                colour=_distinct_colours(rng, 1)[0],
            ),
        )
    ),
    lambda rng: SceneSpec(tuple(GroupSpec("collide", colour=c) for c in _distinct_colours(rng, 2))),
    lambda rng: SceneSpec(
        tuple(
            GroupSpec("move", direction=str(rng.choice(MOVE_DIRECTIONS)), colour=c)
            for c in _distinct_colours(rng, 2)
        )
    ),
)


def build_continuation(config: SuiteConfig) -> list[ContinuationItem]:
    """Held-out clips of falls, throws, collisions and movers (captions in held-out phrasing)."""
    items = []
    for i in range(config.continuation):
        seed = _item_seed(config.name, "continuation", "heldout", i, 0)
        rng = np.random.default_rng(seed)
        spec = _CONTINUATION_SPECS[i % len(_CONTINUATION_SPECS)](rng)
        item = SuiteItem(
            id=f"continuation-{i:03d}",
            category="continuation",
            split="heldout",
            seed=seed,
            spec=spec,
            width=config.width,
            height=config.height,
            fps=config.fps,
            num_frames=config.num_frames,
        )
        items.append(ContinuationItem(item, config.context_frames))
    return items


@dataclass
class Expected:
    """What a video of an item must show, from its scene."""

    counts: dict[str, int] = field(default_factory=dict)  # colour -> number of objects
    shapes: dict[str, str] = field(default_factory=dict)  # colour -> shape (groups of one colour)


def expected_facts(scene: Scene) -> Expected:
    exp = Expected()
    for g in scene.groups:
        exp.counts[g.colour] = exp.counts.get(g.colour, 0) + g.count
        exp.shapes[g.colour] = g.shape
    return exp
