"""The worker: takes the oldest queued job, generates it, writes its files, marks it done.

It runs in its own process (`sorakit serve` starts it), never in the request path. Files are
written atomically before the job is marked completed; a cancelled job stops at its next sampler
step and leaves no files.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from PIL import Image

from sorakit.fileio import atomic_write
from sorakit.pipeline import GenerationError, GenerationRequest, TextToVideoPipeline
from sorakit.serve.store import Job, JobStore

logger = logging.getLogger(__name__)


class Cancelled(Exception):
    """The job was cancelled while it ran."""


def video_path(data: Path, job_id: str) -> Path:
    return data / "videos" / f"{job_id}.mp4"


def thumbnail_path(data: Path, job_id: str) -> Path:
    return data / "videos" / f"{job_id}.png"


def remove_files(data: Path, job_id: str) -> None:
    video = video_path(data, job_id)
    for path in (video, video.with_suffix(".json"), thumbnail_path(data, job_id)):
        path.unlink(missing_ok=True)


def frame_count(seconds: float, fps: float, temporal_factor: int) -> int:
    """The frame count nearest `seconds` at `fps` that a VAE of `temporal_factor` takes."""
    return 1 + max(0, round(seconds * fps / temporal_factor)) * temporal_factor


def to_request(pipe: TextToVideoPipeline, fields: dict) -> GenerationRequest:
    """The API request's fields as a generation request: `seconds` at the frame rate becomes a
    frame count the model accepts (1 + temporal factor x k), `size` a width and height."""
    width, height = (int(v) for v in fields["size"].split("x"))
    fps = fields.get("fps") or pipe.config.fps
    frames = frame_count(float(fields["seconds"]), fps, pipe.vae.temporal_factor)
    return GenerationRequest(
        prompt=fields["prompt"], negative_prompt=fields.get("negative_prompt", ""),
        seed=fields.get("seed", 0), width=width, height=height, frames=frames, fps=fps,
        steps=fields.get("steps"), guidance=fields.get("guidance"),
        planning=fields.get("planning", True),
    )  # fmt: skip


def run_job(store: JobStore, pipe: TextToVideoPipeline, data: Path, job: Job) -> None:
    """Generate one claimed job to its final state."""
    try:
        request = to_request(pipe, job.request)
        total = pipe.step_count(request)
        done = [0]

        def on_step() -> None:
            done[0] += 1
            status = store.progress(job.id, min(99, 100 * done[0] // max(1, total)))
            if status != "in_progress":
                raise Cancelled

        video = pipe.generate(request, on_step=on_step)
        path = video_path(data, job.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        video.save(path)
        first = Image.fromarray(video.frames[0])
        atomic_write(thumbnail_path(data, job.id), lambda p: first.save(p, "PNG"))
        store.complete(job.id, {"settings": video.provenance.to_dict(), "plan": video.plan})
        if store.get(job.id) is None:  # deleted while it ran: its files go too
            remove_files(data, job.id)
    except Cancelled:
        logger.info("%s: cancelled", job.id)
    except GenerationError as exc:
        store.fail(job.id, "invalid_request", str(exc))
    except Exception as exc:  # a bug: the job fails with a line, the worker goes on
        logger.exception("%s failed", job.id)
        store.fail(job.id, "internal_error", f"{type(exc).__name__}: {exc}")


def run_worker(db: Path, data: Path, model: str | None, poll_s: float = 0.5) -> None:
    """Run jobs until the process is stopped or the server that started it is gone (killed
    even with -9: the job it held is queued again when a server starts)."""
    parent = os.getppid()
    store = JobStore(db)
    pipe = TextToVideoPipeline.from_pretrained(model)
    while os.getppid() == parent:
        job = store.claim()
        if job is None:
            time.sleep(poll_s)
            continue
        run_job(store, pipe, data, job)
