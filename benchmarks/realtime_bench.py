"""The warm path: a loaded `TextToVideoPipeline` asked for the same clip again, for each sampler
side by side, run by run interleaved: the distilled sampler at 1, 2 and 4 steps and the full
30-step sampler, at the model's own size (64x64, 8 fps, 17 frames) and through the cascade
(128x128, 16 fps, 33 frames).

    .venv/bin/python benchmarks/realtime_bench.py [--runs 10] [--model PATH] [--threads 2]

For each: the median seconds from the request to decoded frames, and to an MP4 on disk (with
its watermark and signed manifest, as `generate` writes it), and how many times faster than
real time that is (the clip's own length over the wall time). The first call of each is a
warm-up and not counted.

Target (issue 33): the default (distilled, 4 steps) at the model's size in at most 0.25 s.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from sorakit.pipeline import GenerationRequest, TextToVideoPipeline

SAMPLERS = {
    "distilled, 1 step": dict(sampler="distilled", steps=1),
    "distilled, 2 steps": dict(sampler="distilled", steps=2),
    "distilled, 4 steps (default)": dict(sampler="distilled", steps=4),
    "euler, 30 steps (full)": dict(sampler="euler", steps=30),
}
CANVASES = {
    "64x64, 8 fps, 17 frames": dict(),
    "cascade: 128x128, 16 fps, 33 frames": dict(width=128, height=128, fps=16.0, frames=33),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--model", help="model folder (default: the shipped one)")
    parser.add_argument("--prompt", default="a red ball falls and bounces")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-cascade", action="store_true", help="the model's size only")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    pipe = TextToVideoPipeline.from_pretrained(args.model)
    canvases = {k: v for k, v in CANVASES.items() if not (args.no_cascade and v)}
    cases = [(c, s) for c in canvases for s in SAMPLERS]
    frames_s = {case: [] for case in cases}
    file_s = {case: [] for case in cases}
    length = {}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs + 1):  # run 0 warms up
            for canvas, sampler in cases:
                request = GenerationRequest(
                    prompt=args.prompt, **CANVASES[canvas], **SAMPLERS[sampler]
                )
                start = time.perf_counter()
                video = pipe.generate(request)
                made = time.perf_counter()
                video.save(Path(tmp) / f"{run}.mp4")
                saved = time.perf_counter()
                length[(canvas, sampler)] = len(video.frames) / video.fps
                if run:
                    frames_s[(canvas, sampler)].append(made - start)
                    file_s[(canvas, sampler)].append(saved - start)
            print(f"run {run}/{args.runs} done", flush=True)
    print(f"\nthreads: {torch.get_num_threads()}; prompt: {args.prompt!r}\n")
    print("| canvas | sampler | to frames (s) | to an MP4 (s) | x real time (MP4) |")
    print("|---|---|---|---|---|")
    for case in cases:
        frames, file = statistics.median(frames_s[case]), statistics.median(file_s[case])
        print(f"| {case[0]} | {case[1]} | {frames:.3f} | {file:.3f} | {length[case] / file:.1f} |")


if __name__ == "__main__":
    main()
