"""Held-out paraphrase benchmark for the planner's language front end.

Prompts in ordinary English, each with the exact scene graph it states, from this file's own
grammar (written 2026-12-06, before the front end was tuned; nothing under `sorakit/` reads
it). Two splits:

- `known`: content words the parser's lexicon holds, in sentence shapes of this file;
- `unseen`: the same shapes with synonyms and shades that are in no lexicon of the parser
  (`tests/test_paraphrase_bench.py` checks both claims), so the split measures how far the
  front end generalises beyond its word lists.

Scored per prompt: exact match of the scene graph (groups, stated attributes only, relations,
order of events) and each field's accuracy. A "silently wrong" plan states a fact the prompt
contradicts (another colour, count, relation...) or adds one it never stated, and does not
flag it: reporting a word as not placed is honest, guessing it wrong is not.

    .venv/bin/python benchmarks/paraphrase_bench.py [--per-split 600] [--json out.json]
"""

from __future__ import annotations

import argparse
import colorsys
import itertools
import json
import re
import statistics
import time
from dataclasses import dataclass, field

import numpy as np

from sorakit.world.vocab import PALETTE

# --- words -------------------------------------------------------------------------------
# Shades carry their own RGB: the truth is the world colour nearest to it. A shade is used only
# where the nearest world colour is clear (`clear_shades`), so the truth does not hang on the
# colour distance chosen.
KNOWN_SHADES: dict[str, tuple[int, int, int]] = {
    "red": PALETTE["red"], "orange": PALETTE["orange"], "yellow": PALETTE["yellow"],
    "green": PALETTE["green"], "cyan": PALETTE["cyan"], "blue": PALETTE["blue"],
    "purple": PALETTE["purple"], "white": PALETTE["white"],
    "crimson": (220, 20, 60), "navy": (0, 0, 128), "gold": (255, 215, 0),
    "lime": (0, 255, 0), "violet": (148, 0, 211), "turquoise": (64, 224, 208),
    "magenta": (255, 0, 255), "dark blue": (0, 0, 139), "light green": (144, 238, 144),
    "bright red": (255, 0, 0), "dark green": (0, 100, 0), "golden": (255, 200, 40),
}  # fmt: skip
UNSEEN_SHADES: dict[str, tuple[int, int, int]] = {
    "scarlet": (255, 36, 0), "vermilion": (227, 66, 52), "ruby": (224, 17, 95),
    "sapphire": (15, 82, 186), "cobalt": (0, 71, 171), "ultramarine": (18, 10, 143),
    "emerald": (80, 200, 120), "jade": (0, 168, 107), "saffron": (244, 196, 48),
    "lemon": (255, 247, 0), "mustard": (255, 219, 88), "tangerine": (242, 133, 0),
    "pumpkin": (255, 117, 24), "amethyst": (153, 102, 204), "grape": (111, 45, 168),
    "pearl": (234, 224, 200), "alabaster": (237, 234, 224), "canary": (255, 239, 0),
}  # fmt: skip
# noun -> (world shape, plural)
KNOWN_NOUNS: dict[str, tuple[str, str]] = {
    "ball": ("circle", "balls"), "circle": ("circle", "circles"), "sphere": ("circle", "spheres"),
    "disc": ("circle", "discs"), "orb": ("circle", "orbs"), "box": ("square", "boxes"),
    "block": ("square", "blocks"), "cube": ("square", "cubes"), "square": ("square", "squares"),
    "tile": ("square", "tiles"), "crate": ("square", "crates"),
    "triangle": ("triangle", "triangles"), "pyramid": ("triangle", "pyramids"),
    "wedge": ("triangle", "wedges"),
}  # fmt: skip
UNSEEN_NOUNS: dict[str, tuple[str, str]] = {
    "marble": ("circle", "marbles"), "bead": ("circle", "beads"), "globe": ("circle", "globes"),
    "brick": ("square", "bricks"), "carton": ("square", "cartons"),
    "cone": ("triangle", "cones"), "arrowhead": ("triangle", "arrowheads"),
}  # fmt: skip
KNOWN_SIZES = {"tiny": "small", "little": "small", "small": "small", "big": "large",
               "large": "large", "huge": "large", "giant": "large"}  # fmt: skip
UNSEEN_SIZES = {"minuscule": "small", "teeny": "small", "wee": "small", "enormous": "large",
                "gigantic": "large", "massive": "large", "colossal": "large"}  # fmt: skip
KNOWN_COUNTS = {1: ["a", "one"], 2: ["two", "2", "a couple of", "a pair of"],
                3: ["three", "3", "a trio of"], 4: ["four", "4"]}  # fmt: skip

