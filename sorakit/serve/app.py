"""`sorakit serve`'s HTTP API: jobs in, video objects and files out, state in SQLite.

The request path only reads and writes the job store; the worker process generates. Files are
served by job id only: no request reaches a path, and the model is the server's own.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from sorakit.models.persist import read_model_config
from sorakit.models.text import TextEncoder
from sorakit.models.vae import VAEConfig
from sorakit.pipeline import DEFAULT_MODEL
from sorakit.pipeline.config import read_config
from sorakit.pipeline.request import frames_for_seconds
from sorakit.planner import PlanError, Planner, make_plan
from sorakit.serve.schemas import (
    PlanCreate,
    PlanResult,
    Video,
    VideoCreate,
    VideoError,
    VideoList,
)
from sorakit.serve.store import Job, JobStore
from sorakit.serve.worker import VARIANTS, Variant, content_path, remove_files

DEFAULT_MAX_QUEUE = 32
STATIC = Path(__file__).parent / "static"  # the studio page: plain HTML, CSS and JS, no CDN


def video_object(store: JobStore, job: Job) -> Video:
    result = job.result or {}
    error = (
        VideoError(code=job.error_code, message=job.error_message or "") if job.error_code else None
    )
    return Video(
        id=job.id, model=job.request.get("model", "default"), status=job.status,
        progress=job.progress, created_at=job.created_at, completed_at=job.completed_at,
        prompt=job.request["prompt"], seconds=job.request["seconds"], size=job.request["size"],
        error=error, queue_position=store.queue_position(job), settings=result.get("settings"),
        plan=result.get("plan"), verdicts=result.get("verdicts"),
    )  # fmt: skip


def create_app(
    db: Path, data: Path, model: Path | None = None, max_queue: int = DEFAULT_MAX_QUEUE,
    api_key: str | None = None,
) -> FastAPI:  # fmt: skip
    """The app over the job store `db` and the files under `data`, for the worker's `model`
    (None: the shipped one), which also gives the planner its text encoder and defaults."""
    model_name = "default" if model is None else str(model)
    app = FastAPI(title="sorakit", version="1", description=__doc__)
    folder = DEFAULT_MODEL if model is None else Path(model)
    config = read_config(folder)  # the plans' defaults, read once
    temporal_factor = read_model_config(VAEConfig, folder / "vae", "VAE").temporal_factor
    planner: list[Planner] = []  # built on the first plan: it loads the text encoder
    store = JobStore(db)

    def authorised(request: Request) -> None:
        if api_key is None:
            return
        given = request.headers.get("authorization", "")
        if not secrets.compare_digest(given, f"Bearer {api_key}"):
            raise HTTPException(401, "a bearer token is required", {"WWW-Authenticate": "Bearer"})

    def job_or_404(video_id: str) -> Job:
        job = store.get(video_id)
        if job is None:
            raise HTTPException(404, f"no video {video_id!r}")
        return job

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def studio() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok", "queued": store.queued()}

    @app.post("/v1/videos", response_model=Video, dependencies=[Depends(authorised)])
    def create_video(body: VideoCreate):
        if body.model not in ("default", model_name):
            raise HTTPException(422, f"model: this server serves {model_name!r} only")
        if store.queued() >= max_queue:
            return JSONResponse(
                {"detail": f"the queue is full ({max_queue} jobs); try again later"},
                status_code=429, headers={"Retry-After": "10"},
            )  # fmt: skip
        return video_object(store, store.add(body.model_dump()))

    @app.get("/v1/videos", response_model=VideoList, dependencies=[Depends(authorised)])
    def list_videos(after: str | None = None, limit: int = Query(20, ge=1, le=100)):
        jobs = store.list(after, limit + 1)
        page = [video_object(store, j) for j in jobs[:limit]]
        return VideoList(data=page, has_more=len(jobs) > limit,
                         last_id=page[-1].id if page else None)  # fmt: skip

    @app.get("/v1/videos/{video_id}", response_model=Video, dependencies=[Depends(authorised)])
    def get_video(video_id: str):
        return video_object(store, job_or_404(video_id))

    @app.delete("/v1/videos/{video_id}", response_model=Video, dependencies=[Depends(authorised)])
    def delete_video(video_id: str):
        """Cancels a queued or running job (between sampler steps) and removes its files."""
        job = store.cancel(job_or_404(video_id).id)
        store.delete(job.id)
        remove_files(data, job.id)
        return video_object(store, job)

    @app.post("/v1/plans", response_model=PlanResult, dependencies=[Depends(authorised)])
    def create_plan(body: PlanCreate):
        """The planner alone (no model runs): the plan a video of this prompt would render, or
        why not. For a prompt the world cannot show, the plan is of the nearest prompt it can,
        which a video of it draws, and `refusal` says so."""
        if not planner:
            planner.append(Planner(TextEncoder.from_pretrained(config.text_encoder)))
        width, height = (int(v) for v in body.size.split("x"))
        fps = body.fps or config.fps
        frames = frames_for_seconds(float(body.seconds), fps, temporal_factor)
        reading = planner[0].read(body.prompt)
        parsed = reading.parsed
        result = dict(understood=parsed.understood, unplaced=parsed.unplaced,
                      substitutions=parsed.substitutions, assumed=parsed.assumed,
                      ignored=reading.ignored, nearest=reading.nearest,
                      refusal=None if reading.drawable else reading.refusal())  # fmt: skip
        drawn = parsed if reading.drawable else planner[0].parse(reading.nearest[0])
        try:
            plan = make_plan(drawn, width, height, fps, frames, seed=body.seed)
        except PlanError as exc:
            return PlanResult(plan=None, error=str(exc), **result)
        return PlanResult(plan=plan, **{**result, "assumed": plan["assumed"]})

    @app.get("/v1/videos/{video_id}/content", dependencies=[Depends(authorised)])
    def video_content(video_id: str, variant: Variant = "video"):
        """The MP4, its first frame (`thumbnail`) or every frame in a grid (`spritesheet`)."""
        job = job_or_404(video_id)
        if job.status != "completed":
            raise HTTPException(409, f"video {video_id!r} is {job.status}, not completed")
        return FileResponse(content_path(data, job.id, variant), media_type=VARIANTS[variant][1])

    return app
