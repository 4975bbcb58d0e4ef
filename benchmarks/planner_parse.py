"""How well the planner reads prompts: the world's own captions parsed back to their scene graphs.

For N random scenes per caption split ("train" phrasings, and the "heldout" phrasings no model
trains on): the fraction whose parse has exactly the scene's groups (colour, shape, motion,
direction, count), relations and order of events, and which parts differed when it did not.

Ordinary English and words outside the lexicon: `benchmarks/paraphrase_bench.py`.

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


if __name__ == "__main__":
    main()
