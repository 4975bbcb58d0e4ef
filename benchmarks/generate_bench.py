"""Wall time and peak memory of the main job: `sorakit generate PROMPT --out x.mp4` with the
shipped default model, model loading included, each run in a fresh process.

    .venv/bin/python benchmarks/generate_bench.py [--runs 5] [--model PATH]

Targets (issue 6): median wall time at most 20 s, peak memory at most 3 GB on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_run(prompt: str, model: str | None, out: Path) -> tuple[float, float]:
    """Seconds and peak resident memory (GB) of one `sorakit generate` process."""
    cmd = [sys.executable, "-m", "sorakit.cli.main", "generate", prompt, "--out", str(out)]
    if model:
        cmd += ["--model", model]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    seconds = time.perf_counter() - start
    # ru_maxrss of children is the largest peak of any finished child, in KB on Linux.
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    return seconds, peak_gb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--model", help="model folder (default: the shipped one)")
    parser.add_argument("--prompt", default="a red ball falls and bounces")
    args = parser.parse_args()
    times, peaks = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            seconds, peak = one_run(args.prompt, args.model, Path(tmp) / f"{i}.mp4")
            times.append(seconds)
            peaks.append(peak)
            print(f"run {i + 1}: {seconds:.2f} s, peak so far {peak:.2f} GB", flush=True)
    print("\n| runs | median wall (s) | min | max | peak memory (GB) |")
    print("|---|---|---|---|---|")
    print(
        f"| {args.runs} | {statistics.median(times):.2f} | {min(times):.2f} | {max(times):.2f} "
        f"| {max(peaks):.2f} |"
    )


if __name__ == "__main__":
    main()
