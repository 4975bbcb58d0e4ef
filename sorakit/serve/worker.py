"""The worker: takes the oldest queued job, generates it, writes its files, marks it done.

It runs in its own process (`sorakit serve` starts it), never in the request path. Files are
written atomically before the job is marked completed; a cancelled job stops at its next sampler
step and leaves no files. A worker whose server is gone stops at its next step too.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import math
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from sorakit.fileio import atomic_write
from sorakit.pipeline import (
    GeneratedVideo,
    GenerationError,
    GenerationRequest,
    TextToVideoPipeline,
)
from sorakit.pipeline.request import frames_for_seconds
from sorakit.serve.images import decode_image
from sorakit.serve.store import Job, JobStore
from sorakit.serve.verdicts import plan_verdicts

logger = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1  # linux/prctl.h

# GET /v1/videos/{id}/content?variant=...: each variant's file suffix and media type.
Variant = Literal["video", "thumbnail", "spritesheet"]
VARIANTS: dict[Variant, tuple[str, str]] = {
    "video": (".mp4", "video/mp4"),
    "thumbnail": (".png", "image/png"),
    "spritesheet": (".sheet.png", "image/png"),
}


class Stopped(Exception):
    """The job's run must stop: it was cancelled or claimed again, or the server is gone."""


def content_path(data: Path, job_id: str, variant: Variant = "video") -> Path:
    return data / "videos" / f"{job_id}{VARIANTS[variant][0]}"


def remove_files(data: Path, job_id: str) -> None:
    video = content_path(data, job_id)
    for path in (video.with_suffix(".json"), *(content_path(data, job_id, v) for v in VARIANTS)):
        path.unlink(missing_ok=True)


def remove_partial_files(data: Path) -> int:
    """Delete what writes cut short by a kill left under `data` (atomic writes' `.tmp-*`
    files): call it only while no worker runs. Returns how many were removed."""
    removed = 0
    for path in (data / "videos").glob(".tmp-*"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed += 1
    return removed


def to_request(pipe: TextToVideoPipeline, fields: dict) -> GenerationRequest:
    """The API request's fields as a generation request: `seconds` at the frame rate becomes a
    frame count the model accepts (1 + temporal factor x k), `size` a width and height, and an
    `input_reference` the first frame."""
    width, height = (int(v) for v in fields["size"].split("x"))
    fps = fields.get("fps") or pipe.config.fps
    frames = frames_for_seconds(float(fields["seconds"]), fps, pipe.vae.temporal_factor)
    reference = fields.get("input_reference")
    image = None if reference is None else np.array(decode_image(reference))
    return GenerationRequest(
        prompt=fields["prompt"], negative_prompt=fields.get("negative_prompt", ""),
        seed=fields.get("seed", 0), width=width, height=height, frames=frames, fps=fps,
        steps=fields.get("steps"), guidance=fields.get("guidance"),
        planning=fields.get("planning", True), image=image,
    )  # fmt: skip


def spritesheet(frames: np.ndarray) -> Image.Image:
    """The frames in a near-square grid, row by row (the last row padded black)."""
    count, height, width = frames.shape[:3]
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    sheet = np.zeros((rows * height, columns * width, 3), np.uint8)
    for i, frame in enumerate(frames):
        r, c = divmod(i, columns)
        sheet[r * height : (r + 1) * height, c * width : (c + 1) * width] = frame
    return Image.fromarray(sheet)


def write_files(data: Path, job_id: str, video: GeneratedVideo) -> None:
    """The video (with its provenance sidecar), its first frame and its spritesheet, each
    written whole or not at all."""
    path = content_path(data, job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    video.save(path)
    images = {"thumbnail": Image.fromarray(video.frames[0]),
              "spritesheet": spritesheet(video.frames)}  # fmt: skip
    for variant, image in images.items():
        atomic_write(content_path(data, job_id, variant), lambda p, im=image: im.save(p, "PNG"))


def verdicts(video: GeneratedVideo) -> dict[str, dict] | None:
    """The world evaluation's verdicts on a planned video; None without a plan. A checker that
    breaks on an odd video costs the verdicts, never the video."""
    if video.plan is None:
        return None
    try:
        return plan_verdicts(video.frames, video.fps, video.plan)
    except Exception:
        logger.exception("verdicts failed")
        return None


def generate(
    store: JobStore, pipe: TextToVideoPipeline, job: Job, alive: Callable[[], bool]
) -> GeneratedVideo:
    """Run the model for a claimed job, recording progress at each sampler step."""
    # A prompt the world cannot show is drawn as the nearest it can, as `generate` does; the
    # video's settings (its provenance) carry the prompt that was drawn.
    request, _ = pipe.read_prompt(to_request(pipe, job.request))
    total = pipe.step_count(request)
    done = [0]

    def on_step() -> None:
        done[0] += 1
        if not (store.progress(job, min(99, 100 * done[0] // max(1, total))) and alive()):
            raise Stopped

    return pipe.generate(request, on_step=on_step)


def run_job(
    store: JobStore, pipe: TextToVideoPipeline, data: Path, job: Job,
    alive: Callable[[], bool] = lambda: True,
) -> None:  # fmt: skip
    """Generate one claimed job to its final state (or stop, leaving it to whoever holds it)."""
    try:
        video = generate(store, pipe, job, alive)
        result: dict[str, Any] = {"settings": video.provenance.to_dict(), "plan": video.plan,
                                  "verdicts": verdicts(video)}  # fmt: skip
        write_files(data, job.id, video)
        store.complete(job, result)
        if store.get(job.id) is None:  # deleted while it ran: its files go too
            remove_files(data, job.id)
    except Stopped:
        logger.info("%s: stopped", job.id)
    except GenerationError as exc:
        store.fail(job, "invalid_request", str(exc))
    except Exception as exc:  # a bug: the job fails with a line, the worker goes on
        logger.exception("%s failed", job.id)
        store.fail(job, "internal_error", f"{type(exc).__name__}: {exc}")


def _die_with_parent() -> None:
    """On Linux, have the kernel end this process with the server's thread that started it, so
    a server killed with -9 leaves no worker loading a model beside its successor's."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def run_worker(db: Path, data: Path, model: str | None, server: int, poll_s: float = 0.5) -> None:
    """Run jobs until the process is stopped or its server (process id `server`) is gone, killed
    even with -9: the job it held is queued again when a server starts."""
    _die_with_parent()

    def alive() -> bool:  # the server's id, not the parent seen at start: it may be dead by then
        return os.getppid() == server

    if not alive():
        return
    store = JobStore(db)
    pipe = TextToVideoPipeline.from_pretrained(model)
    while alive():
        job = store.claim()
        if job is None:
            time.sleep(poll_s)
            continue
        run_job(store, pipe, data, job, alive)
