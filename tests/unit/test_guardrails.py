"""Absolute guardrails: a limit broken in every minute of its window rolls back, else nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared import guardrails as g
from shared.judge.types import Minute
from shared.policy import Guardrails

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
GUARD = Guardrails(error_rate=0.01, latency_ms={"p95": 500.0, "p99": 900.0}, for_s=180)


def minutes(*rows: tuple[int, int, float | None], start: int = 0) -> list[Minute]:
    return [
        Minute(n, x, 1000, 0, start=T0 + timedelta(minutes=start + i), canary_p95=p95)
        for i, (n, x, p95) in enumerate(rows)
    ]


def test_error_rate_over_the_limit_in_each_minute_of_the_window_fires() -> None:
    breach = g.check(minutes((100, 2, None), (100, 3, None), (100, 5, None)), GUARD, 60)
    assert breach is not None and breach.reason == g.GUARDRAIL_ERROR_RATE
    assert [row["value"] for row in breach.evidence["minutes"]] == [0.02, 0.03, 0.05]


def test_one_minute_under_the_limit_in_the_window_keeps_it_quiet() -> None:
    assert g.check(minutes((100, 2, None), (100, 0, None), (100, 5, None)), GUARD, 60) is None


def test_fewer_minutes_than_the_window_never_fire() -> None:
    assert g.check(minutes((100, 50, 900.0), (100, 50, 900.0)), GUARD, 60) is None


def test_a_gap_in_the_minutes_breaks_the_window() -> None:
    rows = minutes((100, 9, None), (100, 9, None)) + minutes((100, 9, None), start=5)
    assert g.check(rows, GUARD, 60) is None


def test_latency_over_the_limit_fires_with_its_reason_and_missing_values_never_do() -> None:
    slow = g.check(minutes((100, 0, 600.0), (100, 0, 700.0), (100, 0, 800.0)), GUARD, 60)
    assert slow is not None and slow.reason == g.GUARDRAIL_LATENCY
    assert slow.evidence["guardrail"] == "p95_latency_ms" and slow.evidence["limit"] == 500.0
    assert g.check(minutes((100, 0, 600.0), (100, 0, None), (100, 0, 800.0)), GUARD, 60) is None


def test_the_window_counts_metric_minutes_of_the_source() -> None:
    """for: 3m over 2-second demo minutes is 90 minutes of data."""
    assert g.window(GUARD, 60) == 3
    assert g.window(GUARD, 2) == 90
    assert g.check([], Guardrails(), 60) is None
