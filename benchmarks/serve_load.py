"""`sorakit serve` under load: concurrent clients submit jobs and poll them while the worker
generates, then every accepted job is waited for.

    .venv/bin/python benchmarks/serve_load.py [--clients 50] [--duration 120] [--model PATH]
        [--max-queue 8] [--url http://127.0.0.1:8000] [--out report.json]

Without --url it starts `sorakit serve` on a free port with a fresh data folder. Each client
submits a job (a 429 is waited out for its Retry-After), polls `GET /v1/videos/{id}` every
half second until the job is final, and starts again, until the duration is up; then the
clients stop submitting and every accepted job is polled to its end.

Reports: answers by status, 5xx (target: none), the latency of `GET /v1/videos/{id}` while
jobs are waiting or running, i.e. while the worker is busy (target: p95 at most 100 ms), and
whether every accepted job completed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

PROMPTS = (
    "a red ball falls and bounces",
    "a small blue square moves right",
    "two yellow triangles rest on the ground",
    "a green circle is left of a white box",
)
POLL_S = 0.5
FINAL = ("completed", "failed", "cancelled")


@dataclass
class Tally:
    statuses: Counter = field(default_factory=Counter)
    busy_get_ms: list[float] = field(default_factory=list)  # GETs of a job not yet final
    accepted: list[str] = field(default_factory=list)
    final: dict[str, str] = field(default_factory=dict)


async def timed(tally: Tally, request) -> tuple[httpx.Response, float]:
    start = time.perf_counter()
    response = await request
    ms = (time.perf_counter() - start) * 1000
    tally.statuses[response.status_code] += 1
    return response, ms


async def follow(http: httpx.AsyncClient, tally: Tally, job_id: str, deadline: float) -> None:
    """Poll a job until it is final (or the deadline passes)."""
    while time.monotonic() < deadline:
        response, ms = await timed(tally, http.get(f"/v1/videos/{job_id}"))
        status = response.json().get("status") if response.status_code == 200 else None
        if status in FINAL:
            tally.final[job_id] = status
            return
        tally.busy_get_ms.append(ms)
        await asyncio.sleep(POLL_S)


async def client(http: httpx.AsyncClient, tally: Tally, n: int, stop: float, drain: float) -> None:
    while time.monotonic() < stop:
        body = {"prompt": PROMPTS[n % len(PROMPTS)], "seconds": "2", "seed": n}
        response, _ = await timed(tally, http.post("/v1/videos", json=body))
        if response.status_code == 429:
            await asyncio.sleep(min(float(response.headers.get("retry-after", 1)), 5))
            continue
        if response.status_code != 200:
            await asyncio.sleep(1)
            continue
        job_id = response.json()["id"]
        tally.accepted.append(job_id)
        await follow(http, tally, job_id, drain)


async def load(url: str, clients: int, duration: float, drain_s: float) -> tuple[Tally, float]:
    tally = Tally()
    start = time.monotonic()
    stop, drain = start + duration, start + duration + drain_s
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:
        await asyncio.gather(*(client(http, tally, n, stop, drain) for n in range(clients)))
    return tally, time.monotonic() - start


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: str | None, data: Path, max_queue: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "sorakit.cli.main", "serve", "--port", str(port),
           "--data", str(data), "--max-queue", str(max_queue)]  # fmt: skip
    if model:
        cmd += ["--model", model]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return server, url
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("the server did not start")


def report(tally: Tally, wall_s: float, args: argparse.Namespace) -> dict:
    busy = np.asarray(tally.busy_get_ms)
    completed = sum(s == "completed" for s in tally.final.values())
    return {
        "clients": args.clients, "duration_s": args.duration, "wall_s": round(wall_s, 1),
        "max_queue": args.max_queue, "answers": dict(sorted(tally.statuses.items())),
        "server_errors_5xx": sum(n for s, n in tally.statuses.items() if s >= 500),
        "busy_get_count": int(busy.size),
        "busy_get_ms": {q: round(float(np.percentile(busy, int(q[1:]))), 1)
                        for q in ("p50", "p95", "p99")} if busy.size else None,
        "accepted": len(tally.accepted), "completed": completed,
        "not_final": len(tally.accepted) - len(tally.final),
        "every_accepted_completed": completed == len(tally.accepted),
        "cpu": _cpu(),
    }  # fmt: skip


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return f"{line.split(':', 1)[1].strip()} x {os.cpu_count()}"
    return f"{os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of submitting")
    parser.add_argument("--drain", type=float, default=900.0,
                        help="seconds after the duration to wait for accepted jobs")  # fmt: skip
    parser.add_argument("--model", default=None, help="model folder (default: the shipped one)")
    parser.add_argument("--max-queue", type=int, default=8)
    parser.add_argument("--url", default=None, help="an already running server")
    parser.add_argument("--out", type=Path, default=None, help="write the report as JSON")
    args = parser.parse_args()
    server = None
    with tempfile.TemporaryDirectory() as data:
        url = args.url
        if url is None:
            server, url = start_server(args.model, Path(data), args.max_queue)
        try:
            tally, wall_s = asyncio.run(load(url, args.clients, args.duration, args.drain))
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=30)
    result = report(tally, wall_s, args)
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
