"""Peak memory of the commands that read a user's image or video, at the largest input each
accepts (and one past it, which must be refused at once), each in a fresh process.

    .venv/bin/python benchmarks/memory_bench.py [--case upscale:256x256x1 ...]

A case is COMMAND:WIDTHxHEIGHTxFRAMES; the input is a moving colour gradient written as PNG (1
frame) or H.264 MP4 at 8 fps. Target: at most 3 GB for every accepted input on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from sorakit.data.video import write_video

# The largest input each command accepts (sorakit.data.limits), and one a little past it.
CASES = (
    "reconstruct:1024x1024x17", "reconstruct:1032x1024x1", "reconstruct:1024x1024x18",
    "upscale:256x256x17", "upscale:264x256x1",
    "interpolate:256x256x17", "interpolate:264x256x17",
    "generate-image:4096x4096x1", "generate-image:4104x4096x1",
    "generate-video:1920x1080x129", "generate-video:1920x1080x130",
)  # fmt: skip
COMMANDS = {  # fmt: skip
    "reconstruct": lambda src, out: ["reconstruct", src, "--out", out],
    "upscale": lambda src, out: ["upscale", src, "--out", out],
    "interpolate": lambda src, out: ["interpolate", src, "--out", out],
    "generate-image": lambda src, out: [
        "generate", "a red ball falls", "--image", src, "--out", out, "--steps", "2"
    ],
    "generate-video": lambda src, out: [
        "generate", "a red ball falls", "--video", src, "--extend", "forward", "--out", out,
        "--steps", "2",
    ],
}


def make_input(folder: Path, width: int, height: int, frames: int) -> Path:
    """A moving colour gradient: decoded size is what counts, and it encodes fast."""
    y, x = np.mgrid[:height, :width]
    video = np.stack([
        np.stack([(x + 4 * t) % 256, (y + 2 * t) % 256, (x + y) % 256], -1).astype(np.uint8)
        for t in range(frames)
    ])  # fmt: skip
    path = folder / f"in-{width}x{height}x{frames}.{'png' if frames == 1 else 'mp4'}"
    write_video(path, video, 8.0)
    return path


# Run from a small process: a forked child starts with its parent's resident pages counted in
# its peak, and this benchmark's own process holds the inputs it made.
_MEASURE = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
err = proc.stderr.read()
_, status, usage = os.wait4(proc.pid, 0)
lines = [line for line in err.splitlines() if line.strip()]
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss, lines[-1] if lines else "", sep="\\t")
"""


def run(args: list[str]) -> tuple[int, float, float, str]:
    """Exit code, seconds, peak resident memory (GB) and last stderr line of one process. The
    peak (wait4, in KB on Linux) is the larger of its own and that of the children it waited
    for: the decoder process."""
    start = time.perf_counter()
    cmd = [sys.executable, "-c", _MEASURE, sys.executable, "-m", "sorakit.cli.main", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    code, peak_kb, last = done.stdout.rstrip("\n").split("\t", 2)
    return int(code), seconds, int(peak_kb) / 1024**2, last


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", action="append", help="COMMAND:WxHxT (default: every case)")
    cases = ap.parse_args().case or list(CASES)
    print("| command | input | exit | peak memory (GB) | seconds | last message |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            command, size = case.split(":")
            width, height, frames = (int(v) for v in size.split("x"))
            src = make_input(Path(tmp), width, height, frames)
            out = Path(tmp) / f"out-{command}.{'png' if frames == 1 else 'mp4'}"
            code, seconds, peak, last = run(COMMANDS[command](str(src), str(out)))
            print(f"| {command} | {size} | {code} | {peak:.2f} | {seconds:.1f} | {last[:90]} |",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
