"""Stopping training on a signal: the request, a second signal, and the handlers restored."""

import os
import signal

import pytest

from sorakit.train.stop import StopOnSignal


def test_first_signal_asks_second_stops_now_and_handlers_come_back():
    before = signal.getsignal(signal.SIGTERM)
    with StopOnSignal() as stop:
        assert not stop.requested()
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGTERM) is before
