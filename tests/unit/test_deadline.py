"""A time budget for the work under way (shared/deadline.py): waits take at most what is left."""

from __future__ import annotations

import pytest

from shared import deadline


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_without_a_budget_waits_are_as_asked() -> None:
    assert deadline.left() is None
    assert deadline.capped(20.0) == 20.0


def test_a_budget_caps_waits_to_what_is_left_and_ends_with_its_block() -> None:
    clock = Clock()
    with deadline.within(6.0, clock=clock):
        assert deadline.capped(20.0, clock=clock) == 6.0
        clock.t += 4.5
        assert deadline.left(clock=clock) == pytest.approx(1.5)
        assert deadline.capped(1.0, clock=clock) == 1.0
        clock.t += 10
        assert deadline.left(clock=clock) == 0.0  # spent: never negative
    assert deadline.left() is None


def test_an_inner_budget_never_outlasts_the_outer_one() -> None:
    clock = Clock()
    with deadline.within(2.0, clock=clock):
        with deadline.within(30.0, clock=clock):
            assert deadline.left(clock=clock) == pytest.approx(2.0)
        with deadline.within(1.0, clock=clock):
            assert deadline.left(clock=clock) == pytest.approx(1.0)


def test_a_negative_budget_is_refused() -> None:
    with pytest.raises(ValueError), deadline.within(-1):
        pass
