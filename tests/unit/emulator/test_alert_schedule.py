"""The alert evaluator's schedule: each evaluation period at its own time, so a loop that ran
late evaluates the windows it missed instead of skipping the minutes they held."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from emulator.alerts import MAX_CATCH_UP, AlertEngine

BUCKET = 2.0  # real seconds in one API minute


def _engine() -> AlertEngine:
    return AlertEngine(SimpleNamespace(bucket_seconds=BUCKET))  # type: ignore[arg-type]


def _rule(next_due: float) -> SimpleNamespace:
    return SimpleNamespace(frequency="PT1M", next_due=next_due)


def test_a_loop_on_time_evaluates_the_one_period_due() -> None:
    rule = _rule(100.0)
    assert _engine().due_times(rule, 100.5) == [100.0]  # type: ignore[arg-type]
    assert rule.next_due == 100.0 + BUCKET


def test_a_late_loop_evaluates_every_period_it_missed_at_its_own_time() -> None:
    rule = _rule(100.0)
    due = _engine().due_times(rule, 100.0 + 3.5 * BUCKET)  # type: ignore[arg-type]
    assert due == pytest.approx([100.0 + i * BUCKET for i in range(4)])
    assert rule.next_due == pytest.approx(100.0 + 4 * BUCKET)


def test_a_stalled_loop_catches_up_a_bounded_number_then_starts_again_from_now() -> None:
    rule = _rule(100.0)
    now = 100.0 + 50 * BUCKET
    due = _engine().due_times(rule, now)  # type: ignore[arg-type]
    assert len(due) == MAX_CATCH_UP and due[0] == 100.0
    assert rule.next_due == pytest.approx(now + BUCKET)


def test_nothing_is_due_before_its_time() -> None:
    rule = _rule(100.0)
    assert _engine().due_times(rule, 99.0) == []  # type: ignore[arg-type]
    assert rule.next_due == 100.0
