"""Wall time and peak memory of the main job: `sorakit generate PROMPT --out x.mp4` with the
shipped default model, model loading included, each run in a fresh process (a cold start).

    .venv/bin/python benchmarks/generate_bench.py [--runs 5] [--model PATH]
        [--variant "--sampler euler" ...]

Each `--variant` (extra `generate` options) runs beside the plain command, interleaved run by
run, and is reported as a ratio to it, with its own peak memory.

Targets: median wall time at most 2.5 s (issue 33; issue 6 asked for 20 s), peak memory no
higher than the full sampler's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_run(prompt: str, model: str | None, out: Path, extra: list[str]) -> tuple[float, float]:
    """Seconds and peak resident memory (GB) of one `sorakit generate` process."""
    cmd = [sys.executable, "-m", "sorakit.cli.main", "generate", prompt, "--out", str(out)]
    if model:
        cmd += ["--model", model]
    cmd += extra
    start = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # wait4 gives this child's own resource use: its peak, not the largest of every child.
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {child.stderr.read().decode()[-500:]}")
    return seconds, usage.ru_maxrss / 1024**2  # KB on Linux


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
    peaks = {v: 0.0 for v in variants}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            for k, v in enumerate(variants):
                out = Path(tmp) / f"{i}-{k}.mp4"
                seconds, peak = one_run(args.prompt, args.model, out, v.split())
                times[v].append(seconds)
                peaks[v] = max(peaks[v], peak)
                print(f"run {i + 1} {v or '(plain)'}: {seconds:.2f} s", flush=True)
    base = statistics.median(times[""])
    print("\n| options | runs | median wall (s) | min | max | ratio to plain | peak memory (GB) |")
    print("|---|---|---|---|---|---|---|")
    for v in variants:
        t = times[v]
        print(
            f"| {v or '(plain)'} | {args.runs} | {statistics.median(t):.2f} | {min(t):.2f} "
            f"| {max(t):.2f} | {statistics.median(t) / base:.2f} | {peaks[v]:.2f} |"
        )


if __name__ == "__main__":
    main()
