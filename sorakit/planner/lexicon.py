"""The words the planner reads, and what each means in the world.

Ordinary English is mapped onto the world's attributes (WORLD.md): shades onto the nearest of
the eight palette colours, nouns onto the three shapes, and verbs onto the five motions. Phrases
of several words ("on the left side of", "a couple of", "bounces back up") are read before single
words, longest first. Every entry is a `Token`: its kind (what grammar slot it fills) and its
value. Words that carry nothing the world can show ("floor", "slowly", "watch as") are `filler`,
so a prompt's every word is read, known filler, or reported as not placed.

The colour table lists CSS colour names (with their CSS RGB) and a few common words; a shade is
drawn as the palette colour nearest to it in CIELAB, and flagged when even that is far.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from sorakit.world.vocab import PALETTE


@dataclass(frozen=True)
class Token:
    """kind: det count size colour mod shape generic motion dir rel then after land collide
    ground air filler punct unknown. `value` depends on the kind (a motion is
    (motion, direction, in_air))."""

    kind: str
    value: object = None
    text: str = ""
    plural: bool = False


SHADES: dict[str, tuple[int, int, int]] = {
    **PALETTE,
    # CSS colour names (RGB from the CSS Color Module) and common words for them
    "crimson": (220, 20, 60), "firebrick": (178, 34, 34), "maroon": (128, 0, 0),
    "tomato": (255, 99, 71), "coral": (255, 127, 80), "salmon": (250, 128, 114),
    "pink": (255, 192, 203), "hotpink": (255, 105, 180), "brown": (165, 42, 42),
    "orangered": (255, 69, 0), "chocolate": (210, 105, 30), "peru": (205, 133, 63),
    "gold": (255, 215, 0), "golden": (255, 200, 40), "khaki": (240, 230, 140),
    "goldenrod": (218, 165, 32), "lime": (0, 255, 0), "limegreen": (50, 205, 50),
    "forestgreen": (34, 139, 34), "olive": (128, 128, 0), "chartreuse": (127, 255, 0),
    "seagreen": (46, 139, 87), "aqua": (0, 255, 255), "turquoise": (64, 224, 208),
    "teal": (0, 128, 128), "aquamarine": (127, 255, 212), "navy": (0, 0, 128),
    "royalblue": (65, 105, 225), "indigo": (75, 0, 130), "skyblue": (135, 206, 235),
    "steelblue": (70, 130, 180), "dodgerblue": (30, 144, 255), "violet": (148, 0, 211),
    "magenta": (255, 0, 255), "fuchsia": (255, 0, 255), "lavender": (230, 230, 250),
    "orchid": (218, 112, 214), "ivory": (255, 255, 240),
    "snow": (255, 250, 250), "silver": (192, 192, 192), "beige": (245, 245, 220),
    "grey": (128, 128, 128), "gray": (128, 128, 128), "black": (0, 0, 0),
}  # fmt: skip
# Words that shade a colour without changing which palette colour is nearest.
COLOUR_MODIFIERS = ("dark", "light", "bright", "pale", "deep", "vivid", "pastel", "neon")
# Beyond this CIELAB distance the nearest palette colour is a stand-in, and the plan says so.
FAR_SHADE = 30.0

SHAPE_NOUNS: dict[str, tuple[str, str]] = {  # noun -> (shape, plural)
    "circle": ("circle", "circles"), "ball": ("circle", "balls"), "sphere": ("circle", "spheres"),
    "disc": ("circle", "discs"), "disk": ("circle", "disks"), "orb": ("circle", "orbs"),
    "dot": ("circle", "dots"), "square": ("square", "squares"), "box": ("square", "boxes"),
    "block": ("square", "blocks"), "cube": ("square", "cubes"), "tile": ("square", "tiles"),
    "crate": ("square", "crates"), "triangle": ("triangle", "triangles"),
    "pyramid": ("triangle", "pyramids"), "wedge": ("triangle", "wedges"),
}  # fmt: skip
GENERIC_NOUNS = {"object": "objects", "thing": "things", "shape": "shapes", "item": "items"}
SIZES = {"tiny": "small", "little": "small", "small": "small", "mini": "small",
         "miniature": "small", "big": "large", "large": "large", "huge": "large",
         "giant": "large", "jumbo": "large"}  # fmt: skip
COUNTS = {"a": 1, "an": 1, "one": 1, "single": 1, "two": 2, "three": 3, "four": 4,
          "five": 5, "six": 6, "both": 2}  # fmt: skip
COUNT_PHRASES = {"a couple of": 2, "a pair of": 2, "a trio of": 3, "a single": 1}
OPEN_COUNTS = ("some", "several")  # plural with the number left open

# Verbs: lemma -> (motion, direction, in_air) and its forms.
VERBS: dict[str, tuple[tuple[str, str | None, bool | None], tuple[str, ...]]] = {
    "fall": (("fall", None, None), ("fall", "falls", "falling", "fell", "fallen")),
    "drop": (("fall", None, None), ("drop", "drops", "dropping", "dropped")),
    "move": (("move", None, None), ("move", "moves", "moving", "moved")),
    "slide": (("move", None, None), ("slide", "slides", "sliding", "slid")),
    "glide": (("move", None, None), ("glide", "glides", "gliding", "glided")),
    "drift": (("move", None, None), ("drift", "drifts", "drifting", "drifted")),
    "roll": (("move", None, None), ("roll", "rolls", "rolling", "rolled")),
    "float": (("move", None, None), ("float", "floats", "floating", "floated")),
    "go": (("move", None, None), ("go", "goes", "going", "went")),
    "head": (("move", None, None), ("heads", "heading", "headed")),
    "shift": (("move", None, None), ("shift", "shifts", "shifting", "shifted")),
    "rise": (("move", "up", None), ("rise", "rises", "rising", "rose", "risen")),
    "climb": (("move", "up", None), ("climb", "climbs", "climbing", "climbed")),
    "ascend": (("move", "up", None), ("ascend", "ascends", "ascending", "ascended")),
    "sink": (("move", "down", None), ("sink", "sinks", "sinking", "sank", "sunk")),
    "descend": (("move", "down", None), ("descend", "descends", "descending", "descended")),
    "throw": (("thrown", None, None), ("throw", "throws", "throwing", "threw", "thrown")),
    "toss": (("thrown", None, None), ("toss", "tosses", "tossing", "tossed")),
    "launch": (("thrown", None, None), ("launch", "launches", "launching", "launched")),
    "rest": (("still", None, None), ("rest", "rests", "resting", "rested")),
    "sit": (("still", None, None), ("sit", "sits", "sitting", "sat")),
    "lie": (("still", None, None), ("lie", "lies", "lying", "lay")),
    "stand": (("still", None, None), ("stand", "stands", "standing", "stood")),
    "stay": (("still", None, None), ("stay", "stays", "staying", "stayed")),
    "hang": (("still", None, True), ("hang", "hangs", "hanging", "hung")),
    "hover": (("still", None, True), ("hover", "hovers", "hovering", "hovered")),
}
STILL_PHRASES = ("stays put", "stay put", "does not move", "do not move", "doesn t move",
                 "don t move", "stays still", "stay still", "staying still", "stands still",
                 "stand still", "sits still", "sit still", "is still", "are still")  # fmt: skip
DIRECTIONS = {
    "left": ("left", "to the left", "toward the left", "towards the left", "leftward",
             "leftwards", "to the left side", "left side"),
    "right": ("right", "to the right", "toward the right", "towards the right", "rightward",
              "rightwards", "to the right side", "right side"),
    "up": ("up", "upward", "upwards", "straight up"),
    "down": ("down", "downward", "downwards", "straight down"),
}  # fmt: skip
RELATIONS = {
    "left of": ("left of", "to the left of", "on the left of", "on the left side of",
                "to the left side of", "on the left hand side of"),
    "right of": ("right of", "to the right of", "on the right of", "on the right side of",
                 "to the right side of", "on the right hand side of"),
    "above": ("above", "over", "on top of", "higher than"),
    "below": ("below", "under", "underneath", "beneath", "lower than"),
    "beside": ("beside", "next to", "by the side of"),  # the side is the planner's to choose
}  # fmt: skip
THEN = ("then", "and then", "after that", "afterwards", "afterward", "later", "next",
        "after this", "before", "followed by")  # fmt: skip
AFTER = ("once", "after", "when", "as soon as")
LAND = ("lands", "land", "has landed", "hits the ground", "hits the floor", "touches the ground",
        "touches the floor", "reaches the ground", "reaches the floor", "lands on the ground",
        "lands on the floor")  # fmt: skip
COLLIDE = ("collide", "collides", "colliding", "collided", "collide with", "collides with",
           "bump into", "bumps into", "bumping into", "bumped into", "bump", "bumps",
           "run into", "runs into", "hit", "hits")  # fmt: skip
GROUND = ("ground", "floor", "on the ground", "on the floor", "to the ground", "to the floor",
          "onto the ground", "onto the floor", "on the bottom", "at the bottom")  # fmt: skip
AIR = ("in the air", "in mid air", "in midair", "mid air", "midair", "in the sky")
# Words with nothing for the world to show: articles, copulas, frames ("watch as", "we see"),
# manner ("slowly"), bounce words (every fall in the world bounces) and connectives.
FILLER = (
    "the", "is", "are", "was", "were", "be", "been", "being", "gets", "get", "got", "getting",
    "can", "seen", "see", "we", "you", "there", "here", "watch", "as", "look", "shows", "show",
    "showing", "video", "clip", "scene", "the scene", "picture", "image", "in", "this", "that",
    "which", "who", "and", "while", "with", "of", "to", "on", "at", "it", "its", "they", "them",
    "their", "each other", "one another", "slowly", "quickly", "gently", "fast", "steadily",
    "also", "just", "first", "bounces", "bounce", "bouncing", "bounced", "back up", "back",
    "again", "still", "s", "there s", "where", "into", "onto", "from", "across", "along",
    "away", "all the way", "way", "side", "some distance", "a bit", "somewhat", "located",
    "placed", "positioned", "find", "found",
)  # fmt: skip
PUNCTUATION = ".,;:!?"
# Filler worth naming when generation ignores it: words about manner or setting a user may
# expect to see drawn (articles and connectives go unmentioned).
NOTED_FILLER = ("slowly", "quickly", "gently", "fast", "steadily", "back up", "back", "again",
                "away", "across", "along", "all the way", "some distance", "a bit", "somewhat",
                "floor", "ground", "onto the floor", "onto the ground", "to the ground",
                "to the floor", "the scene", "scene", "video", "clip", "picture",
                "image")  # fmt: skip


def _lab(rgb: tuple[int, int, int]) -> tuple[float, float, float]:
    """sRGB (0-255) to CIELAB (D65)."""

    def linear(c: float) -> float:
        c /= 255.0
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb)
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

    fx, fy, fz = f(x), f(y), f(z)
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def nearest_colour(rgb: tuple[int, int, int]) -> tuple[str, float]:
    """The palette colour nearest to `rgb` in CIELAB, and the distance."""
    lab = _lab(rgb)
    dist = {name: math.dist(lab, _lab(p)) for name, p in PALETTE.items()}
    best = min(dist, key=dist.get)
    return best, dist[best]


@cache
def phrase_table() -> dict[tuple[str, ...], Token]:
    """Every phrase the planner reads (as a tuple of words) and its token."""
    table: dict[tuple[str, ...], Token] = {}

    def add(phrase: str, token: Token) -> None:
        table[tuple(phrase.split())] = token

    for word in FILLER:
        add(word, Token("filler", text=word))
    for word, rgb in SHADES.items():
        add(word, Token("colour", nearest_colour(rgb)[0], word))
    for word in COLOUR_MODIFIERS:
        add(word, Token("mod", text=word))
    for noun, (shape, plural) in SHAPE_NOUNS.items():
        add(noun, Token("shape", shape, noun))
        add(plural, Token("shape", shape, plural, plural=True))
    for noun, plural in GENERIC_NOUNS.items():
        add(noun, Token("generic", None, noun))
        add(plural, Token("generic", None, plural, plural=True))
    for word, size in SIZES.items():
        add(word, Token("size", size, word))
    for word, n in {**COUNTS, **COUNT_PHRASES}.items():
        add(word, Token("count", n, word))
    for word in OPEN_COUNTS:
        add(word, Token("count", None, word))
    add("the", Token("det", text="the"))
    for meaning, forms in VERBS.values():
        for form in forms:
            add(form, Token("motion", meaning, form))
    for phrase in STILL_PHRASES:
        add(phrase, Token("motion", ("still", None, None), phrase))
    for direction, phrases in DIRECTIONS.items():
        for phrase in phrases:
            add(phrase, Token("dir", direction, phrase))
    for relation, phrases in RELATIONS.items():
        for phrase in phrases:
            add(phrase, Token("rel", relation, phrase))
    for kind, phrases in (("then", THEN), ("after", AFTER), ("land", LAND),
                          ("collide", COLLIDE), ("ground", GROUND), ("air", AIR)):  # fmt: skip
        for phrase in phrases:
            add(phrase, Token(kind, text=phrase))
    return table


@cache
def lexicon_words() -> frozenset[str]:
    """Every single word of every phrase the planner reads."""
    return frozenset(w for phrase in phrase_table() for w in phrase)


# What an unknown word may stand for, by the slot it fills: one word per meaning is enough for
# the embeddings, and the forms the grammar needs are given by the token.
def substitution_targets() -> dict[str, list[tuple[str, Token]]]:
    """slot -> [(word, token)]: the known words an unknown word of that slot is compared with."""
    table = phrase_table()
    single = {p[0]: t for p, t in table.items() if len(p) == 1}
    adjective = [(w, t) for w, t in single.items() if t.kind in ("colour", "size")]
    noun = [(w, t) for w, t in single.items() if t.kind == "shape" and not t.plural]
    verb = [(w, t) for w, t in single.items() if t.kind == "motion" and w.endswith("s")]
    verb += [(w, table[(w,)]) for w in ("thrown", "tossed", "dropped", "launched")]
    verb += [(w, table[(w,)]) for w in ("collides", "bumps")]
    relation = [(w, t) for w, t in single.items() if t.kind == "rel"]
    return {"adjective": adjective, "noun": noun, "verb": verb, "relation": relation}
