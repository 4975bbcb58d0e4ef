"""`sorakit serve` as a real process on a tiny model: a full queue, a restart, and kill -9 of the
server or its worker, again and again, without losing or half-finishing a job."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import av
import httpx
import pytest
from live_server import LONG, QUICK, LiveServer, kill_pid, save_tiny_model, wait_gone

from sorakit.serve.store import FINAL, JobStore
from sorakit.serve.worker import content_path


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("model"))


def wait_final(store: JobStore, timeout_s: float) -> list:
    """Every job, once none is queued or running (or the time is up)."""
    deadline = time.monotonic() + timeout_s
    while True:
        jobs = store.list(limit=10_000)
        if all(j.status in FINAL for j in jobs) or time.monotonic() > deadline:
            return jobs
        time.sleep(0.2)


def running(store: JobStore) -> bool:
    return any(j.status == "in_progress" for j in store.list(limit=50))


def wait_running(store: JobStore, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not running(store) and time.monotonic() < deadline:
        time.sleep(0.05)


def decoded_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_a_full_queue_is_a_429_with_retry_after(model, tmp_path):
    with LiveServer(model, tmp_path / "data", max_queue=2) as server:
        busy = httpx.post(f"{server.url}/v1/videos", json=LONG).json()["id"]
        store = JobStore(tmp_path / "data" / "jobs.sqlite")
        deadline = time.monotonic() + 30
        while store.get(busy).status == "queued" and time.monotonic() < deadline:
            time.sleep(0.1)  # the worker has it: the next jobs wait behind it
        waiting = [httpx.post(f"{server.url}/v1/videos", json=QUICK) for _ in range(2)]
        assert [r.status_code for r in waiting] == [200, 200]
        full = httpx.post(f"{server.url}/v1/videos", json=QUICK)
        assert full.status_code == 429 and int(full.headers["retry-after"]) > 0
        assert "queue is full" in full.json()["detail"]
        httpx.delete(f"{server.url}/v1/videos/{waiting[0].json()['id']}")
        assert httpx.post(f"{server.url}/v1/videos", json=QUICK).status_code == 200
        httpx.delete(f"{server.url}/v1/videos/{busy}")


def test_jobs_survive_a_restart(model, tmp_path):
    server = LiveServer(model, tmp_path / "data")
    store = JobStore(tmp_path / "data" / "jobs.sqlite")
    with server:
        running = httpx.post(f"{server.url}/v1/videos", json=LONG).json()["id"]
        queued = [httpx.post(f"{server.url}/v1/videos", json=QUICK).json()["id"] for _ in range(3)]
        deadline = time.monotonic() + 30
        while store.get(running).progress == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert store.get(running).status == "in_progress"
    # Stopped mid-job: the running one is queued again to run from the start, the rest kept.
    assert store.get(running).status == "in_progress" and store.get(running).progress > 0
    with server:
        first = httpx.get(f"{server.url}/v1/videos/{running}").json()
        assert first["status"] in ("queued", "in_progress") and first["progress"] < 100
        httpx.delete(f"{server.url}/v1/videos/{running}")
        jobs = {j.id: j for j in wait_final(store, 60)}
        assert all(jobs[i].status == "completed" for i in queued)
        assert all(decoded_frames(content_path(server.data, i)) == 9 for i in queued)


class Client(threading.Thread):
    """Submits jobs (and cancels one now and then) while the server comes and goes."""

    def __init__(self, url: str, seed: int):
        super().__init__(daemon=True)
        self.url, self.rng = url, random.Random(seed)
        self.accepted: set[str] = set()
        self.deleted: set[str] = set()
        self.unexpected: list[str] = []  # answers other than 200 or 429 (asserted at the end)
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=5) as http:
            while not self.stop.wait(self.rng.uniform(0.1, 0.4)):
                try:
                    self.step(http)
                except httpx.TransportError:
                    continue  # the server is down: a lost answer, never a lost job

    def step(self, http: httpx.Client) -> None:
        live = sorted(self.accepted - self.deleted)
        if live and self.rng.random() < 0.1:
            victim = self.rng.choice(live)
            if http.delete(f"/v1/videos/{victim}").status_code == 200:
                self.deleted.add(victim)
            return
        body = {**QUICK, "seed": self.rng.randrange(1000), "steps": self.rng.choice([2, 8, 30])}
        response = http.post("/v1/videos", json=body)
        if response.status_code == 200:
            self.accepted.add(response.json()["id"])
        elif response.status_code != 429:
            self.unexpected.append(f"{response.status_code} {response.text}")


@pytest.mark.slow
def test_kill_9_of_the_server_or_its_worker_loses_no_job(model, tmp_path):
    rng = random.Random(32)
    server = LiveServer(model, tmp_path / "data", max_queue=6)
    store = JobStore(tmp_path / "data" / "jobs.sqlite")
    server.start()
    client = Client(server.url, seed=7)
    client.start()
    workers, kills, mid_job = set(), {"server": 0, "worker": 0}, 0
    for i in range(21):
        # Every third kill waits for a job to run (a worker takes seconds to load its model, so
        # a clock alone would rarely catch one); the rest come at any moment, start-up included.
        if i % 3 == 0:
            wait_running(store, 20)
            time.sleep(rng.uniform(0, 0.5))
        else:
            time.sleep(rng.uniform(0.2, 1.5))
        mid_job += running(store)
        worker = server.worker_pid()
        if worker is not None:
            workers.add(worker)
        if worker is not None and rng.random() < 0.5:
            kill_pid(worker)  # the server's supervisor starts another
            kills["worker"] += 1
        else:
            server.kill()
            kills["server"] += 1
            server.start()
    client.stop.set()
    client.join()
    try:
        jobs = wait_final(store, 90)
    finally:
        server.stop()
    assert min(kills.values()) >= 5 and sum(kills.values()) >= 20, kills
    assert mid_job >= 5, f"only {mid_job} kills came while a job ran"
    assert not client.unexpected, client.unexpected
    by_id = {j.id: j for j in jobs}
    assert client.accepted - client.deleted <= set(by_id), "an accepted job was lost"
    assert all(j.status in FINAL for j in jobs), [(j.id, j.status) for j in jobs]
    completed = [j for j in jobs if j.status == "completed"]
    assert len(completed) >= 3 and all(j.status != "failed" for j in jobs)
    for job in completed:  # none marked completed without its whole file
        assert decoded_frames(content_path(server.data, job.id)) == job.result["settings"]["frames"]
    assert not wait_gone(sorted(workers), 20), "a worker outlived its server"
