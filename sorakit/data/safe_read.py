"""Reading a user's image or video without trusting it.

A damaged file can crash FFmpeg inside PyAV (a segfault no `try` catches), and a huge one can
exhaust memory. So the file is decoded in a child process that imports no torch (about 0.3 s
more; BENCHMARKS.md), under a size limit checked from the header and again frame by frame: a
crash or a refusal becomes one VideoReadError line, and the caller lives on.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sorakit.data.video import Video, VideoReadError, read_video


@dataclass(frozen=True)
class InputLimit:
    """The largest input a command accepts: pixels a frame, and pixels over all frames."""

    max_pixels: int
    max_total: int


# Inputs that are scaled to the model's size first (generate --image/--video/--connect).
SCALED_INPUT = InputLimit(4096 * 4096, 1 << 28)
# Inputs processed at their own size: the VAE round trip, and the cascade's refiners (whose
# output must fit the default model's 512-pixel side and whose attention spans every frame).
RECONSTRUCT_INPUT = InputLimit(1024 * 1024, 1024 * 1024 * 17)
REFINE_INPUT = InputLimit(256 * 256, 256 * 256 * 17)
DECODE_TIMEOUT_S = 600


def read_untrusted(path: str | Path, limit: InputLimit) -> Video:
    """`read_video(path)` within `limit`, decoded in a child process."""
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="sorakit-decode-") as tmp:
        cmd = [sys.executable, "-m", "sorakit.data.safe_read", str(path), tmp,
               str(limit.max_pixels), str(limit.max_total)]  # fmt: skip
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=DECODE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise VideoReadError(f"{path}: decoding took over {DECODE_TIMEOUT_S} s") from None
        if done.returncode < 0:
            name = signal.Signals(-done.returncode).name
            raise VideoReadError(f"{path}: the decoder crashed on this file ({name})")
        if done.returncode != 0:
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            raise VideoReadError(lines[-1] if lines else f"{path}: not a readable video")
        meta = json.loads((Path(tmp) / "meta.json").read_text())
        frames = np.load(Path(tmp) / "frames.npy", allow_pickle=False)
    return Video(frames=frames, times=np.asarray(meta["times"]), fps=meta["fps"])


def _child(path: str, out: str, max_pixels: str, max_total: str) -> int:
    try:
        video = read_video(path, max_pixels=int(max_pixels), max_total=int(max_total))
    except VideoReadError as exc:
        print(exc, file=sys.stderr)
        return 2
    except MemoryError:
        print(f"{path}: too large to decode in memory", file=sys.stderr)
        return 2
    np.save(Path(out) / "frames.npy", video.frames, allow_pickle=False)
    meta = {"fps": video.fps, "times": video.times.tolist()}
    (Path(out) / "meta.json").write_text(json.dumps(meta))
    return 0


if __name__ == "__main__":
    sys.exit(_child(*sys.argv[1:]))
