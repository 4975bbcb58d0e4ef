"""The world's fixed vocabulary: palette, shapes, sizes, motions and the words captions use.

Everything here is part of the contract in WORLD.md (palette RGB values, sizes, motion words);
tools outside the package rely on it, so change nothing without changing the contract.
"""

from __future__ import annotations

import re

BACKGROUND: tuple[int, int, int] = (20, 20, 24)

PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (230, 40, 40),
    "orange": (245, 140, 30),
    "yellow": (240, 210, 40),
    "green": (40, 190, 70),
    "cyan": (40, 210, 220),
    "blue": (50, 90, 235),
    "purple": (160, 70, 210),
    "white": (235, 235, 235),
}
COLOURS: tuple[str, ...] = tuple(PALETTE)

SHAPES: tuple[str, ...] = ("circle", "square", "triangle")

# Diameter (circle) or side (square, triangle), as a fraction of the shorter canvas side.
SIZES: dict[str, float] = {"small": 0.12, "large": 0.22}

# Motion kinds of the simulation. "move" and "thrown" carry a direction.
MOTIONS: tuple[str, ...] = ("still", "move", "fall", "thrown", "collide")
MOVE_DIRECTIONS: tuple[str, ...] = ("left", "right", "up", "down")
THROW_DIRECTIONS: tuple[str, ...] = ("left", "right")

RELATIONS: tuple[str, ...] = ("left of", "right of", "above", "below")

# Words captions may use for each concept; the first one is the canonical name.
SHAPE_WORDS: dict[str, tuple[str, ...]] = {
    "circle": ("circle", "ball", "disc"),
    "square": ("square", "box", "block"),
    "triangle": ("triangle",),
}
SHAPE_PLURALS: dict[str, str] = {
    "circle": "circles",
    "ball": "balls",
    "disc": "discs",
    "square": "squares",
    "box": "boxes",
    "block": "blocks",
    "triangle": "triangles",
}
SIZE_WORDS: dict[str, tuple[str, ...]] = {"small": ("small", "little"), "large": ("large", "big")}
COUNT_WORDS: dict[int, tuple[str, ...]] = {
    1: ("a", "one"),
    2: ("two",),
    3: ("three",),
    4: ("four",),
}
MAX_OBJECTS = max(COUNT_WORDS)  # the most objects a world scene holds
RELATION_WORDS: dict[str, tuple[str, ...]] = {
    "left of": ("left of", "to the left of"),
    "right of": ("right of", "to the right of"),
    "above": ("above", "over"),
    "below": ("below", "under", "beneath"),
}
TEMPORAL_WORDS: tuple[str, ...] = ("then", "after", "before", "once")

# Verb phrases as (singular, plural). "{d}" is replaced by a direction word.
MOTION_PHRASES: dict[str, tuple[tuple[str, str], ...]] = {
    "still_ground": (
        ("stays still", "stay still"),
        ("rests on the ground", "rest on the ground"),
        ("sits on the ground", "sit on the ground"),
    ),
    "still_air": (("stays still", "stay still"), ("rests", "rest"), ("hangs still", "hang still")),
    "move": (("moves {d}", "move {d}"), ("slides {d}", "slide {d}"), ("floats {d}", "float {d}")),
    "fall": (("falls", "fall"), ("drops", "drop")),
    "fall_bounce": (
        ("falls and bounces", "fall and bounce"),
        ("drops and bounces", "drop and bounce"),
    ),
    "thrown": (
        ("is thrown to the {d}", "are thrown to the {d}"),
        ("gets thrown to the {d}", "get thrown to the {d}"),
        ("is tossed to the {d}", "are tossed to the {d}"),
    ),
}
LAND_PHRASES: tuple[str, ...] = ("lands", "hits the ground", "touches the ground")

# Caption templates. Placeholders: {np} noun phrase, {vp} verb phrase, {be} is/are,
# {a}/{b} noun phrases, {rel} relation words, {x}/{y} whole clauses, {event} a landing phrase.
# The "heldout" split is never used for training, to test generalisation to new phrasings.
TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "object": {
        "train": ("{np} {vp}", "there {be} {np} that {vp}", "we see {np} that {vp}"),
        "heldout": ("in this video {np} {vp}", "the scene shows {np} that {vp}"),
    },
    "collide": {
        "train": ("{a} and {b} collide", "{a} and {b} bump into each other"),
        "heldout": ("{a} collides with {b}", "{a} bumps into {b}"),
    },
    "relation": {
        "train": ("{a} {be} {rel} {b}", "{a} {be} located {rel} {b}"),
        "heldout": ("{a} {be} placed {rel} {b}", "you can find {a} {rel} {b}"),
    },
    "sequence": {
        "train": ("{x}, then {y}", "{x}, and then {y}", "{x} before {y}"),
        "heldout": ("{x}; after that, {y}",),
    },
    "sequence_land": {
        "train": ("{x}, and after {a} {event}, {y}",),
        "heldout": ("{x}; once {a} {event}, {y}",),
    },
}
SPLITS: tuple[str, ...] = ("train", "heldout")

_WORD = re.compile(r"[a-z]+")


def words_of(text: str) -> list[str]:
    """Lower-case words of a caption, punctuation dropped."""
    return _WORD.findall(text.lower())


def vocabulary() -> tuple[str, ...]:
    """Every word any caption of any split can contain, sorted."""
    parts: list[str] = ["the", "is", "are", "an", *COLOURS, *MOVE_DIRECTIONS, *TEMPORAL_WORDS]
    parts += [w for ws in SHAPE_WORDS.values() for w in ws] + list(SHAPE_PLURALS.values())
    parts += [w for ws in SIZE_WORDS.values() for w in ws]
    parts += [w for ws in COUNT_WORDS.values() for w in ws]
    parts += [w for ws in RELATION_WORDS.values() for w in ws]
    parts += [p for pairs in MOTION_PHRASES.values() for pair in pairs for p in pair]
    parts += list(LAND_PHRASES)
    parts += [t for kinds in TEMPLATES.values() for ts in kinds.values() for t in ts]
    words = {w for part in parts for w in words_of(re.sub(r"\{\w+\}", " ", part))}
    return tuple(sorted(words))
