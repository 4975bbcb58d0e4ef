"""The planner's language front end: ordinary English to the world's scene graph, never silently
wrong; the paraphrase benchmark's word lists are what they claim; movers read as asked."""

import sys
from pathlib import Path

import numpy as np
import pytest

from sorakit.eval.suite import SUITES, build_suite
from sorakit.planner import make_plan, parse
from sorakit.planner.lexicon import lexicon_words, nearest_colour
from sorakit.world.events import HOLD_FRACTION, direction_fraction

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
import paraphrase_bench as bench  # noqa: E402


def _groups(p):
    return [(g.count, g.size, g.colour, g.shape, g.motion, g.direction) for g in p.groups]


@pytest.mark.parametrize(
    "prompt, groups",
    [
        ("a trio of orange orbs", [(3, None, "orange", "circle", None, None)]),
        ("some purple cubes resting", [(2, None, "purple", "square", "still", None)]),
        ("a cherry-red ball drops onto the floor and bounces back up",
         [(1, None, "red", "circle", "fall", None)]),
        ("a couple of tiny gold wedges glide leftward",
         [(2, "small", "yellow", "triangle", "move", "left")]),
        ("4 huge white tiles sink", [(4, "large", "white", "square", "move", "down")]),
        ("a navy disk is tossed to the right", [(1, None, "blue", "circle", "thrown", "right")]),
    ],
)  # fmt: skip
def test_reads_ordinary_english(prompt, groups):
    p = parse(prompt)
    assert _groups(p) == groups
    assert not [u for u in p.unplaced if u != "cherry"]  # 'cherry' needs the text encoder


def test_the_issue_example_keeps_its_relation_and_colours():
    p = parse("a dark blue crate sitting on the left side of a gold pyramid")
    assert p.understood
    assert _groups(p) == [(1, None, "blue", "square", "still", None),
                          (1, None, "yellow", "triangle", None, None)]  # fmt: skip
    assert [(r.subject, r.word, r.object) for r in p.relations] == [(0, "left of", 1)]


def test_order_of_events_in_plain_words():
    for text in ("first a red ball falls, then a blue box slides right",
                 "a red ball falls. after that, a blue box slides right",
                 "a red ball falls, and once the ball lands, a blue box slides right"):  # fmt: skip
        p = parse(text)
        assert p.understood and p.sequence is not None, text
        assert (p.groups[p.sequence.first].colour, p.groups[p.sequence.second].colour) == (
            "red", "blue")  # fmt: skip


def test_beside_leaves_the_side_to_the_plan_and_says_so():
    p = parse("a red ball rests next to a blue box")
    assert [r.word for r in p.relations] == ["beside"]
    plan = make_plan(p, 64, 64, 8.0, 9, seed=1)
    assert plan["relations"][0]["word"] in ("left of", "right of")
    assert any("beside" in a for a in plan["assumed"])


def test_an_unreadable_word_is_reported_and_never_borrows_another_motion():
    p = parse("a red ball falls. a zorbly blob glides left")
    assert "blob" in p.unplaced
    assert _groups(p) == [(1, None, "red", "circle", "fall", None)]  # not "move left"
    assert not p.understood


def test_counts_beyond_the_world_are_reported():
    assert any("at most" in u for u in parse("six red balls fall").unplaced)


def test_shades_are_drawn_as_their_nearest_colour_and_far_ones_are_flagged():
    assert nearest_colour((220, 20, 60))[0] == "red"  # crimson
    p = parse("a grey ball falls")
    assert p.groups[0].colour is not None and any("grey" in a for a in p.assumed)


def test_benchmark_splits_are_what_they_claim():
    """Known words are all in the lexicon; every unseen entry has a word no lexicon holds."""
    words = lexicon_words()
    known = bench.words_used("known")
    assert known <= words, known - words
    _, unseen = bench.split_words("unseen")
    entries = list(unseen.shades) + list(unseen.sizes) + list(unseen.nouns)
    entries += [n[1] for n in unseen.nouns.values()]
    entries += [v[0].replace("{d}", "") for vs in unseen.verbs.values() for v in vs]
    entries += [p for ps in unseen.relations.values() for p in ps]
    entries += [c[0].replace("{a}", "").replace("{b}", "") for c in unseen.collide]
    for entry in entries:
        assert set(entry.split()) - words, f"{entry!r} is all lexicon words"


def test_benchmark_scoring_catches_a_silently_wrong_parse():
    text, truth = bench.prompts("known", 1)[0]
    right = parse(text)
    assert bench.score(truth, right)[1:] == (True, False)
    wrong = parse(text.replace("ball", "box").replace("circle", "triangle"))
    if wrong.groups and wrong.groups[0].shape != right.groups[0].shape:
        assert bench.score(truth, wrong)[2]


def test_movers_of_the_default_suite_keep_their_direction():
    """Plans for the default suite's motion prompts go the asked way on >= 75% of steps."""
    config = SUITES["default"]
    for item in build_suite(config, categories=("motion",)):
        plan = make_plan(parse(item.prompt), 64, 64, config.fps, config.num_frames, item.seed)
        mover = next(o for o in plan["objects"] if o["motion"] == "move")
        ppu = min(config.width, config.height)
        centres = np.array([[o["center"] for o in f["objects"] if o["id"] == mover["id"]][0]
                            for f in plan["frames"]]) / ppu  # fmt: skip
        held = direction_fraction(centres, mover["direction"])
        assert held >= HOLD_FRACTION, (item.prompt, held)
