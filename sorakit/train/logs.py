"""TensorBoard logs for every trainer; training works without TensorBoard installed."""

from __future__ import annotations

import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def summary_writer(folder: Path, purge_step: int | None = None):
    """A TensorBoard SummaryWriter for `folder`, or None (with one warning) without TensorBoard.
    `purge_step`, on a resume: the logs of that step and later, written after the checkpoint
    resumed from, are dropped, so no step appears twice."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        logger.warning("tensorboard is not installed; no TensorBoard logs")
        return None
    return SummaryWriter(str(folder), purge_step=purge_step)
