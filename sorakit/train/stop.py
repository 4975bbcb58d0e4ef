"""Stopping a training run cleanly: Ctrl-C or SIGTERM (a cluster's pre-emption notice) asks the
run to stop at the next step boundary, where it saves a checkpoint, instead of losing every step
since the last scheduled one. A second signal stops at once, as Ctrl-C usually does."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import torch
import torch.distributed as dist

from sorakit.train.parallel import DistInfo

logger = logging.getLogger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopOnSignal:
    """`with StopOnSignal() as stop:` ... `if stop.requested(info, step): save and leave`.

    `after` also stops once `step` reaches it, as a signal would: a run staged in parts keeps
    the learning-rate schedule of its full `--steps`. Handlers are installed only on the main
    thread (Python allows no other) and the previous ones come back on exit."""

    def __init__(self, after: int | None = None) -> None:
        self.after = after
        self._asked = False
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._asked:
            raise KeyboardInterrupt
        self._asked = True
        name = signal.Signals(signum).name
        logger.warning("%s: stopping after this step with a checkpoint (again to stop now)", name)

    def requested(self, info: DistInfo | None = None, step: int | None = None) -> bool:
        """True once any rank has been signalled, or `step` has reached `after`; every rank
        must call it at the same step, because under torchrun the ranks get the signal at
        different moments."""
        asked = self._asked or (None not in (self.after, step) and step >= self.after)
        if info is None or info.world_size == 1:
            return asked
        flag = torch.tensor([int(asked)], device=info.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())
