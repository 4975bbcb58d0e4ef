"""Captions from scene graphs, through templates and synonyms.

Each caption names every group (count, colour, optional size, shape, motion), the relations the
scene graph chose, and the order of events. The template split decides which phrasings are used:
"heldout" phrasings never appear in training captions.
"""

from __future__ import annotations

import numpy as np

from sorakit.world.physics import Trajectory
from sorakit.world.scene import Group, Scene
from sorakit.world.vocab import (
    COUNT_WORDS,
    LAND_PHRASES,
    MOTION_PHRASES,
    RELATION_WORDS,
    SHAPE_PLURALS,
    SHAPE_WORDS,
    SIZE_WORDS,
    SPLITS,
    TEMPLATES,
)


class _Namer:
    """Chooses, once per caption, how each group is named, so later mentions agree."""

    def __init__(self, scene: Scene, rng: np.random.Generator):
        self.rng = rng
        self.words: list[tuple[str, str | None]] = []  # (shape word, size word or None)
        for g in scene.groups:
            shape = str(rng.choice(SHAPE_WORDS[g.shape]))
            size = str(rng.choice(SIZE_WORDS[g.size])) if rng.random() < 0.5 else None
            self.words.append((shape, size))

    def noun_phrase(self, group: Group, index: int, definite: bool = False) -> str:
        shape, size = self.words[index]
        noun = SHAPE_PLURALS[shape] if group.count > 1 else shape
        body = " ".join(w for w in (size, group.colour, noun) if w)
        if definite:
            return f"the {body}"
        det = str(self.rng.choice(COUNT_WORDS[group.count]))
        if det == "a" and body[0] in "aeiou":
            det = "an"
        return f"{det} {body}"


def _be(group: Group) -> str:
    return "are" if group.count > 1 else "is"


def _verb_phrase(group: Group, bounces: bool, rng: np.random.Generator) -> str:
    key = group.motion
    if key == "still":
        key = "still_air" if group.in_air else "still_ground"
    elif key == "fall" and bounces:
        key = "fall_bounce"
    singular, plural = MOTION_PHRASES[key][rng.integers(len(MOTION_PHRASES[key]))]
    phrase = plural if group.count > 1 else singular
    return phrase.format(d=group.direction)


class _Captioner:
    def __init__(self, scene: Scene, trajectory: Trajectory, rng: np.random.Generator, split: str):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        self.scene, self.rng, self.split = scene, rng, split
        self.namer = _Namer(scene, rng)
        # "bounces" is only said of groups whose every member lands within the clip.
        landed = trajectory.first_landing < scene.duration - 0.1
        self.bounces = [
            bool(all(landed[i] for i in scene.members(g))) for g in range(len(scene.groups))
        ]

    def _template(self, kind: str) -> str:
        options = TEMPLATES[kind][self.split]
        return options[self.rng.integers(len(options))]

    def group_clause(self, g: int) -> str:
        group = self.scene.groups[g]
        return self._template("object").format(
            np=self.namer.noun_phrase(group, g),
            vp=_verb_phrase(group, self.bounces[g], self.rng),
            be=_be(group),
        )

    def collide_clause(self, g: int) -> str:
        a, b = self.scene.groups[g], self.scene.groups[g + 1]
        return self._template("collide").format(
            a=self.namer.noun_phrase(a, g), b=self.namer.noun_phrase(b, g + 1)
        )

    def sequence_clause(self) -> str:
        seq = self.scene.sequence
        x, y = self.group_clause(seq.first), self.group_clause(seq.second)
        if seq.on_landing and self.rng.random() < 0.5:
            first = self.scene.groups[seq.first]
            return self._template("sequence_land").format(
                x=x,
                y=y,
                a=self.namer.noun_phrase(first, seq.first, definite=True),
                event=str(self.rng.choice(LAND_PHRASES)),
            )
        return self._template("sequence").format(x=x, y=y)

    def relation_clause(self, subject: int, word: str, obj: int) -> str:
        a, b = self.scene.groups[subject], self.scene.groups[obj]
        return self._template("relation").format(
            a=self.namer.noun_phrase(a, subject, definite=True),
            b=self.namer.noun_phrase(b, obj, definite=True),
            rel=str(self.rng.choice(RELATION_WORDS[word])),
            be=_be(a),
        )

    def caption(self) -> str:
        scene, clauses = self.scene, []
        g = 0
        if scene.sequence is not None:  # sampling puts the sequence's groups first
            clauses.append(self.sequence_clause())
            g = 2
        while g < len(scene.groups):
            if scene.groups[g].motion == "collide":
                clauses.append(self.collide_clause(g))
                g += 2
            else:
                clauses.append(self.group_clause(g))
                g += 1
        clauses += [self.relation_clause(r.subject, r.word, r.object) for r in scene.relations]
        return " ".join(c[0].upper() + c[1:] + "." for c in clauses)


def make_caption(scene: Scene, trajectory: Trajectory, seed: int, split: str = "train") -> str:
    """A caption of `scene` in the phrasings of `split`; the same seed gives the same caption."""
    rng = np.random.default_rng([seed, SPLITS.index(split) if split in SPLITS else 99])
    return _Captioner(scene, trajectory, rng, split).caption()
