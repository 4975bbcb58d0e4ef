"""Process settings every trainer applies before its first step."""

from __future__ import annotations

import torch


def set_threads(threads: int | None, deterministic: bool) -> None:
    """`deterministic`: one intra-op thread and torch's deterministic algorithms, so that two
    runs (or a run and its resume) give bit-identical weights; otherwise `threads` intra-op
    threads (None: torch's default, faster, but float sums may then be reordered between runs
    by about 1e-7)."""
    if deterministic:
        torch.set_num_threads(1)
        torch.use_deterministic_algorithms(True, warn_only=True)
    elif threads:
        torch.set_num_threads(threads)