# Verbs as (third person singular, plural/base, -ing). "{d}" takes a direction phrase.
Verb = tuple[str, str, str]
KNOWN_VERBS: dict[str, list[Verb]] = {
    "fall": [("falls", "fall", "falling"), ("drops", "drop", "dropping"),
             ("falls and bounces", "fall and bounce", "falling and bouncing"),
             ("drops onto the floor and bounces back up", "drop onto the floor and bounce back up",
              "dropping onto the floor and bouncing back up"),
             ("falls to the ground", "fall to the ground", "falling to the ground")],
    "move": [("moves {d}", "move {d}", "moving {d}"),
             ("slides {d}", "slide {d}", "sliding {d}"), ("glides {d}", "glide {d}", "gliding {d}"),
             ("drifts {d}", "drift {d}", "drifting {d}"), ("rolls {d}", "roll {d}", "rolling {d}")],
    "thrown": [("is tossed {d}", "are tossed {d}", "being tossed {d}"),
               ("is thrown {d}", "are thrown {d}", "being thrown {d}")],
    "still": [("rests on the ground", "rest on the ground", "resting on the ground"),
              ("sits on the floor", "sit on the floor", "sitting on the floor"),
              ("stays still", "stay still", "staying still"),
              ("lies on the ground", "lie on the ground", "lying on the ground")],
}  # fmt: skip
UNSEEN_VERBS: dict[str, list[Verb]] = {
    "fall": [("plummets", "plummet", "plummeting"), ("plunges", "plunge", "plunging"),
             ("tumbles down", "tumble down", "tumbling down")],
    "move": [("travels {d}", "travel {d}", "traveling {d}"), ("coasts {d}", "coast {d}",
             "coasting {d}"), ("cruises {d}", "cruise {d}", "cruising {d}")],
    "thrown": [("is hurled {d}", "are hurled {d}", "being hurled {d}"),
               ("is flung {d}", "are flung {d}", "being flung {d}"),
               ("is lobbed {d}", "are lobbed {d}", "being lobbed {d}")],
    "still": [("remains on the ground", "remain on the ground", "remaining on the ground"),
              ("waits on the ground", "wait on the ground", "waiting on the ground")],
}  # fmt: skip
# Motions whose verb says the direction itself.
KNOWN_DIRECTED = {"up": [("rises", "rise", "rising")], "down": [("sinks", "sink", "sinking")]}
DIRECTION_PHRASES = {
    "left": ["left", "to the left", "toward the left", "leftward"],
    "right": ["right", "to the right", "toward the right", "rightward"],
    "up": ["up", "upward"], "down": ["down", "downward"],
}  # fmt: skip
KNOWN_RELATIONS = {
    "left of": ["on the left side of", "to the left of", "left of"],
    "right of": ["on the right side of", "to the right of", "right of"],
    "above": ["above", "on top of", "over"],
    "below": ["below", "underneath", "beneath", "under"],
    "beside": ["next to", "beside"],
}  # fmt: skip
UNSEEN_RELATIONS = {"above": ["atop"], "beside": ["alongside"]}
# Collisions: (pattern with {a} and {b}, plural subject?)
KNOWN_COLLIDE = [("{a} and {b} collide", True), ("{a} bumps into {b}", False),
                 ("{a} and {b} bump into each other", True), ("{a} collides with {b}", False)]
UNSEEN_COLLIDE = [("{a} crashes into {b}", False), ("{a} smashes into {b}", False),
                  ("{a} and {b} slam into each other", True)]  # fmt: skip


def _hsv(rgb: tuple[int, int, int]) -> np.ndarray:
    h, s, v = colorsys.rgb_to_hsv(*(c / 255 for c in rgb))
    return np.array([np.cos(2 * np.pi * h) * s * v, np.sin(2 * np.pi * h) * s * v, v])


def clear_shades(shades: dict[str, tuple[int, int, int]]) -> dict[str, str]:
    """shade -> world colour, for shades whose nearest world colour is the same in RGB and in
    an HSV cone and beats the second nearest by a quarter in RGB distance."""
    out = {}
    for name, rgb in shades.items():
        d_rgb = {c: float(np.linalg.norm(np.subtract(rgb, p))) for c, p in PALETTE.items()}
        d_hsv = {c: float(np.linalg.norm(_hsv(rgb) - _hsv(p))) for c, p in PALETTE.items()}
        first, second = sorted(d_rgb.values())[:2]
        best = min(d_rgb, key=d_rgb.get)
        if best == min(d_hsv, key=d_hsv.get) and first * 1.25 <= second:
            out[name] = best
    return out


