"""From a prompt in ordinary English to a scene graph over the world's vocabulary.

Three passes:
1. Words are read as tokens of the lexicon (`sorakit.planner.lexicon`), longest phrase first:
   "on the left side of" is one relation, "a couple of" one count, "bounces back up" filler.
2. A word the lexicon does not hold is compared, by the text encoder's embeddings, with the known
   words of the slot it fills: before a noun it is an adjective (a colour or a size), at the end
   of a noun phrase a noun (a shape), after one a verb or a relation (`Substituter`). What is
   not near enough stays unknown and is reported in `Parse.unplaced`, never guessed.
3. A small grammar over the tokens: noun phrases `[count|the] [size] [colour] noun`, each
   followed by its motion ("falls", "drifts to the left", "is tossed right", "rests on the
   floor"), collisions ("A and B collide", "A bumps into B"), relations ("A sits on top of B",
   "A is next to B": the side left to the planner), and the order of events ("first ..., then
   ...", "... after that, ...", "once the ball lands, ...").

Unstated attributes (motion included) stay None; the planner picks them and lists them as
assumed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from sorakit.planner.lexicon import FAR_SHADE, SHADES, Token, nearest_colour, phrase_table
from sorakit.world.sampling import GroupSpec
from sorakit.world.scene import Relation, Sequence
from sorakit.world.vocab import MAX_OBJECTS

_TOKEN = re.compile(r"[a-z]+|\d+|[.,;:!?-]")
_NUMBERS = {str(n): n for n in range(1, 10)}
_LONGEST = 6  # words in the lexicon's longest phrase
_NP_START = ("det", "count", "size", "colour", "mod")
_COPULA = ("is", "are", "being", "gets", "get", "was", "were")

# A substitution function: (word, slot) -> the known word it stands for, or None.
Substitute = Callable[[str, str], "str | None"]


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
    filler: list[str] = field(default_factory=list)  # words read as carrying nothing to draw

    @property
    def understood(self) -> bool:
        """Whether every part of the prompt was placed in the scene graph."""
        return bool(self.groups) and not self.unplaced


def tokenize(prompt: str) -> list[str]:
    return _TOKEN.findall(prompt.lower().replace("'", " "))


def read_tokens(words: list[str]) -> list[Token]:
    """Words to lexicon tokens, longest phrase first; unknown words become `unknown` tokens."""
    table, out, i = phrase_table(), [], 0
    while i < len(words):
        for n in range(min(_LONGEST, len(words) - i), 0, -1):
            token = table.get(tuple(words[i : i + n]))
            if token is not None:
                out.append(replace(token, text=" ".join(words[i : i + n])))
                i += n
                break
        else:
            word = words[i]
            if word == "-":  # a hyphen joins words; only a colour compound keeps it (below)
                i += 1
                continue
            head = table.get(tuple(words[i + 2 : i + 3])) if words[i + 1 : i + 2] == ["-"] else None
            if head is not None and head.kind == "colour":  # "cherry-red": a kind of red
                out.append(Token("mod", None, word))
                i += 2
                continue
            if word in _NUMBERS:
                out.append(Token("count", _NUMBERS[word], word))
            elif word in ".,;:!?":
                out.append(Token("punct", word, word))
            else:
                out.append(Token("unknown", None, word))
            i += 1
    return out


def _slot(tokens: list[Token], k: int) -> str:
    """The grammar slot of the unknown token at k, from its known neighbours."""
    end = k
    while end < len(tokens) and tokens[end].kind == "unknown":
        end += 1
    start = k
    while start > 0 and tokens[start - 1].kind == "unknown":
        start -= 1
    after = tokens[end].kind if end < len(tokens) else "end"
    before = tokens[start - 1] if start > 0 else None
    if tokens[k].text.endswith("ing") and len(tokens[k].text) > 5:
        return "verb"  # "a cat playing": a participle, never the noun
    if after in ("shape", "generic", "colour", "size", "mod"):
        return "adjective"
    if before is not None and before.kind in _NP_START:
        return "noun" if k == end - 1 else "adjective"
    if before is not None and (before.kind in ("shape", "generic", "motion") or
                               before.text in _COPULA):  # fmt: skip
        return "verb"
    return "any"


def substitute_unknown(tokens: list[Token], substitute: Substitute, out: Parse) -> list[Token]:
    """Unknown tokens read as the known word the Substituter finds for their slot."""
    table = phrase_table()
    result = list(tokens)
    prime = getattr(substitute, "prime", None)  # one encoder pass for all of them, if it can
    if prime is not None:
        prime([t.text for t in tokens if t.kind == "unknown"])
    for k, token in enumerate(tokens):
        if token.kind != "unknown":
            continue
        word = token.text
        slot = _slot(result, k)  # from the words read so far: "parcel smacks" is noun, verb
        known = substitute(word, slot)
        if known is None and slot == "adjective" and _slot(result[: k + 1], k) == "noun":
            known = substitute(word, "noun")  # two unknown words: the first may be the noun
        if known is None:
            continue
        new = table[(known,)]
        if new.kind == "shape":
            new = replace(new, plural=word.endswith("s") and not word.endswith("ss"))
        out.substitutions[word] = known
        result[k] = replace(new, text=word)
    return result


class _Grammar:
    def __init__(self, tokens: list[Token], out: Parse):
        self.t, self.out = tokens, out
        self.motion: dict[int, tuple[str, str | None, bool | None]] = {}
        self.subjects: list[int] = []  # groups named since the last verb
        self.last_subjects: list[int] = []  # the subjects of the last verb
        self.pending_then = False  # "then"/"after that" seen: the next motion starts second
        self.after_group: int | None = None  # "once X lands": X's group starts first
        self.expect_landing = False
        self.last_mover: int | None = None

    def kind(self, i: int) -> str:
        return self.t[i].kind if i < len(self.t) else "end"

    def skip_filler(self, i: int) -> int:
        while self.kind(i) == "filler":
            self.out.filler.append(self.t[i].text)
            i += 1
        return i

    # --- noun phrases ---
    def noun_phrase(self, i: int) -> tuple[int, int] | None:
        """(group, index after) of the noun phrase starting at token i, or None."""
        attrs = {"definite": False, "count": None, "open_count": False, "size": None}
        colours: list[Token] = []
        j = i
        if self.kind(j) == "det":
            attrs["definite"], j = True, j + 1
        elif self.kind(j) == "count":
            attrs["count"] = self.t[j].value
            attrs["open_count"] = self.t[j].value is None
            j += 1
        unknown: list[str] = []  # unreadable adjectives: reported, the phrase still read
        while self.kind(j) in ("size", "colour", "mod", "unknown"):
            if self.kind(j) == "size":
                attrs["size"] = self.t[j].value
            elif self.kind(j) == "colour":
                colours.append(self.t[j])
            elif self.kind(j) == "unknown":
                unknown.append(self.t[j].text)
            j += 1
        if self.kind(j) not in ("shape", "generic"):
            return None
        self.out.unplaced.extend(unknown)
        noun = self.t[j]
        attrs.update(shape=noun.value, plural=noun.plural, colour=self.colour_of(colours))
        return self.group_of(attrs, noun.text), j + 1

    def colour_of(self, colours: list[Token]) -> str | None:
        """The palette colour a noun phrase's colour words name: the last one ("cherry red" is
        red); if the words disagree, or the shade is far from every palette colour, the plan
        says what it drew."""
        if not colours:
            return None
        head = colours[-1]
        if len({c.value for c in colours}) > 1:
            words = " ".join(c.text for c in colours)
            self.out.assumed.append(f"'{words}' drawn as {head.value}")
        elif head.text in SHADES and nearest_colour(SHADES[head.text])[1] > FAR_SHADE:
            self.out.assumed.append(f"'{head.text}' drawn as {head.value}, the nearest colour")
        return head.value

    def group_of(self, attrs: dict, noun: str) -> int:
        """The group a noun phrase names: an earlier one for 'the ...' (or a repeated
        description), else a new one."""
        groups = self.out.groups
        for g, spec in enumerate(groups):
            if attrs["definite"]:  # "the blue box" may name a box whose colour was unreadable
                same = all(attrs[k] is None or getattr(spec, k) in (None, attrs[k])
                           for k in ("colour", "shape", "size"))  # fmt: skip
                if same:
                    known = {k: getattr(spec, k) or attrs[k] for k in ("colour", "shape", "size")}
                    groups[g] = replace(spec, **known)
                    return g
            elif attrs["colour"] is not None and spec.colour == attrs["colour"] and (
                attrs["shape"] is not None and spec.shape == attrs["shape"]
            ) and attrs["size"] in (None, spec.size):  # the same description again
                return g
        count = attrs["count"]
        if count is None:
            count = 2 if attrs["plural"] else 1
            if attrs["open_count"] or (attrs["plural"] and not attrs["definite"]):
                self.out.assumed.append(f"'{noun}' without a number: {count}")
        if count > MAX_OBJECTS:
            self.out.unplaced.append(f"{count} {noun} (a scene holds at most {MAX_OBJECTS})")
            count = MAX_OBJECTS
        if attrs["definite"]:
            self.out.assumed.append(f"'the {noun}' names nothing earlier: a new group")
        groups.append(
            GroupSpec(None, count=count, colour=attrs["colour"], shape=attrs["shape"],
                      size=attrs["size"])
        )  # fmt: skip
        return len(groups) - 1

    # --- clauses ---
    def run(self) -> None:
        i = 0
        while i < len(self.t):
            i = self.step(i)

    def step(self, i: int) -> int:
        token, kind = self.t[i], self.t[i].kind
        if kind in _NP_START or kind in ("shape", "generic"):
            np = self.noun_phrase(i)
            if np is not None:
                if self.expect_landing and self.after_group is None:
                    self.after_group = np[0]
                else:
                    self.subjects.append(np[0])
                return np[1]
            if kind != "det" and kind != "count":  # adjectives without a noun they describe
                self.lose_subject()
        if kind == "motion":
            return self.motion_phrase(i)
        if kind == "collide":
            return self.collide(i)
        if kind == "rel":
            return self.relation(i)
        if kind == "then":
            self.pending_then, self.last_subjects = True, []
        elif kind == "after":
            self.expect_landing = True
        elif kind == "land" and self.after_group is not None:
            self.expect_landing = False
        elif kind == "punct":
            if token.value in ".;!?":
                self.subjects, self.last_subjects = [], []
        elif kind in ("filler", "ground", "air", "det", "count"):
            self.out.filler.append(token.text)
        elif kind == "unknown":
            self.out.unplaced.append(token.text)
            self.lose_subject()
        else:
            self.out.unplaced.append(f"{token.text} (not placed here)")
        return i + 1

    def lose_subject(self) -> None:
        """An unreadable word may be the subject of the next verb: that verb must not fall back
        to an earlier object, which would give it another object's motion."""
        self.subjects, self.last_subjects = [], []

    def actors(self) -> list[int]:
        return self.subjects or self.last_subjects

    def motion_phrase(self, i: int) -> int:
        motion, direction, in_air = self.t[i].value
        word, end = self.t[i].text, i + 1
        j = self.skip_filler(i + 1)
        if motion in ("move", "thrown", "fall") and self.kind(j) == "dir":
            if motion != "fall":  # "falls down" says nothing more than "falls"
                direction = self.t[j].value
            end = j + 1
        if motion == "still":
            if self.kind(j) == "ground":
                in_air, end = False, j + 1
            elif self.kind(j) == "air":
                in_air, end = True, j + 1
        elif motion == "fall" and self.kind(j) == "ground":  # "drops onto the floor"
            self.out.filler.append(self.t[j].text)
            end = j + 1
        if motion in ("move", "thrown") and direction is None:
            self.out.unplaced.append(f"{word} (no direction)")
            return end
        if motion == "thrown" and direction not in ("left", "right"):
            self.out.unplaced.append(f"{word} {direction} (the world throws left or right)")
            return end
        subjects = self.actors()
        if not subjects:
            self.out.unplaced.append(f"{word} (no object named)")
            return end
        for g in subjects:
            self.motion[g] = (motion, direction, in_air)
        self.order_event(subjects[0])
        self.last_subjects, self.subjects = subjects, []
        return end

    def order_event(self, g: int) -> None:
        """Record an order of events once its second motion is known."""
        first = self.after_group
        if first is None and self.pending_then:
            first = self.last_mover
        if first is not None and first != g and self.out.sequence is None:
            self.out.sequence = Sequence(first, g, on_landing=self.after_group is not None)
        self.pending_then, self.after_group, self.expect_landing = False, None, False
        self.last_mover = g

    def collide(self, i: int) -> int:
        pair = list(self.subjects)
        end = i + 1
        if len(pair) == 1:  # "A collides with B", "A bumps into B"
            np = self.noun_phrase(self.skip_filler(i + 1))
            if np is not None:
                pair.append(np[0])
                end = np[1]
        if len(pair) != 2 or pair[0] == pair[1]:
            self.out.unplaced.append(f"{self.t[i].text} (a collision needs two objects)")
            return end
        for g in pair:
            self.motion[g] = ("collide", None, None)
        self.last_subjects, self.subjects = pair, []
        return end

    def relation(self, i: int) -> int:
        word = self.t[i].value
        subjects = self.actors()
        np = self.noun_phrase(self.skip_filler(i + 1)) if subjects else None
        if np is None:
            self.out.unplaced.append(f"{self.t[i].text} (needs an object on each side)")
            self.lose_subject()
            return i + 1
        self.out.relations.append(Relation(subjects[-1], word, np[0]))
        self.last_subjects, self.subjects = subjects, []
        return np[1]


