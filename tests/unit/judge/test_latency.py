"""exceedances_from_latencies: per-request latencies to the judge's exceedance counts; which
latency levels the judge can measure at a stage's traffic."""

from __future__ import annotations

import pytest

from shared.errors import InvalidInput, PolicyError
from shared.judge import (
    CLEARED,
    LATENCY_NOT_MEASURABLE,
    JudgeSettings,
    Minute,
    empirical_quantile,
    exceedances_from_latencies,
    judge_stage,
)


def test_counts_requests_slower_than_the_previous_minutes_baseline_quantile() -> None:
    previous = [float(v) for v in range(1, 101)]  # P50 = 50, P90 = 90
    canary = [10.0, 55.0, 60.0, 95.0]
    baseline = [10.0, 20.0, 51.0, 91.0, 30.0]
    p50, p90 = exceedances_from_latencies(previous, canary, baseline, levels=(0.5, 0.9))
    assert (p50.threshold_ms, p50.canary_slow, p50.canary_total) == (50.0, 3, 4)
    assert (p50.baseline_slow, p50.baseline_total) == (2, 5)
    assert (p90.threshold_ms, p90.canary_slow, p90.baseline_slow) == (90.0, 1, 1)
    assert p50.canary_threshold_ms is None


def test_a_margin_raises_the_canarys_threshold_only() -> None:
    (e,) = exceedances_from_latencies([100.0] * 10, [105.0, 115.0], [105.0], levels=(0.5,),
                                      margin=0.1)  # fmt: skip
    assert e.canary_threshold_ms == pytest.approx(110.0)
    assert (e.canary_slow, e.baseline_slow) == (1, 1)


def test_no_previous_baseline_minute_gives_no_data() -> None:
    assert exceedances_from_latencies([], [1.0], [1.0]) == ()


def test_empirical_quantile_is_the_smallest_value_covering_the_level() -> None:
    assert empirical_quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0
    assert empirical_quantile([1.0, 2.0, 3.0, 4.0], 0.51) == 3.0


def test_negative_latency_is_refused() -> None:
    with pytest.raises(InvalidInput, match="canary_ms"):
        exceedances_from_latencies([1.0], [-1.0], [1.0])


# ------------------------------------------------------------ measurable levels (judge_stage)
def _same(n: int, x: int, m: int, y: int) -> Minute:
    return Minute(
        n, x, m, y,
        canary_p50=50.0, canary_p90=95.0, canary_p99=170.0,
        baseline_p50=50.0, baseline_p90=95.0, baseline_p99=170.0,
    )  # fmt: skip


def test_p99_that_cannot_be_measured_at_100_requests_a_minute_does_not_block() -> None:
    """1000 req/min at 10 %: P99 needs 500 a minute on each side; P50 and P90 decide."""
    verdict = judge_stage([_same(100, 5, 900, 45)] * 30, JudgeSettings())
    assert (verdict.decision, verdict.reason) == ("promote", CLEARED)
    latency = verdict.evidence["latency"]
    assert latency["measurable_levels"] == ["0.5", "0.9"]
    p99 = latency["clear"]["levels"]["0.99"]
    assert p99["measurable"] is False and "P99 needs 500 requests" in p99["why"]
    assert "canary had a median of 100" in p99["why"]


def test_no_measurable_level_holds_the_stage_and_says_why() -> None:
    settings = JudgeSettings(latency_levels=(0.9, 0.99), clear_alpha=0.5)
    verdict = judge_stage([_same(8, 2, 72, 18)] * 20, settings)
    assert (verdict.decision, verdict.reason) == ("hold", LATENCY_NOT_MEASURABLE)
    why = verdict.evidence["latency"]["why"]
    assert "P90 needs 50 requests" in why and "P99 needs 500 requests" in why


def test_the_policy_chooses_the_latency_levels() -> None:
    settings = JudgeSettings.from_mapping({"latency_levels": [0.5, 0.9]})
    verdict = judge_stage([_same(600, 3, 5400, 27)] * 12, settings)
    latency = verdict.evidence["latency"]
    assert latency["levels_configured"] == ["0.5", "0.9"]
    assert sorted(latency["clear"]["levels"]) == ["0.5", "0.9"]
    assert verdict.decision == "promote"


def test_a_level_the_percentile_metrics_do_not_carry_is_reported_not_measurable() -> None:
    settings = JudgeSettings(latency_levels=(0.5, 0.75))
    verdict = judge_stage([_same(600, 3, 5400, 27)] * 12, settings)
    p75 = verdict.evidence["latency"]["clear"]["levels"]["0.75"]
    assert p75["measurable"] is False and "no per-minute percentile at P75" in p75["why"]
    assert "P95" in p75["why"]  # the levels Azure Monitor does give are named
    assert verdict.decision == "promote"


def test_a_p95_level_is_judged_from_the_p95_metric() -> None:
    """Azure Monitor gives RequestLatency_P95 (read into every minute): a policy guarding
    P95 alone rolls a canary slower there back, and clears one that is not."""
    from dataclasses import replace

    slow = [
        replace(_same(1000, 10, 5000, 50), canary_p95=400.0, baseline_p95=150.0) for _ in range(30)
    ]
    settings = JudgeSettings(latency_levels=(0.95,))
    verdict = judge_stage(slow, settings)
    assert verdict.decision == "rollback"
    assert verdict.evidence["latency"]["rollback"]["source"] == "aggregates"
    same = [replace(m, canary_p95=150.0) for m in slow]
    assert judge_stage(same, settings).decision == "promote"


def test_a_level_measurable_in_under_half_of_the_minutes_does_not_block() -> None:
    """P99 measurable only in the 3 busy minutes of 12: reported, not required."""
    minutes = [_same(600, 3, 5400, 27)] * 3 + [_same(300, 2, 2700, 14)] * 9
    latency = judge_stage(minutes, JudgeSettings()).evidence["latency"]
    assert latency["clear"]["levels"]["0.99"]["measurable_minutes"] == 3
    assert latency["measurable_levels"] == ["0.5", "0.9"]


def test_latency_min_tail_is_a_policy_setting() -> None:
    settings = JudgeSettings.from_mapping({"latency_min_tail": 1})
    latency = judge_stage([_same(100, 5, 900, 45)] * 12, settings).evidence["latency"]
    assert latency["measurable_levels"] == ["0.5", "0.9", "0.99"]
    with pytest.raises(PolicyError):
        JudgeSettings.from_mapping({"latency_min_tail": 0})
