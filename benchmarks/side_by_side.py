"""Evaluations of one suite side by side: a Markdown table of every category and the
continuation errors, one column per `sorakit eval world` output folder. Two rows more count the
gravity and throw videos whose fitted acceleration is within 10% of the world's (the layout
issue's bound; the verdicts allow 20%, and a throw also needs a clean parabola).

    python benchmarks/side_by_side.py outputs/eval-text outputs/eval-planned [--names A B]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def table(folders: list[Path], names: list[str]) -> str:
    runs = [json.loads((f / "results.json").read_text()) for f in folders]
    lines = ["| category | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for category in runs[0]["scores"]:
        cells = []
        for run in runs:
            s = run["scores"].get(category)
            cells.append(f"{100 * s['score']:.1f}% ({s['passed']}/{s['total']})" if s else "-")
        lines.append(f"| {category} | " + " | ".join(cells) + " |")
    for category in ("gravity", "throw"):
        cells = [_within(run, category, 0.1) for run in runs]
        lines.append(f"| {category}: fitted g within 10% | " + " | ".join(cells) + " |")
        cells = [_mean_error(run, category) for run in runs]
        lines.append(f"| {category}: mean relative g error | " + " | ".join(cells) + " |")
    for key in ("model", "detector", "freeze", "constant_velocity"):
        cells = [run["continuation"].get(key) for run in runs]
        text = [f"{c:.4f}" if isinstance(c, float) else "-" for c in cells]
        lines.append(f"| continuation error: {key} | " + " | ".join(text) + " |")
    return "\n".join(lines)


def _mean_error(run: dict, category: str) -> str:
    """The mean relative error of the fitted acceleration over the videos that fit one."""
    errors = [v["verdicts"][category]["value"] for v in run["videos"] if v["category"] == category]
    errors = [e for e in errors if e is not None]
    return f"{sum(errors) / len(errors):.3f} ({len(errors)} fitted)" if errors else "-"


def _within(run: dict, category: str, tolerance: float) -> str:
    """How many of the category's videos fit an acceleration within `tolerance` (relative)."""
    errors = [v["verdicts"][category]["value"] for v in run["videos"] if v["category"] == category]
    close = sum(1 for e in errors if e is not None and e <= tolerance)
    return f"{close}/{len(errors)}" if errors else "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--names", nargs="+", default=None)
    args = ap.parse_args()
    names = args.names or [f.name for f in args.folders]
    print(table(args.folders, names))


if __name__ == "__main__":
    main()
