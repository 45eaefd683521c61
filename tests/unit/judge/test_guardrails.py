"""Absolute guardrails on the canary's own minutes: breach, reason, evidence, policy parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import PolicyError
from shared.judge import Minute
from shared.judge.guardrails import (
    GUARDRAIL_BREACHED,
    Guardrails,
    evaluate_guardrails,
)

T0 = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)


def _minute(i: int, errors: int = 0, p95: float | None = 120.0, n: int = 600) -> Minute:
    return Minute(n, errors, 5400, 0, start=T0 + timedelta(minutes=i), canary_p95=p95)


def test_an_error_rate_over_the_limit_for_the_whole_window_is_a_breach_with_evidence() -> None:
    g = Guardrails.from_mapping({"error_rate": 0.01, "for": "3m"})
    minutes = [_minute(0), _minute(1, 9), _minute(2, 12), _minute(3, 7)]
    breach = evaluate_guardrails(minutes, g)
    assert breach is not None and breach.metric == "error_rate"
    assert breach.reason == GUARDRAIL_BREACHED
    assert breach.evidence["values"] == [0.015, 0.02, round(7 / 600, 6)]
    assert breach.evidence["minutes"][0] == (T0 + timedelta(minutes=1)).isoformat()
    assert "above 1 % in each of the last 3 minutes" in breach.message
    verdict = breach.to_verdict()
    assert (verdict.decision, verdict.reason) == ("rollback", GUARDRAIL_BREACHED)


def test_the_baseline_does_not_matter_to_a_guardrail() -> None:
    """The baseline failing as much (or more) does not excuse the canary."""
    g = Guardrails(error_rate=0.01, for_minutes=2)
    minutes = [Minute(600, 30, 5400, 540), Minute(600, 30, 5400, 540)]
    assert evaluate_guardrails(minutes, g) is not None


def test_one_minute_under_the_limit_in_the_window_is_no_breach() -> None:
    g = Guardrails(error_rate=0.01, for_minutes=3)
    assert evaluate_guardrails([_minute(0, 9), _minute(1, 3), _minute(2, 9)], g) is None


def test_too_few_minutes_for_the_window_is_no_breach() -> None:
    g = Guardrails(error_rate=0.01, for_minutes=3)
    assert evaluate_guardrails([_minute(0, 60), _minute(1, 60)], g) is None


def test_a_minute_without_canary_traffic_breaks_the_run() -> None:
    g = Guardrails(error_rate=0.01, for_minutes=3)
    minutes = [_minute(0, 60), _minute(1, 0, n=0), _minute(2, 60)]
    assert evaluate_guardrails(minutes, g) is None


def test_min_requests_keeps_a_one_request_minute_from_counting() -> None:
    g = Guardrails(error_rate=0.01, for_minutes=1, min_requests=20)
    assert evaluate_guardrails([_minute(0, 1, n=5)], g) is None
    assert evaluate_guardrails([_minute(0, 1, n=20)], g) is not None


def test_a_p95_over_the_limit_is_a_breach_and_a_missing_p95_never_is() -> None:
    g = Guardrails.from_mapping({"p95_latency_ms": 500, "for": 120})
    slow = [_minute(0, p95=640.0), _minute(1, p95=710.0)]
    breach = evaluate_guardrails(slow, g)
    assert breach is not None and breach.metric == "p95_latency_ms"
    assert "P95 latency above 500 ms" in breach.message
    assert evaluate_guardrails([_minute(0, p95=640.0), _minute(1, p95=None)], g) is None


def test_every_breached_limit_is_listed_and_the_error_rate_comes_first() -> None:
    g = Guardrails(error_rate=0.01, p95_latency_ms=500.0, for_minutes=1)
    breach = evaluate_guardrails([_minute(0, 60, p95=900.0)], g)
    assert breach is not None and breach.metric == "error_rate"
    assert breach.evidence["breached"] == ["error_rate", "p95_latency_ms"]


def test_no_limit_set_is_never_a_breach() -> None:
    assert not Guardrails().enabled
    assert evaluate_guardrails([_minute(0, 600, p95=9e9)], Guardrails()) is None


def test_guardrails_round_trip_through_policy_data() -> None:
    g = Guardrails.from_mapping({"error_rate": 0.02, "p99_latency_ms": 800, "for": "2m"})
    assert Guardrails.from_mapping(g.to_dict()) == g


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"error_rate": 1.5}, "guardrails.error_rate"),
        ({"error_rate": 0}, "guardrails.error_rate"),
        ({"p95_latency_ms": "fast"}, "guardrails.p95_latency_ms"),
        ({"for": "90s"}, "guardrails.for"),
        ({"for": "soon"}, "guardrails.for"),
        ({"min_requests": 0}, "guardrails.min_requests"),
        ({"p97_latency_ms": 100}, "guardrails.p97_latency_ms"),
    ],
)
def test_bad_guardrails_are_a_policy_error_naming_the_field(
    raw: dict[str, object], field: str
) -> None:
    with pytest.raises(PolicyError) as info:
        Guardrails.from_mapping(raw)
    assert info.value.field == field
