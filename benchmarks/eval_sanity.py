"""How the world evaluation reacts to ground truth and to each deliberate corruption.

Prints a Markdown table: one row per generator (ground truth, then every corruption), one column
per category, each cell the category's score on the chosen suite. A trustworthy suite scores
ground truth near 100% and drops clearly in the column each corruption is made for.

Usage: python benchmarks/eval_sanity.py [--suite default]
"""

from __future__ import annotations

import argparse
import time

from sorakit.eval.generators import CORRUPTIONS, GroundTruth
from sorakit.eval.run import evaluate
from sorakit.eval.suite import CATEGORIES, SUITES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="default", choices=sorted(SUITES))
    args = parser.parse_args()
    short = {
        "relation": "rel",
        "permanence": "perm",
        "smoothness": "smooth",
        "collision": "collide",
        "no_extra": "extra",
    }
    print(
        "| generator | "
        + " | ".join(short.get(c, c) for c in CATEGORIES)
        + " | continuation error | seconds |"
    )
    print("|---" * (len(CATEGORIES) + 3) + "|")
    for generator in [GroundTruth()] + [GroundTruth(c) for c in CORRUPTIONS]:
        start = time.perf_counter()
        ev = evaluate(generator, SUITES[args.suite])
        cells = [f"{100 * ev.scores[c].score:.0f}" for c in CATEGORIES]
        model = ev.continuation["model"]
        print(
            f"| {generator.name} | "
            + " | ".join(cells)
            + f" | {model:.3f} | {time.perf_counter() - start:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
