"""One worker process for a server, kept running: a worker that dies (kill -9, out of memory) is
started again and the job it held queued again, so a server never accepts jobs that nothing
will run."""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from multiprocessing.process import BaseProcess
from pathlib import Path

from sorakit.serve.store import JobStore
from sorakit.serve.worker import run_worker

logger = logging.getLogger(__name__)


class Supervisor:
    """`with Supervisor(db, data, model):` a worker runs for as long as the block does."""

    def __init__(self, db: Path, data: Path, model: str | None, check_s: float = 1.0):
        self.db, self.data, self.model, self.check_s = db, data, model, check_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="worker-supervisor", daemon=True)
        self.worker: BaseProcess | None = None
        self.restarts = 0

    def _start_worker(self) -> BaseProcess:
        # A fresh interpreter for the model: a forked copy of a server's threads is not safe.
        worker = multiprocessing.get_context("spawn").Process(
            target=run_worker, args=(self.db, self.data, self.model, os.getpid()), daemon=True
        )
        worker.start()
        return worker

    def _watch(self) -> None:
        while not self._stop.wait(self.check_s):
            if self.worker is not None and not self.worker.is_alive():
                requeued = JobStore(self.db).requeue_interrupted()
                logger.warning("the worker died (exit %s); %d job(s) queued again, restarting it",
                               self.worker.exitcode, requeued)  # fmt: skip
                self.restarts += 1
                self.worker = self._start_worker()

    def __enter__(self) -> Supervisor:
        self.worker = self._start_worker()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self.worker is not None:
            self.worker.terminate()
            self.worker.join(timeout=10)
