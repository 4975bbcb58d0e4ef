"""How well the planner reads prompts: the world's own captions parsed back to their scene graphs.

For N random scenes per caption split ("train" phrasings, and the "heldout" phrasings no model
trains on): the fraction whose parse has exactly the scene's groups (colour, shape, motion,
direction, count), relations and order of events, and which parts differed when it did not.

Then the word substitution (`Substituter`, MiniLM): synonyms outside the vocabulary and the
known word each should become, and unrelated words that should stay unknown.

    python benchmarks/planner_parse.py [--scenes 500]
"""

from __future__ import annotations

import argparse
import collections

from sorakit.planner import parse
from sorakit.world.captions import make_caption
from sorakit.world.sampling import sample_scene


def graph(groups, relations, sequence):
    return {
        "groups": [(g.colour, g.shape, g.motion, g.direction, g.count, g.in_air) for g in groups],
        "relations": sorted((r.subject, r.word, r.object) for r in relations),
        "sequence": sequence,
    }


# Chosen before measuring, as words a user might type; the answer is the world's canonical word.
SYNONYMS = {
    "crimson": "red", "scarlet": "red", "azure": "blue", "navy": "blue", "violet": "purple",
    "lime": "green", "emerald": "green", "golden": "yellow", "ivory": "white", "snow": "white",
    "teal": "cyan", "sphere": "circle", "orb": "circle", "cube": "square",
    "rectangle": "square", "pyramid": "triangle", "tiny": "small", "huge": "large",
    "gigantic": "large", "tumbles": "falls", "plummets": "falls", "glides": "slides",
}  # fmt: skip
UNRELATED = ("dog", "happy", "quickly", "banana", "afternoon", "music", "window", "seven")
CANONICAL = {"ball": "circle", "disc": "circle", "box": "square", "block": "square",
             "big": "large", "little": "small", "moves": "slides"}  # fmt: skip


def substitution() -> None:
    from sorakit.models.text import TextEncoder
    from sorakit.planner import Substituter

    sub = Substituter(TextEncoder.from_pretrained("minilm"))
    right, missed = 0, []
    for word, want in SYNONYMS.items():
        got = sub(word)
        if got is not None and CANONICAL.get(got, got) == want:
            right += 1
        else:
            missed.append(f"{word}->{got}")
    kept = [w for w in UNRELATED if sub(w) is None]
    print(f"synonyms read right: {right}/{len(SYNONYMS)} (missed: {', '.join(missed)})")
    print(f"unrelated words left unknown: {len(kept)}/{len(UNRELATED)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=500)
    args = ap.parse_args()
    for split in ("train", "heldout"):
        exact, wrong = 0, collections.Counter()
        for seed in range(args.scenes):
            scene, trajectory = sample_scene(seed, aspect=1.0, duration=2.0)
            p = parse(make_caption(scene, trajectory, seed, split))
            want = graph(scene.groups, scene.relations, scene.sequence)
            got = graph(p.groups, p.relations, p.sequence)
            if got == want and p.understood:
                exact += 1
            wrong.update(k for k in want if got[k] != want[k])
            wrong.update(["unplaced"] if p.unplaced else [])
        print(f"{split}: {exact}/{args.scenes} exact ({100 * exact / args.scenes:.1f}%); "
              f"differences: {dict(wrong) or 'none'}")  # fmt: skip
    substitution()


if __name__ == "__main__":
    main()