@dataclass
class Words:
    """One split's word choices (the unseen split mixes in its own words)."""

    shades: dict[str, str]
    nouns: dict[str, tuple[str, str]]
    sizes: dict[str, str]
    verbs: dict[str, list[Verb]]
    relations: dict[str, list[str]]
    collide: list[tuple[str, bool]]


def split_words(split: str) -> tuple[Words, Words]:
    """(known words, the words this split draws from when a slot is 'new')."""
    known = Words(clear_shades(KNOWN_SHADES), KNOWN_NOUNS, KNOWN_SIZES, KNOWN_VERBS,
                  KNOWN_RELATIONS, KNOWN_COLLIDE)  # fmt: skip
    if split == "known":
        return known, known
    unseen = Words(clear_shades(UNSEEN_SHADES), UNSEEN_NOUNS, UNSEEN_SIZES, UNSEEN_VERBS,
                   UNSEEN_RELATIONS, UNSEEN_COLLIDE)  # fmt: skip
    return known, unseen


# --- scene graphs ------------------------------------------------------------------------
@dataclass
class Group:
    shape: str | None  # None: a generic noun ("object"), the shape is left open
    motion: str
    count: int = 1
    colour: str | None = None
    size: str | None = None
    direction: str | None = None


@dataclass
class Truth:
    groups: list[Group]
    relations: list[tuple[int, str, int]] = field(default_factory=list)
    sequence: tuple[int, int] | None = None  # group indices (first, second)


class Writer:
    """Draws a scene graph and says it in words; `p_new` is the chance a slot takes a word of
    the split's own list (the unseen split), and each prompt of that split has at least one."""

    def __init__(self, rng: np.random.Generator, split: str):
        self.rng, self.split = rng, split
        self.known, self.new = split_words(split)
        self.used_new = False

    def pick(self, known, new):
        if self.split != "known" and new and self.rng.random() < 0.5:
            self.used_new = True
            return new[int(self.rng.integers(len(new)))]
        return known[int(self.rng.integers(len(known)))]

    def choice(self, items):
        return items[int(self.rng.integers(len(items)))]

    # noun phrases
    def noun_phrase(self, g: Group, definite: bool = False) -> str:
        words = []
        if definite:
            words.append("the")
        elif g.count == 1:
            words.append(self.choice(["a", "one"]))
        else:
            words.append(self.choice(KNOWN_COUNTS[g.count]))
        if g.size:
            words.append(self.pick(*self._keys(self.known.sizes, self.new.sizes, g.size)))
        if g.colour:
            words.append(self.pick(*self._keys(self.known.shades, self.new.shades, g.colour)))
        plural = g.count > 1 and not definite
        if g.shape is None:
            words.append("objects" if plural else "object")
        else:
            noun = self.pick(*self._keys(self.known.nouns, self.new.nouns, g.shape, key=0))
            nouns = {**self.known.nouns, **self.new.nouns}
            words.append(nouns[noun][1] if plural else noun)
        if words[0] == "a" and words[1][0] in "aeiou":
            words[0] = "an"
        return " ".join(words)

    @staticmethod
    def _keys(known: dict, new: dict, value, key=None):
        def match(v):
            return (v[key] if key is not None else v) == value

        return ([w for w, v in known.items() if match(v)],
                [w for w, v in new.items() if match(v)] if new is not known else [])  # fmt: skip

    # verb phrases
    def verb_phrase(self, g: Group, form: int) -> str:
        """form: 0 singular, 1 plural/base, 2 -ing."""
        if g.motion == "move" and g.direction in KNOWN_DIRECTED and self.rng.random() < 0.4:
            return KNOWN_DIRECTED[g.direction][0][form]
        verb = self.pick(self.known.verbs[g.motion],
                         self.new.verbs.get(g.motion, []) if self.new is not self.known else [])
        text = verb[form]
        if "{d}" in text:
            text = text.replace("{d}", self.choice(DIRECTION_PHRASES[g.direction]))
        return text  # fmt: skip

    def clause(self, g: Group, plain: bool = False) -> str:
        np_ = self.noun_phrase(g)
        form = 1 if g.count > 1 else 0
        shapes = ["{np} {vp}"] if plain else ["{np} {vp}", "{np} {vp}", "watch as {np} {vp}"]
        shape = self.choice(shapes + (["{np} {vp} slowly"] if g.motion == "move" else []))
        return shape.format(np=np_, vp=self.verb_phrase(g, form))


MOTIONS = ["fall", "move", "thrown", "still"]


