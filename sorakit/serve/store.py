"""Jobs in SQLite (WAL): the server and its worker share them, and a crash of either loses none.

A job goes queued → in_progress → completed | failed, or to cancelled from queued or
in_progress. A job is marked completed only after its files are written (atomically), and a job
found in progress at start-up is queued again: its run died with the process that held it.

Each claim of a job gets a fresh token, and a worker's progress, completion or failure counts only
under the token of its own claim: a worker that outlived its server (killed with -9) cannot mark
a job that a new server queued again and a new worker now runs.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATUSES = ("queued", "in_progress", "completed", "failed", "cancelled")
FINAL = ("completed", "failed", "cancelled")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    status TEXT NOT NULL,
    progress INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    completed_at INTEGER,
    request TEXT NOT NULL,
    result TEXT,
    error_code TEXT,
    error_message TEXT,
    claim TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, seq);
"""


@dataclass(frozen=True)
class Job:
    seq: int
    id: str
    status: str
    progress: int
    created_at: int
    completed_at: int | None
    request: dict[str, Any]  # the API request's fields, as accepted
    result: dict[str, Any] | None  # settings, plan, ... once run
    error_code: str | None
    error_message: str | None
    claim: str | None = None  # the token of the run that holds it, while in progress


def _job(row: sqlite3.Row) -> Job:
    values = dict(row)
    values["request"] = json.loads(values["request"])
    values["result"] = json.loads(values["result"]) if values["result"] else None
    return Job(**values)


class JobStore:
    """One SQLite file; each call opens its own short transaction, so any number of processes
    may use it at once."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            columns = {row["name"] for row in db.execute("PRAGMA table_info(jobs)")}
            if "claim" not in columns:  # a store made before claims had tokens
                db.execute("ALTER TABLE jobs ADD COLUMN claim TEXT")

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at each checkpoint, never torn
        return db

    def _one(self, sql: str, args: tuple = ()) -> Job | None:
        with self._connect() as db:
            row = db.execute(sql, args).fetchone()
        return _job(row) if row else None

    def add(self, request: dict[str, Any]) -> Job:
        job_id = "video_" + secrets.token_hex(12)  # made here: a request never names a job
        with self._connect() as db:
            db.execute(
                "INSERT INTO jobs (id, status, created_at, request) VALUES (?, 'queued', ?, ?)",
                (job_id, int(time.time()), json.dumps(request)),
            )
        return self.get(job_id)

    def get(self, job_id: str) -> Job | None:
        return self._one("SELECT * FROM jobs WHERE id = ?", (job_id,))

    def list(self, after: str | None = None, limit: int = 20) -> list[Job]:
        """Newest first; `after` is the id of the last job of the previous page."""
        with self._connect() as db:
            if after is None:
                rows = db.execute("SELECT * FROM jobs ORDER BY seq DESC LIMIT ?", (limit,))
            else:
                rows = db.execute(
                    "SELECT * FROM jobs WHERE seq < (SELECT seq FROM jobs WHERE id = ?) "
                    "ORDER BY seq DESC LIMIT ?",
                    (after, limit),
                )
            return [_job(r) for r in rows.fetchall()]

    def queued(self) -> int:
        with self._connect() as db:
            return db.execute("SELECT COUNT(*) FROM jobs WHERE status = 'queued'").fetchone()[0]

    def queue_position(self, job: Job) -> int | None:
        """0 for the next job to run, None once it is no longer queued."""
        if job.status != "queued":
            return None
        with self._connect() as db:
            return db.execute(
                "SELECT COUNT(*) FROM jobs WHERE status = 'queued' AND seq < ?", (job.seq,)
            ).fetchone()[0]

    def claim(self) -> Job | None:
        """The oldest queued job, now in progress under a new claim token; None when there is
        none."""
        return self._one(
            "UPDATE jobs SET status = 'in_progress', progress = 0, claim = ? WHERE seq = "
            "(SELECT seq FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1) RETURNING *",
            (secrets.token_hex(8),),
        )

    def _update_claimed(self, job: Job, assignments: str, args: tuple) -> None:
        """Set `assignments` on `job` if it is still in progress under `job`'s claim."""
        with self._connect() as db:
            db.execute(
                f"UPDATE jobs SET {assignments} WHERE id = ? AND status = 'in_progress' "
                "AND claim = ?",
                (*args, job.id, job.claim),
            )

    def progress(self, job: Job, percent: int) -> bool:
        """Record a claimed job's progress; whether its run should go on (False once it is
        cancelled, deleted, or claimed again after a restart)."""
        self._update_claimed(job, "progress = ?", (percent,))
        current = self.get(job.id)
        return current is not None and (current.status, current.claim) == ("in_progress", job.claim)

    def complete(self, job: Job, result: dict[str, Any]) -> None:
        self._update_claimed(
            job, "status = 'completed', progress = 100, completed_at = ?, result = ?",
            (int(time.time()), json.dumps(result)),
        )  # fmt: skip

    def fail(self, job: Job, code: str, message: str) -> None:
        self._update_claimed(
            job, "status = 'failed', completed_at = ?, error_code = ?, error_message = ?",
            (int(time.time()), code, message),
        )  # fmt: skip

    def cancel(self, job_id: str) -> Job | None:
        """Cancel a queued or running job (a running one stops at its next sampler step)."""
        with self._connect() as db:
            db.execute(
                "UPDATE jobs SET status = 'cancelled', completed_at = ? WHERE id = ? "
                "AND status IN ('queued', 'in_progress')",
                (int(time.time()), job_id),
            )
        return self.get(job_id)

    def delete(self, job_id: str) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def requeue_interrupted(self) -> int:
        """Jobs left in progress by a process that died: queued again, to run from the start."""
        with self._connect() as db:
            cur = db.execute(
                "UPDATE jobs SET status = 'queued', progress = 0, claim = NULL "
                "WHERE status = 'in_progress'"
            )
            return cur.rowcount
