"""Writing datasets of world clips: video files, one annotation JSON per clip, a JSONL manifest.

Each clip is a pure function of (base seed, clip index), so a run can be split, resumed or
repeated and always writes the same files. A clip is finished when its JSON exists: the video is
written first and the JSON last, each to a temporary name that is then renamed, so an interrupted
run leaves no half-written clip that a resumed run would mistake for a finished one.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sorakit.data.video import write_video
from sorakit.fileio import atomic_write
from sorakit.world.clip import render_clip
from sorakit.world.vocab import SPLITS

MANIFEST_NAME = "manifest.jsonl"
CLIP_DIR = "clips"


@dataclass(frozen=True)
class SynthConfig:
    out: Path
    num: int
    seed: int = 0
    sizes: tuple[tuple[int, int], ...] = ((64, 64),)  # (width, height) choices
    fps: tuple[float, ...] = (8.0,)
    frames: tuple[int, ...] = (17,)
    split: str = "train"
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)

    def __post_init__(self) -> None:
        if self.num < 1:
            raise ValueError(f"--num must be at least 1, got {self.num}")
        if self.split not in SPLITS:
            raise ValueError(f"--split must be one of {', '.join(SPLITS)}, got {self.split!r}")
        for w, h in self.sizes:
            if w < 8 or h < 8 or w % 2 or h % 2:
                raise ValueError(f"sizes must be even and at least 8x8 (H.264), got {w}x{h}")
        if any(f <= 0 for f in self.fps):
            raise ValueError(f"--fps values must be positive, got {self.fps}")
        if any(n < 1 for n in self.frames):
            raise ValueError(f"--frames values must be at least 1, got {self.frames}")


@dataclass(frozen=True)
class ClipJob:
    index: int
    seed: int
    width: int
    height: int
    fps: float
    num_frames: int
    split: str

    @property
    def stem(self) -> str:
        return f"{self.index:06d}"

    @property
    def video_name(self) -> str:
        # An image is a 1-frame video; PNG keeps its palette colours exact.
        return f"{self.stem}.png" if self.num_frames == 1 else f"{self.stem}.mp4"


def clip_jobs(cfg: SynthConfig) -> list[ClipJob]:
    """The settings of every clip: a pure function of the config."""
    jobs = []
    for index in range(cfg.num):
        rng = np.random.default_rng([cfg.seed, index])
        width, height = cfg.sizes[rng.integers(len(cfg.sizes))]
        jobs.append(
            ClipJob(
                index=index,
                seed=int(rng.integers(2**31)),
                width=width,
                height=height,
                fps=float(cfg.fps[rng.integers(len(cfg.fps))]),
                num_frames=int(cfg.frames[rng.integers(len(cfg.frames))]),
                split=cfg.split,
            )
        )
    return jobs


def manifest_row(job: ClipJob, caption: str) -> dict:
    return {
        "path": f"{CLIP_DIR}/{job.video_name}",
        "caption": caption,
        "fps": job.fps,
        "width": job.width,
        "height": job.height,
        "num_frames": job.num_frames,
        "seed": job.seed,
        "split": job.split,
        "annotation": f"{CLIP_DIR}/{job.stem}.json",
    }


def make_clip(job: ClipJob, clip_dir: Path) -> tuple[dict, bool]:
    """Write one clip unless it is already finished; returns (manifest row, newly written)."""
    json_path = clip_dir / f"{job.stem}.json"
    if json_path.exists():
        try:
            caption = json.loads(json_path.read_text())["caption"]
            if (clip_dir / job.video_name).exists():
                return manifest_row(job, caption), False
        except (json.JSONDecodeError, KeyError, OSError):
            pass  # unreadable leftovers are simply redone
    clip = render_clip(job.seed, job.width, job.height, job.fps, job.num_frames, job.split)
    atomic_write(
        clip_dir / job.video_name,
        lambda p: write_video(p, clip.frames, job.fps, metadata={"comment": clip.caption}),
    )
    atomic_write(json_path, lambda p: p.write_text(json.dumps(clip.annotation)))
    return manifest_row(job, clip.caption), True


def _run_job(args: tuple[ClipJob, Path]) -> tuple[dict, bool]:
    return make_clip(*args)


def iter_clips(cfg: SynthConfig) -> Iterator[tuple[dict, bool]]:
    """Make every clip of `cfg`, in index order, on `cfg.workers` processes."""
    clip_dir = cfg.out / CLIP_DIR
    clip_dir.mkdir(parents=True, exist_ok=True)
    for tmp in clip_dir.glob(".tmp-*"):
        tmp.unlink()  # debris of an interrupted run
    work = [(job, clip_dir) for job in clip_jobs(cfg)]
    if cfg.workers <= 1:
        yield from map(_run_job, work)
        return
    # spawn, not fork: the parent may hold torch/OpenMP threads that do not survive a fork.
    with multiprocessing.get_context("spawn").Pool(cfg.workers) as pool:
        yield from pool.imap(_run_job, work, chunksize=4)