def random_group(w: Writer, count: int, used: set) -> Group:
    motion = w.choice(MOTIONS)
    direction = None
    if motion == "move":
        direction = w.choice(["left", "right", "up", "down"])
    elif motion == "thrown":
        direction = w.choice(["left", "right"])
    while True:  # groups stay distinguishable by colour or shape
        colour = w.choice(sorted(set(w.known.shades.values()))) if w.rng.random() < 0.8 else None
        shape = w.choice(["circle", "square", "triangle"]) if w.rng.random() < 0.93 else None
        size = w.choice(["small", "large"]) if w.rng.random() < 0.45 else None
        if (colour, shape) not in used and (colour or shape):
            used.add((colour, shape))
            return Group(shape, motion, count, colour, size, direction)


def example(w: Writer) -> tuple[str, Truth]:
    kind = w.choice(["one", "one", "two", "relation", "sequence", "collide"])
    used: set = set()
    if kind == "one":
        g = random_group(w, int(w.choice([1, 1, 1, 2, 3, 4])), used)
        if w.rng.random() < 0.3:  # a bare noun phrase with a gerund: "two red balls falling"
            form = 2
            text = f"{w.noun_phrase(g)} {w.verb_phrase(g, form)}"
        else:
            text = w.clause(g)
        return text, Truth([g])
    if kind == "two":
        a, b = random_group(w, 1, used), random_group(w, int(w.choice([1, 2])), used)
        joiner = w.choice([", and ", " while ", ". ", " and "])
        return w.clause(a) + joiner + w.clause(b), Truth([a, b])
    if kind == "relation":
        a, b = random_group(w, 1, used), random_group(w, 1, used)
        a.motion, a.direction = "still", None
        b.motion, b.direction = "still", None
        rel = w.choice(list(KNOWN_RELATIONS))
        words = w.pick(KNOWN_RELATIONS[rel],
                       UNSEEN_RELATIONS.get(rel, []) if w.split != "known" else [])  # fmt: skip
        verb = w.choice(["is", "sits", "rests", "can be seen"])
        text = f"{w.noun_phrase(a)} {verb} {words} {w.noun_phrase(b)}"
        return text, Truth([a, b], relations=[(0, rel, 1)])
    if kind == "sequence":
        a, b = random_group(w, 1, used), random_group(w, 1, used)
        for g in (a, b):
            if g.motion == "still":
                g.motion = "fall"
        x, y = w.clause(a, plain=True), w.clause(b, plain=True)
        if a.motion == "fall" and w.rng.random() < 0.4:
            shape = w.choice(["{x}. once {the} lands, {y}", "{x}, and once {the} lands, {y}"])
        else:
            shape = w.choice(["{x}, then {y}", "first {x}, then {y}", "{x}. after that, {y}",
                              "{x}, and afterwards {y}", "{x}; then {y}"])  # fmt: skip
        text = shape.format(x=x, y=y, the=w.noun_phrase(a, definite=True))
        return text, Truth([a, b], sequence=(0, 1))
    a, b = random_group(w, 1, used), random_group(w, 1, used)
    for g in (a, b):
        g.motion, g.direction = "collide", None
    pattern, _ = w.pick(w.known.collide, w.new.collide if w.new is not w.known else [])
    return pattern.format(a=w.noun_phrase(a), b=w.noun_phrase(b)), Truth([a, b])


def prompts(split: str, n: int, seed: int = 0) -> list[tuple[str, Truth]]:
    """`n` prompts of `split`, the same for the same seed."""
    rng = np.random.default_rng([seed, 0 if split == "known" else 1])
    out = []
    while len(out) < n:
        w = Writer(rng, split)
        text, truth = example(w)
        if split == "known" or w.used_new:
            sentences = re.split(r"(?<=\. )", text + ".")
            out.append(("".join(t[0].upper() + t[1:] for t in sentences), truth))
    return out


def words_used(split: str) -> set[str]:
    """Every content word the split's own lists hold (for the lexicon checks)."""
    known, new = split_words(split)
    phrases = list(new.shades) + list(new.sizes) + [v[0] for v in new.nouns.values()]
    phrases += list(new.nouns) + [f for vs in new.verbs.values() for v in vs for f in v]
    phrases += [p for ps in new.relations.values() for p in ps]
    phrases += [c[0].replace("{a}", "").replace("{b}", "") for c in new.collide]
    return {w for p in phrases for w in p.replace("{d}", "").split()}


# --- scoring -----------------------------------------------------------------------------
FIELDS = ("objects", "colour", "shape", "size", "count", "motion", "direction", "relation",
          "order")  # fmt: skip


def _group_key(g) -> dict:
    return {k: getattr(g, k) for k in ("colour", "shape", "size", "count", "motion", "direction")}


