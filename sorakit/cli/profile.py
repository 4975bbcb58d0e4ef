"""`generate --profile`: where a cold run spends its time, phase by phase.

Phases are marked as the command reaches them; the first is counted from the process's own
start (read from /proc, so the interpreter and every import are in it). Sampling is told apart
from what comes before and after it by the sampler's step callback.
"""

from __future__ import annotations

import contextlib
import gc
import os
import time
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def collection_paused() -> Iterator[None]:
    """No garbage collection inside: importing torch and loading a model make hundreds of
    thousands of objects and no garbage, and the collector's passes over them cost a cold start
    about a tenth of a second."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def process_age() -> float | None:
    """Seconds since this process started, or None where /proc is not there."""
    try:
        stat = Path("/proc/self/stat").read_text()
        start_ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22: start, in ticks
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


class Phases:
    """Wall-clock marks: `mark(name)` ends the phase `name` now."""

    def __init__(self) -> None:
        age = process_age()
        self.last = time.perf_counter()
        self.rows: list[tuple[str, float]] = []
        if age is not None:
            self.rows.append(("interpreter and imports", age))
        self.first_step: float | None = None
        self.last_step: float | None = None

    def mark(self, name: str, at: float | None = None) -> None:
        now = time.perf_counter() if at is None else at
        self.rows.append((name, now - self.last))
        self.last = now

    def step(self) -> None:
        """The sampler's step callback: the first and the last step bound the sampling."""
        now = time.perf_counter()
        if self.first_step is None:
            self.first_step = now
        self.last_step = now

    def sampled(self) -> None:
        """Split the time since the last mark at the sampler's first and last steps."""
        if self.first_step is None or self.last_step is None:
            self.mark("generating")
            return
        self.mark("text encoding and planning (to the first step)", self.first_step)
        self.mark("sampling", self.last_step)
        self.mark("decoding (VAE, refiners after the last step)")

    def table(self) -> str:
        total = sum(s for _, s in self.rows)
        lines = [f"{name:<48} {seconds:7.2f} s  {100 * seconds / total:5.1f}%"
                 for name, seconds in self.rows]  # fmt: skip
        return "\n".join([*lines, f"{'total':<48} {total:7.2f} s"])
