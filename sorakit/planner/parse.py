"""From a prompt to a scene graph over the world's vocabulary.

The parser reads the language of the world's captions (WORLD.md) and plain variations of it:
noun phrases `[count] [size] [colour] [size] shape`, each followed by its motion ("falls",
"moves left", "is thrown to the right", "rests on the ground"), collisions ("A and B collide",
"A bumps into B"), relations between named objects ("the red ball is left of the blue box") and
the order of events ("..., then ...", "... before ...", "after the ball lands, ...").

Words outside the vocabulary are first mapped to the nearest known word by the text encoder's
embeddings (`Substituter`); what still cannot be placed is reported in `Parse.unplaced`, never
silently dropped. Unstated attributes stay None and are sampled by the planner.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from sorakit.world.sampling import GroupSpec
from sorakit.world.scene import Relation, Sequence
from sorakit.world.vocab import (
    COLOURS,
    COUNT_WORDS,
    MOVE_DIRECTIONS,
    SHAPE_PLURALS,
    SHAPE_WORDS,
    SIZE_WORDS,
    vocabulary,
)

_TOKEN = re.compile(r"[a-z]+|[.,;!?]")
_COUNTS = {w: n for n, ws in COUNT_WORDS.items() for w in ws} | {"an": 1}
_SIZES = {w: s for s, ws in SIZE_WORDS.items() for w in ws}
_SHAPES = {w: s for s, ws in SHAPE_WORDS.items() for w in ws}
_PLURALS = {plural: _SHAPES[singular] for singular, plural in SHAPE_PLURALS.items()}
_STILL = {"stays", "stay", "rests", "rest", "sits", "sit", "hangs", "hang"}
_MOVE = {"moves", "move", "slides", "slide", "floats", "float"}
_FALL = {"falls", "fall", "drops", "drop"}
_THROW = {"thrown", "tossed"}
_COLLIDE = {"collide", "collides", "bump", "bumps"}
_LAND = {"lands", "land", "hits", "touches"}
_RELATIONS = {"above": "above", "over": "above", "below": "below", "under": "below",
              "beneath": "below"}  # fmt: skip
_IN_AIR = {"hangs", "hang", "rests", "rest"}
_THEN = {"then", "before"}
_AFTER = {"after", "once"}
# Words that carry no scene content: templates, articles, copulas, connectives.
_FILLER = {"the", "is", "are", "and", "there", "we", "see", "that", "in", "this", "video",
           "scene", "shows", "you", "can", "find", "located", "placed", "to", "of", "on",
           "ground", "each", "other", "with", "into", "it", "they", "bounces", "bounce",
           "gets", "get", "still", "a", "an", "then", "also", "while"}  # fmt: skip
# The words a prompt may use that the parser understands; others go to the Substituter.
KNOWN: frozenset[str] = frozenset(
    set(vocabulary()) | _FILLER | set(_COUNTS) | set(_SIZES) | set(_SHAPES) | set(_PLURALS)
    | _STILL | _MOVE | _FALL | _THROW | _COLLIDE | _LAND | set(_RELATIONS) | set(COLOURS)
    | {"left", "right", "up", "down", "falling", "moving", "resting"}
)  # fmt: skip


@dataclass
class Parse:
    """A prompt's scene graph: groups (GroupSpec, None fields unstated), relations and order
    of events between group indices, and what could not be understood."""

    prompt: str
    groups: list[GroupSpec] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    sequence: Sequence | None = None
    unplaced: list[str] = field(default_factory=list)  # words or problems, in prompt order
    substitutions: dict[str, str] = field(default_factory=dict)  # unknown word -> known word
    assumed: list[str] = field(default_factory=list)  # defaults the parser had to choose

    @property
    def understood(self) -> bool:
        """Whether every part of the prompt was placed in the scene graph."""
        return bool(self.groups) and not self.unplaced


class _Parser:
    def __init__(self, tokens: list[str], result: Parse):
        self.tokens, self.out = tokens, result
        self.motion: dict[int, tuple[str, str | None, bool | None]] = {}
        self.pending_then = False  # "then"/"before" seen: the next motion starts second
        self.after_group: int | None = None  # "after X lands": X's group starts first
        self.last_mover: int | None = None

    # --- noun phrases ---
    def noun_phrase(self, i: int) -> tuple[dict, int] | None:
        """The noun phrase starting at token i: its attributes and the index after it."""
        attrs: dict = {"definite": False, "count": None, "size": None, "colour": None}
        j = i
        if j < len(self.tokens) and self.tokens[j] == "the":
            attrs["definite"], j = True, j + 1
        elif j < len(self.tokens) and self.tokens[j] in _COUNTS:
            attrs["count"], j = _COUNTS[self.tokens[j]], j + 1
        while j < len(self.tokens) and (self.tokens[j] in _SIZES or self.tokens[j] in COLOURS):
            key = "size" if self.tokens[j] in _SIZES else "colour"
            attrs[key] = _SIZES.get(self.tokens[j], self.tokens[j])
            j += 1
        if j < len(self.tokens) and (self.tokens[j] in _SHAPES or self.tokens[j] in _PLURALS):
            word = self.tokens[j]
            attrs["shape"], attrs["plural"] = _SHAPES.get(word) or _PLURALS[word], word in _PLURALS
            return attrs, j + 1
        return None

    def group_of(self, attrs: dict) -> int:
        """The group a noun phrase names: an earlier one for 'the ...' (or a repeated
        description), else a new one."""
        groups = self.out.groups
        for g, spec in enumerate(groups):
            same = all(
                attrs[k] is None or getattr(spec, k) == attrs[k]
                for k in ("colour", "shape", "size")
            )
            repeated = attrs["colour"] is not None and spec.colour == attrs["colour"]
            if same and (attrs["definite"] or repeated):
                return g
        count = attrs["count"] or (2 if attrs["plural"] else 1)
        if attrs["definite"]:
            self.out.assumed.append(f"'the {attrs['shape']}' names nothing earlier: a new group")
        groups.append(
            GroupSpec("still", count=count, colour=attrs["colour"], shape=attrs["shape"],
                      size=attrs["size"])
        )  # fmt: skip
        return len(groups) - 1

    # --- clauses ---
    def run(self) -> None:
        subjects: list[int] = []  # groups named since the last verb
        i, tokens = 0, self.tokens
        while i < len(tokens):
            word = tokens[i]
            np = self.noun_phrase(i)
            if np is not None:
                g = self.group_of(np[0])
                if self.after_group is None and i > 0 and tokens[i - 1] in _AFTER:
                    self.after_group = g
                else:
                    subjects.append(g)
                i = np[1]
                continue
            if word in _STILL or word in _MOVE or word in _FALL or word in _THROW:
                i = self.motion_phrase(i, subjects)
                subjects = []
                continue
            if word in _COLLIDE:
                i = self.collide(i, subjects)
                subjects = []
                continue
            if word in _LAND and self.after_group is not None:
                i += 1
                continue
            if word in _RELATIONS or (word in ("left", "right") and self.next_is(i, "of")):
                i = self.relation(i, subjects)
                subjects = []
                continue
            if word in _THEN or (word in _AFTER and self.next_is(i, "that")):
                self.pending_then = True
            elif word in ".;!?":
                subjects = []
            elif word == ",":
                pass
            elif word not in KNOWN:
                self.out.unplaced.append(word)
            i += 1
        for g in subjects:
            if g not in self.motion:
                self.out.assumed.append(f"group {g} has no motion: it stays still")

    def next_is(self, i: int, word: str) -> bool:
        return i + 1 < len(self.tokens) and self.tokens[i + 1] == word

    def direction_after(self, i: int) -> str | None:
        for w in self.tokens[i + 1 : i + 4]:
            if w in MOVE_DIRECTIONS:
                return w
        return None

    def motion_phrase(self, i: int, subjects: list[int]) -> int:
        word, tokens = self.tokens[i], self.tokens
        direction, in_air, end = None, None, i + 1
        if word in _STILL:
            motion = "still"
            on_ground = "ground" in tokens[i + 1 : i + 4]
            # "hangs" or a bare "rests" is in the air; "stays still" is decided by the relations.
            in_air = False if on_ground else (True if word in _IN_AIR else None)
        elif word in _FALL:
            motion = "fall"
        else:
            motion = "move" if word in _MOVE else "thrown"
            direction = self.direction_after(i)
            if direction is None or (motion == "thrown" and direction not in ("left", "right")):
                self.out.unplaced.append(f"{word} (no direction)")
                return end
            end = tokens.index(direction, i + 1) + 1
        if not subjects:
            self.out.unplaced.append(f"{word} (no object named)")
            return end
        for g in subjects:
            self.motion[g] = (motion, direction, in_air)
        self.order_event(subjects[0])
        return end

    def order_event(self, g: int) -> None:
        """Record an order of events once its second motion is known."""
        first = self.after_group
        if first is None and self.pending_then:
            first = self.last_mover
        if first is not None and first != g and self.out.sequence is None:
            self.out.sequence = Sequence(first, g, on_landing=self.after_group is not None)
        self.pending_then, self.after_group = False, None
        self.last_mover = g

    def collide(self, i: int, subjects: list[int]) -> int:
        pair = list(subjects)
        np = self.noun_phrase(i + 2) if i + 2 < len(self.tokens) else None
        end = i + 1
        if len(pair) == 1 and np is not None:  # "A collides with B", "A bumps into B"
            pair.append(self.group_of(np[0]))
            end = np[1]
        if len(pair) != 2 or pair[0] == pair[1]:
            self.out.unplaced.append(f"{self.tokens[i]} (a collision needs two objects)")
            return end
        for g in pair:
            self.motion[g] = ("collide", None, None)
        return end

    def relation(self, i: int, subjects: list[int]) -> int:
        word = self.tokens[i]
        rel = _RELATIONS.get(word) or f"{word} of"
        j = i + 2 if word in ("left", "right") else i + 1
        np = self.noun_phrase(j)
        if not subjects or np is None:
            self.out.unplaced.append(f"{rel} (needs an object on each side)")
            return j
        obj = self.group_of(np[0])
        self.out.relations.append(Relation(subjects[-1], rel, obj))
        return np[1]


def _finish(out: Parse, motions: dict) -> None:
    """Apply motions; decide 'stays still' in the air or on the ground from the relations; put
    each colliding pair side by side, as the world's sampler expects."""
    above = {r.subject for r in out.relations if r.word == "above"}
    above |= {r.object for r in out.relations if r.word == "below"}
    groups = []
    for g, spec in enumerate(out.groups):
        motion, direction, in_air = motions.get(g, ("still", None, None))
        if in_air is None:
            in_air = motion == "still" and g in above
        groups.append(replace(spec, motion=motion, direction=direction, in_air=in_air))
    colliders = [g for g in range(len(groups)) if groups[g].motion == "collide"]
    if len(colliders) not in (0, 2):
        out.unplaced.append(f"{len(colliders)} colliding groups (the world collides pairs)")
        for g in colliders[2:] if len(colliders) > 2 else colliders:
            groups[g] = replace(groups[g], motion="still")
    order = [g for g in range(len(groups)) if g not in colliders[1:2]]
    if len(colliders) == 2:  # the pair side by side
        order.insert(order.index(colliders[0]) + 1, colliders[1])
    if out.sequence is not None:  # the sequence's groups first, as the world samples them
        seq = (out.sequence.first, out.sequence.second)
        order = list(seq) + [g for g in order if g not in seq]
    index = {old: new for new, old in enumerate(order)}
    out.groups = [groups[g] for g in order]
    out.relations = [Relation(index[r.subject], r.word, index[r.object]) for r in out.relations]
    if out.sequence is not None:
        s = out.sequence
        on_landing = s.on_landing or out.groups[index[s.first]].motion in ("fall", "thrown")
        out.sequence = Sequence(index[s.first], index[s.second], on_landing)


def tokenize(prompt: str) -> list[str]:
    return _TOKEN.findall(prompt.lower())


def parse(prompt: str, substitute: Callable[[str], str | None] | None = None) -> Parse:
    """The scene graph of `prompt`. `substitute` maps a word outside the vocabulary to a known
    word (or None); by default unknown words are reported as unplaced."""
    out = Parse(prompt)
    tokens = tokenize(prompt)
    if substitute is not None:
        for k, word in enumerate(tokens):
            if word not in KNOWN and word not in ".,;!?":
                known = substitute(word)
                if known is not None:
                    out.substitutions[word] = known
                    tokens[k] = known
    parser = _Parser(tokens, out)
    parser.run()
    _finish(out, parser.motion)
    if not out.groups:
        out.unplaced.append("the prompt (it names no object)")
    return out
