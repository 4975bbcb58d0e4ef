"""What decoding a user's file in a child process costs (`sorakit.data.safe_read`): seconds to
read a clip in-process (`read_video`) against in a child (`read_untrusted`), interleaved.

    .venv/bin/python benchmarks/decode_cost.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from sorakit.data.safe_read import SCALED_INPUT, read_untrusted
from sorakit.data.video import read_video, write_video

CLIPS = {"64x64, 17 frames": (17, 64, 64), "640x360, 65 frames": (65, 360, 640)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    runs = ap.parse_args().runs
    print("| clip | in-process (s) | child process (s) | added (s) |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (frames, height, width) in CLIPS.items():
            rng = np.random.default_rng(0)
            path = Path(tmp) / f"{width}x{height}.mp4"
            write_video(path, rng.integers(0, 256, (frames, height, width, 3), np.uint8), 8.0)
            times = {"in": [], "child": []}
            for _ in range(runs):
                for key, read in (("in", read_video), ("child", _untrusted)):
                    start = time.perf_counter()
                    read(path)
                    times[key].append(time.perf_counter() - start)
            a, b = statistics.median(times["in"]), statistics.median(times["child"])
            print(f"| {name} | {a:.3f} | {b:.3f} | {b - a:.3f} |")


def _untrusted(path: Path):
    return read_untrusted(path, SCALED_INPUT)


if __name__ == "__main__":
    main()