def _align(truth: list[Group], parsed: list) -> list[int | None]:
    """For each truth group, the parsed group it is scored against (best agreement)."""
    best, best_score = [None] * len(truth), -1
    idx = list(range(len(parsed)))
    for perm in itertools.permutations(idx + [None] * len(truth), len(truth)):
        if any(p is not None and perm.count(p) > 1 for p in perm):
            continue
        # Shape and colour say which object is meant: they outweigh the other fields, so a
        # parse that lost one object is scored against the object it did read.
        weight = {"shape": 3, "colour": 3}
        score = sum(
            sum(weight.get(k, 1) * (v == _group_key(parsed[p])[k])
                for k, v in _group_key(t).items() if v is not None)
            for t, p in zip(truth, perm, strict=True) if p is not None
        )  # fmt: skip
        if score > best_score:
            best, best_score = list(perm), score
    return best


def score(truth: Truth, parsed) -> tuple[dict[str, bool], bool, bool]:
    """(per-field correctness, exact match, silently wrong) of one parse against its truth."""
    align = _align(truth.groups, parsed.groups)
    fields = {"objects": len(parsed.groups) == len(truth.groups) and None not in align}
    wrong = False
    for k in ("colour", "shape", "size", "count", "motion", "direction"):
        ok = True
        for t, p in zip(truth.groups, align, strict=True):
            got = None if p is None else getattr(parsed.groups[p], k)
            want = getattr(t, k)
            if k == "motion" and want == "still" and got is None:
                got = "still"
            if got != want:
                ok = False
                wrong |= got is not None  # a stated value that is not the prompt's
        fields[k] = ok
    inverse = {p: i for i, p in enumerate(align) if p is not None}
    rel = {(inverse.get(r.subject), r.word, inverse.get(r.object)) for r in parsed.relations}
    fields["relation"] = rel == set(truth.relations)
    wrong |= bool(rel - set(truth.relations))
    seq = None
    if parsed.sequence is not None:
        seq = (inverse.get(parsed.sequence.first), inverse.get(parsed.sequence.second))
    fields["order"] = seq == truth.sequence
    wrong |= seq is not None and seq != truth.sequence
    exact = all(fields.values()) and parsed.understood
    return fields, exact, wrong


def run_split(planner, split: str, n: int) -> dict:
    items = prompts(split, n)
    hits = {f: 0 for f in FIELDS}
    exact = wrong = 0
    seconds, misses = [], []
    for text, truth in items:
        start = time.perf_counter()
        parsed = planner.parse(text)
        seconds.append(time.perf_counter() - start)
        fields, ok, bad = score(truth, parsed)
        for f, v in fields.items():
            hits[f] += v
        exact += ok
        wrong += bad
        if not ok and len(misses) < 15:
            misses.append({"prompt": text, "wrong": [f for f, v in fields.items() if not v],
                           "unplaced": parsed.unplaced, "silently_wrong": bad,
                           "substitutions": parsed.substitutions})  # fmt: skip
    return {
        "prompts": len(items),
        "exact": exact / len(items),
        "fields": {f: hits[f] / len(items) for f in FIELDS},
        "silently_wrong": wrong,
        "median_ms": 1000 * statistics.median(seconds),
        "p95_ms": 1000 * float(np.quantile(seconds, 0.95)),
        "misses": misses,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-split", type=int, default=600)
    ap.add_argument("--text-encoder", default="minilm")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--show", action="store_true", help="print a few prompts of each split")
    args = ap.parse_args()
    if args.show:
        for split in ("known", "unseen"):
            for text, _ in prompts(split, 12):
                print(f"[{split}] {text}")
        return
    from sorakit.models.text import TextEncoder
    from sorakit.planner import Planner

    planner = Planner(TextEncoder.from_pretrained(args.text_encoder))
    planner.parse("a red ball falls")  # embeds the lexicon once, outside the timing
    results = {s: run_split(planner, s, args.per_split) for s in ("known", "unseen")}
    print(f"| split | prompts | exact | silently wrong | {' | '.join(FIELDS)} | median ms |")
    print("|---" * (len(FIELDS) + 5) + "|")
    for s, r in results.items():
        cells = " | ".join(f"{100 * r['fields'][f]:.1f}" for f in FIELDS)
        print(f"| {s} | {r['prompts']} | {100 * r['exact']:.1f}% | {r['silently_wrong']} | "
              f"{cells} | {r['median_ms']:.1f} |")  # fmt: skip
    for s, r in results.items():
        for m in r["misses"][:8]:
            print(f"[{s}] {m}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
