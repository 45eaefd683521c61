"""Evidence carried into a stage from the rollout's earlier judged phases (shared.carry builds
it): it lowers the bar for a rollback, never for a promotion, and the evidence records it."""

from __future__ import annotations

import json
import math

import pytest

from shared.judge import (
    ERROR_RATE_REGRESSION,
    LATENCY_REGRESSION,
    Carried,
    JudgeSettings,
    Minute,
    decision_from_evidence,
    judge_series,
    judge_stage,
)

ERRORS_ONLY = JudgeSettings(guard_latency=False)


def _minutes(canary_errors: int, count: int) -> list[Minute]:
    return [Minute(600, canary_errors, 5400, 27) for _ in range(count)]


def test_evidence_carried_from_earlier_stages_rolls_back_a_stage_that_alone_would_hold() -> None:
    minutes = _minutes(5, 6)  # 1.67x for six minutes: not enough on its own
    alone = judge_stage(minutes, ERRORS_ONLY)
    assert alone.decision != "rollback"
    peak = alone.evidence["error_rate"]["peak_log_e"]
    threshold = alone.evidence["rollback_threshold_log_e"]
    carried = Carried(errors=threshold - peak + 0.01)
    verdict = judge_stage(minutes, ERRORS_ONLY, carried)
    assert (verdict.decision, verdict.reason) == ("rollback", ERROR_RATE_REGRESSION)
    assert verdict.evidence["error_rate"]["carried_log_e"] == pytest.approx(carried.errors)


def test_no_carried_evidence_is_the_stage_alone() -> None:
    minutes = _minutes(3, 10)
    assert judge_stage(minutes, ERRORS_ONLY, Carried()) == judge_stage(minutes, ERRORS_ONLY)


def test_carried_evidence_never_promotes_or_clears() -> None:
    minutes = _minutes(3, 3)
    held = judge_stage(minutes, ERRORS_ONLY)
    with_carry = judge_stage(minutes, ERRORS_ONLY, Carried(errors=-5.0))
    assert with_carry.decision == held.decision
    assert (
        with_carry.evidence["error_rate"]["clear_log_e"]
        == held.evidence["error_rate"]["clear_log_e"]
    )


def test_carried_latency_evidence_counts_for_the_latency_test_only() -> None:
    slow = [
        Minute(
            600,
            3,
            5400,
            27,
            canary_p50=60.0,
            canary_p90=114.0,
            canary_p99=204.0,
            baseline_p50=50.0,
            baseline_p90=95.0,
            baseline_p99=170.0,
        )
    ] * 3
    alone = judge_stage(slow, JudgeSettings())
    assert alone.decision != "rollback"
    verdict = judge_stage(
        slow, JudgeSettings(), Carried(latency=alone.evidence["rollback_threshold_log_e"])
    )
    assert (verdict.decision, verdict.reason) == ("rollback", LATENCY_REGRESSION)
    assert verdict.evidence["latency"]["carried_log_e"] > 0


def test_the_recorded_evidence_with_carried_evidence_reproduces_the_decision() -> None:
    for verdict in judge_series(_minutes(5, 8), ERRORS_ONLY, Carried(errors=2.5)):
        recorded = json.loads(json.dumps(verdict.evidence, allow_nan=False))
        assert decision_from_evidence(recorded) == (verdict.decision, verdict.reason)


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_carried_evidence_must_be_finite(value: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        Carried(errors=value)
