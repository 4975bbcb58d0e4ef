"""Wall time and peak memory of the main job: `sorakit generate PROMPT --out x.mp4` with the
shipped default model, model loading included, each run in a fresh process.

    .venv/bin/python benchmarks/generate_bench.py [--runs 5] [--model PATH]
        [--variant "--shape-contrast 0" ...]

Each `--variant` (extra `generate` options) runs beside the plain command, interleaved run by
run, and is reported as a ratio to it.

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


def one_run(prompt: str, model: str | None, out: Path, extra: list[str]) -> tuple[float, float]:
    """Seconds and peak resident memory (GB) of one `sorakit generate` process. The peak is
    the largest of every child so far (ru_maxrss), so it is reported over all variants."""
    cmd = [sys.executable, "-m", "sorakit.cli.main", "generate", prompt, "--out", str(out)]
    if model:
        cmd += ["--model", model]
    cmd += extra
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
    parser.add_argument(
        "--variant", action="append", default=[], help="extra generate options, e.g. '--steps 50'"
    )
    args = parser.parse_args()
    variants = [""] + args.variant
    times = {v: [] for v in variants}
    peak = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            for k, v in enumerate(variants):
                out = Path(tmp) / f"{i}-{k}.mp4"
                seconds, peak = one_run(args.prompt, args.model, out, v.split())
                times[v].append(seconds)
                print(f"run {i + 1} {v or '(plain)'}: {seconds:.2f} s", flush=True)
    base = statistics.median(times[""])
    print("\n| options | runs | median wall (s) | min | max | ratio to plain |")
    print("|---|---|---|---|---|---|")
    for v in variants:
        t = times[v]
        print(
            f"| {v or '(plain)'} | {args.runs} | {statistics.median(t):.2f} | {min(t):.2f} "
            f"| {max(t):.2f} | {statistics.median(t) / base:.2f} |"
        )
    print(f"\npeak memory of any run: {peak:.2f} GB")


if __name__ == "__main__":
    main()
