"""Wall time and peak memory of a long video against a 2-second clip, side by side:
`sorakit generate PROMPT --seconds S --out x.mp4` with the shipped default model, each run in a
fresh process whose peak resident memory is measured alone.

    .venv/bin/python benchmarks/long_bench.py [--seconds 60] [--runs 1] [--prompt "..."]

Target (issue 35): 60 s at 64x64, 8 fps in at most 1.3x the peak memory of a 2-second clip;
the wall time is reported, with a minute in under a minute as the goal.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Runs the command and prints its own peak (the largest of its children, which is the one).
_PEAK = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
    "capture_output=True); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def one_run(prompt: str, seconds: float, out: Path) -> tuple[float, float]:
    """(wall seconds, peak GB) of one `sorakit generate --seconds`."""
    cmd = [sys.executable, "-m", "sorakit.cli.main", "generate", prompt, "--out", str(out),
           "--seconds", f"{seconds:g}"]  # fmt: skip
    start = time.perf_counter()
    peak_kb = subprocess.run([sys.executable, "-c", _PEAK, *cmd], check=True,
                             capture_output=True, text=True).stdout  # fmt: skip
    return time.perf_counter() - start, int(peak_kb) / 1024**2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--prompt", default="a red ball falls and bounces")
    args = ap.parse_args()
    rows: dict[float, list[tuple[float, float]]] = {2.0: [], args.seconds: []}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            for length in rows:  # interleaved, so drift in the machine hits both
                rows[length].append(one_run(args.prompt, length, Path(tmp) / f"{run}.mp4"))
    short = rows[2.0]
    print("| video | wall time (median) | peak memory | ratio of peaks to 2 s |")
    print("|---|---|---|---|")
    for length, runs in rows.items():
        wall = statistics.median(r[0] for r in runs)
        peak = max(r[1] for r in runs)
        ratio = peak / max(r[1] for r in short)
        print(f"| {length:g} s | {wall:.1f} s | {peak:.2f} GB | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
