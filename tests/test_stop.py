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


def test_changed_settings_include_settings_newer_than_the_checkpoint(tmp_path):
    from sorakit.train.checkpoint import changed_settings

    saved = {"model": "tiny", "steps": 2, "lr": 1e-3}
    current = {"model": "tiny", "steps": 4, "lr": 1e-3, "edge_weight": 0.3, "threads": None}
    lines = changed_settings(tmp_path, saved, current, fixed=("model",))
    assert lines == ["steps: 2 -> 4", "edge_weight: (absent) -> 0.3"]
