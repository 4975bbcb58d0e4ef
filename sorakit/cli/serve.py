"""`sorakit serve`: the HTTP API and its worker process."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import typer

from sorakit.cli.data import console


def _default_data() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "sorakit" / "serve"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Loopback unless SORAKIT_API_KEY is set."),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
    model: Path = typer.Option(None, "--model", help="A model folder; default: the shipped one."),
    data: Path = typer.Option(None, "--data", help="Jobs and videos (default: printed at start)."),
    max_queue: int = typer.Option(32, "--max-queue", min=1, help="Queued jobs before 429."),
) -> None:
    """Serve the model over HTTP in the shape of OpenAI's Videos API (POST /v1/videos, ...),
    with jobs in SQLite under --data and a worker process that generates them."""
    import uvicorn

    from sorakit.serve.app import create_app
    from sorakit.serve.store import JobStore
    from sorakit.serve.supervise import Supervisor
    from sorakit.serve.worker import remove_partial_files

    api_key = os.environ.get("SORAKIT_API_KEY") or None
    if not _loopback(host) and api_key is None:
        raise typer.BadParameter(
            f"{host} is not loopback: set SORAKIT_API_KEY to require a bearer token",
            param_hint="'--host'",
        )
    data = data or _default_data()
    db = data / "jobs.sqlite"
    try:  # a model folder that cannot serve is refused before anything starts
        app = create_app(db, data, model, max_queue, api_key)
    except ValueError as exc:  # GenerationError is one
        raise typer.BadParameter(f"cannot load the model: {exc}", param_hint="'--model'") from None
    requeued = JobStore(db).requeue_interrupted()
    remove_partial_files(data)  # before the worker starts: nothing is being written yet
    console.print(f"jobs and videos in {data}" + (f"; {requeued} interrupted jobs queued again"
                                                   if requeued else ""))  # fmt: skip
    with Supervisor(db, data, None if model is None else str(model)):
        uvicorn.run(app, host=host, port=port, log_level="warning")
