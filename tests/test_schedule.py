import math

import pytest

from sorakit.train.schedule import learning_rate


def test_warmup_rises_linearly_to_the_base_rate():
    rates = [learning_rate(s, 1.0, warmup=4, total=100) for s in range(6)]
    assert rates == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1.0])


def test_constant_after_warmup():
    assert learning_rate(99, 2e-4, warmup=10, total=100, decay="constant") == 2e-4


def test_cosine_falls_from_base_to_floor_through_the_midpoint():
    lr = lambda s: learning_rate(s, 1.0, warmup=10, total=110, decay="cosine", floor=0.1)  # noqa: E731
    assert lr(10) == pytest.approx(1.0)
    assert lr(60) == pytest.approx(0.55)  # half way: (1 + 0.1) / 2
    assert lr(110) == pytest.approx(0.1)
    assert lr(500) == pytest.approx(0.1)  # past the end (resumed with more steps) stays at floor
    steps = [lr(s) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(steps[:-1], steps[1:], strict=True))
    assert not math.isclose(lr(30), lr(90))


def test_unknown_decay_is_refused():
    with pytest.raises(ValueError, match="cosine"):
        learning_rate(0, 1.0, warmup=0, total=10, decay="linear")
