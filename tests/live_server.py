"""A real `sorakit serve` in a subprocess, for the tests that need one: a tiny model saved to a
folder, the server on a free port, its worker process found, and either killed with -9."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import torch

from sorakit.models.dit import DIT_PRESETS, DiT
from sorakit.models.text import TextEncoder
from sorakit.models.vae import VAE_PRESETS, CausalVAE
from sorakit.pipeline import PipelineConfig, TextToVideoPipeline

# A job the tiny model runs in well under a second, and one that keeps its worker busy.
QUICK = {"prompt": "a red ball falls", "seconds": "1", "size": "16x16", "steps": 2}
LONG = {"prompt": "a blue square moves right", "seconds": "8", "size": "16x16", "steps": 1000}


def save_tiny_model(folder: Path) -> Path:
    """The tiny presets, untrained, at 16x16 and 2 steps: fast enough for any test."""
    torch.manual_seed(0)
    config = PipelineConfig(width=16, height=16, frames=9, steps=2)
    TextToVideoPipeline(
        CausalVAE(VAE_PRESETS["tiny"]), DiT(DIT_PRESETS["tiny"]),
        TextEncoder.from_pretrained("minilm"), config,
    ).save_pretrained(folder)  # fmt: skip
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """`sorakit serve --model MODEL --data DATA` on a free port; start() again after a kill
    serves the same jobs."""

    def __init__(self, model: Path, data: Path, max_queue: int = 32):
        self.model, self.data, self.max_queue = model, data, max_queue
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.log = data.parent / f"{data.name}-server.log"

    def start(self, timeout_s: float = 60) -> None:
        command = [sys.executable, "-m", "sorakit.cli.main", "serve", "--port", str(self.port),
                   "--model", str(self.model), "--data", str(self.data),
                   "--max-queue", str(self.max_queue)]  # fmt: skip
        # One thread for torch: on two cores shared with the test, spinning threads crawl.
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        with self.log.open("a") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"the server did not answer in {timeout_s} s")

    def worker_pid(self) -> int | None:
        """The server's worker process (multiprocessing's spawned child), if running."""
        for pid in _children(self.process.pid):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes() if _exists(pid) else b""
            if b"spawn_main" in cmdline:
                return pid
        return None

    def kill(self) -> None:
        """SIGKILL the server: its worker is left to notice it is orphaned."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> LiveServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _exists(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def _children(pid: int) -> list[int]:
    """Direct children of every thread of `pid` (Linux: the worker is started from a thread)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def wait_gone(pids: list[int], timeout_s: float) -> list[int]:
    """The pids still running (not zombies) after up to `timeout_s` seconds."""
    deadline = time.monotonic() + timeout_s
    while True:
        alive = [p for p in pids if _running(p)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def kill_pid(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it died already
        os.kill(pid, signal.SIGKILL)