def _finish(out: Parse, motions: dict) -> None:
    """Apply motions; decide 'stays still' in the air or on the ground from the relations; put
    each colliding pair side by side, as the world's sampler expects."""
    above = {r.subject for r in out.relations if r.word == "above"}
    above |= {r.object for r in out.relations if r.word == "below"}
    groups = []
    for g, spec in enumerate(out.groups):
        # No motion read: None, so the plan says it chose "still" rather than claiming it.
        motion, direction, in_air = motions.get(g, (None, None, None))
        if in_air is None:
            in_air = motion in ("still", None) and g in above
        groups.append(replace(spec, motion=motion, direction=direction, in_air=in_air))
    colliders = [g for g in range(len(groups)) if groups[g].motion == "collide"]
    if len(colliders) not in (0, 2):
        out.unplaced.append(f"{len(colliders)} colliding groups (the world collides pairs)")
        for g in colliders[2:] if len(colliders) > 2 else colliders:
            groups[g] = replace(groups[g], motion="still")
        colliders = colliders[:2] if len(colliders) > 2 else []
    order = [g for g in range(len(groups)) if g not in colliders[1:2]]
    if len(colliders) == 2:  # the pair side by side
        order.insert(order.index(colliders[0]) + 1, colliders[1])
    if out.sequence is not None:  # the sequence's groups first, as the world samples them
        seq = (out.sequence.first, out.sequence.second)
        order = list(seq) + [g for g in order if g not in seq]
    index = {old: new for new, old in enumerate(order)}
    out.groups = [groups[g] for g in order]
    for g, spec in enumerate(out.groups):
        if spec.motion is None:
            out.assumed.append(f"group {g} has no motion read: it stays still")
    out.relations = [Relation(index[r.subject], r.word, index[r.object]) for r in out.relations]
    if out.sequence is not None:
        s = out.sequence
        on_landing = s.on_landing or out.groups[index[s.first]].motion in ("fall", "thrown")
        out.sequence = Sequence(index[s.first], index[s.second], on_landing)


def parse(prompt: str, substitute: Substitute | None = None) -> Parse:
    """The scene graph of `prompt`. `substitute` maps a word outside the lexicon, with the slot
    it fills, to a known word (or None); without it unknown words are reported as unplaced."""
    out = Parse(prompt)
    tokens = read_tokens(tokenize(prompt))
    if substitute is not None:
        tokens = substitute_unknown(tokens, substitute, out)
    grammar = _Grammar(tokens, out)
    grammar.run()
    _finish(out, grammar.motion)
    if not out.groups:
        out.unplaced.append("the prompt (it names no object)")
    return out
