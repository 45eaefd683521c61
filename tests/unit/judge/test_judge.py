"""judge_stage: decisions, evidence, edge cases, and seeded error-rate properties."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import InvalidInput, PolicyError
from shared.judge import (
    ACCUMULATING,
    CLEARED,
    ERROR_RATE_CEILING,
    ERROR_RATE_REGRESSION,
    INSUFFICIENT_DATA,
    LATENCY_ACCUMULATING,
    LATENCY_NOT_MEASURABLE,
    LATENCY_REGRESSION,
    NO_DATA,
    REASONS,
    Exceedance,
    JudgeSettings,
    Minute,
    SequentialJudge,
    StageJudge,
    Verdict,
    decision_from_evidence,
    judge_series,
    judge_stage,
)

ERRORS_ONLY = JudgeSettings(guard_latency=False)


def _steady(canary_errors: int, minutes: int = 20) -> list[Minute]:
    return [Minute(600, canary_errors, 5400, 27) for _ in range(minutes)]


def _first(verdicts: list[Verdict], decision: str) -> int | None:
    return next((i for i, v in enumerate(verdicts) if v.decision == decision), None)


# ------------------------------------------------------------------------------ decisions
def test_a_canary_with_twice_the_error_rate_is_rolled_back_for_error_rate() -> None:
    verdict = judge_stage(_steady(6, 15), ERRORS_ONLY)
    assert (verdict.decision, verdict.reason) == ("rollback", ERROR_RATE_REGRESSION)


def test_a_canary_with_the_baseline_error_rate_is_promoted_as_cleared() -> None:
    verdict = judge_stage(_steady(3, 10), ERRORS_ONLY)
    assert (verdict.decision, verdict.reason) == ("promote", CLEARED)


def test_a_rollback_stays_a_rollback_once_the_evidence_crossed() -> None:
    minutes = _steady(20, 2) + _steady(0, 30)  # a burst, then recovery
    verdicts = judge_series(minutes, ERRORS_ONLY)
    first = _first(verdicts, "rollback")
    assert first is not None and first < 2
    assert all(v.decision == "rollback" for v in verdicts[first:])


def test_min_minutes_and_min_requests_gate_promotion() -> None:
    strict = JudgeSettings(guard_latency=False, min_minutes=12, min_requests=8000)
    verdicts = judge_series(_steady(3, 14), strict)
    assert judge_stage(_steady(3, 11), ERRORS_ONLY).decision == "promote"  # without the gates
    assert verdicts[10].reason == INSUFFICIENT_DATA  # 11 minutes: too few minutes
    assert verdicts[12].reason == INSUFFICIENT_DATA  # 13 minutes, 7800 requests: too few
    assert verdicts[13].decision == "promote"  # 14 minutes, 8400 requests


def test_min_error_events_gates_clearing_on_errors() -> None:
    verdict = judge_stage(_steady(3, 10), JudgeSettings(guard_latency=False, min_error_events=400))
    assert verdict.reason == ACCUMULATING
    assert verdict.evidence["error_rate"]["error_events"] == 300


def test_judge_stage_is_the_last_verdict_of_the_series_and_deterministic() -> None:
    minutes = _steady(4, 12)
    assert judge_stage(minutes, ERRORS_ONLY) == judge_series(minutes, ERRORS_ONLY)[-1]
    assert judge_stage(minutes, ERRORS_ONLY) == judge_stage(minutes, ERRORS_ONLY)


def test_sequential_judge_implements_the_port() -> None:
    minutes = _steady(3, 10)
    assert SequentialJudge().judge_stage(minutes, ERRORS_ONLY) == judge_stage(minutes, ERRORS_ONLY)


# ----------------------------------------------------------------------------- edge cases
def test_no_minutes_is_no_data() -> None:
    assert (judge_stage([], JudgeSettings()).decision, judge_stage([], JudgeSettings()).reason) == (
        "hold",
        NO_DATA,
    )


def test_zero_traffic_minutes_are_no_data() -> None:
    minutes = [Minute(0, 0, 5400, 30), Minute(0, 0, 0, 0), Minute(600, 0, 0, 0)] * 10
    verdict = judge_stage(minutes, JudgeSettings())
    assert (verdict.decision, verdict.reason) == ("hold", NO_DATA)
    assert verdict.evidence["minutes_no_traffic"] == 30


def test_zero_errors_on_both_sides_clears_on_the_absolute_margin_in_six_minutes() -> None:
    """600 canary requests a minute (10 req/s), no error anywhere: evidence that the canary's
    rate is under baseline + 0.1 percentage points (3600 clean requests at clear_alpha 0.05)."""
    verdicts = judge_series([Minute(600, 0, 5400, 0)] * 10, ERRORS_ONLY)
    assert _first(verdicts, "promote") == 5
    assert verdicts[4].reason == ACCUMULATING
    assert verdicts[5].reason == CLEARED
    assert verdicts[5].evidence["error_rate"]["clear_abs_log_e"] > 3.0


def test_zero_errors_on_both_sides_is_no_evidence_without_an_absolute_margin() -> None:
    no_abs = JudgeSettings(guard_latency=False, clear_abs_margin=0.0)
    verdict = judge_stage([Minute(600, 0, 5400, 0)] * 60, no_abs)
    assert (verdict.decision, verdict.reason) == ("hold", ACCUMULATING)


def test_rare_errors_on_both_sides_clear_on_the_absolute_margin_first() -> None:
    """0.05 % on both sides: too few events for the ratio, enough clean requests for d."""
    minutes = [Minute(2000, 1, 18000, 9) for t in range(30)]
    verdicts = judge_series(minutes, ERRORS_ONLY)
    first = _first(verdicts, "promote")
    assert first is not None and first < 12
    evidence = verdicts[first].evidence["error_rate"]
    assert evidence["clear_abs_log_e"] > evidence["clear_ratio_log_e"]


def test_all_errors_on_both_sides_is_never_a_promotion() -> None:
    verdict = judge_stage([Minute(600, 600, 5400, 5400)] * 30, ERRORS_ONLY)
    assert (verdict.decision, verdict.reason) == ("hold", ERROR_RATE_CEILING)


def test_a_canary_failing_every_request_is_rolled_back_on_the_second_minute() -> None:
    verdicts = judge_series([Minute(600, 600, 5400, 27)] * 2, ERRORS_ONLY)
    assert [v.decision for v in verdicts] == ["hold", "rollback"]
    assert verdicts[1].reason == ERROR_RATE_REGRESSION


def test_no_single_minute_carries_the_rollback_evidence_alone() -> None:
    """One outlying minute (canary-only noise, a half-ingested minute) never decides alone."""
    verdict = judge_stage([Minute(600, 300, 5400, 27)], ERRORS_ONLY)
    errors = verdict.evidence["error_rate"]
    assert verdict.decision == "hold"
    assert errors["peak_log_e"] <= 0.55 * verdict.evidence["rollback_threshold_log_e"] + 1e-6


def test_gaps_do_not_count_towards_the_minimum_duration() -> None:
    gappy = [Minute(600, 3, 5400, 27), Minute(0, 0, 0, 0), Minute(0, 0, 0, 0)] * 4
    verdict = judge_stage(gappy, JudgeSettings(guard_latency=False, min_minutes=5))
    assert (verdict.decision, verdict.reason) == ("hold", INSUFFICIENT_DATA)
    assert verdict.evidence["minutes_with_data"] == 4


def test_more_errors_than_requests_is_skipped_as_inconsistent() -> None:
    verdict = judge_stage([Minute(10, 50, 5400, 27)], ERRORS_ONLY)
    assert (verdict.decision, verdict.reason) == ("hold", NO_DATA)
    assert verdict.evidence["minutes_inconsistent"] == 1


@pytest.mark.parametrize(
    ("minute", "field"),
    [
        (Minute(-1, 0, 10, 0), "minutes[0].canary_requests"),
        (Minute(10, 0, 10, 0, canary_p50=float("nan")), "minutes[0].canary_p50"),
        (Minute(10, 0, 10, 0, baseline_p90=-1.0), "minutes[0].baseline_p90"),
        (Minute(10, 0, 10, 0, exceedances=(Exceedance(0.9, 0.0, 1, 10, 1, 10),)), "threshold_ms"),
    ],
)
def test_malformed_minutes_raise_invalid_input_naming_the_field(minute: Minute, field: str) -> None:
    with pytest.raises(InvalidInput, match=field.replace("[", r"\[").replace("]", r"\]")):
        judge_stage([minute], JudgeSettings())


_count = st.integers(min_value=0, max_value=50)


@st.composite
def _minutes(draw: st.DrawFn) -> list[Minute]:
    out = []
    for _ in range(draw(st.integers(min_value=0, max_value=12))):
        n, m = draw(_count), draw(st.integers(min_value=0, max_value=400))
        x = draw(st.sampled_from([0, n, draw(st.integers(0, n)), n + 1]))
        y = draw(st.sampled_from([0, m, draw(st.integers(0, m))]))
        p = draw(st.one_of(st.none(), st.floats(0, 1e4)))
        out.append(Minute(n, x, m, y, canary_p50=p, baseline_p50=p, canary_p99=p, baseline_p99=1.0))
    return out


@settings(max_examples=150, deadline=None)
@given(_minutes(), st.sampled_from([JudgeSettings(), ERRORS_ONLY]))
def test_any_series_of_counts_gives_json_evidence_that_reproduces_the_decision(
    minutes: list[Minute], judge_settings: JudgeSettings
) -> None:
    verdict = judge_stage(minutes, judge_settings)
    assert verdict.reason in REASONS
    recorded = json.loads(json.dumps(verdict.evidence, allow_nan=False))
    assert decision_from_evidence(recorded) == (verdict.decision, verdict.reason)
    if verdict.decision == "promote":  # never on no data, no errors, or a failing canary
        ev = verdict.evidence
        assert ev["minutes_with_data"] > 0 and ev["error_rate"]["error_events"] > 0
        assert ev["canary_errors"] <= 0.5 * ev["canary_requests"]


# --------------------------------------------------------------------------------- latency
def _slow_minute(factor: float, *, n: int = 600, m: int = 5400) -> Minute:
    return Minute(
        n, 3, m, 27,
        canary_p50=50.0 * factor, canary_p90=95.0 * factor, canary_p99=170.0 * factor,
        baseline_p50=50.0, baseline_p90=95.0, baseline_p99=170.0,
    )  # fmt: skip


def test_slower_percentiles_every_minute_roll_back_for_latency_in_about_ten_minutes() -> None:
    verdicts = judge_series([_slow_minute(1.3)] * 15, JudgeSettings())
    first = _first(verdicts, "rollback")
    assert first is not None and 6 <= first <= 11
    assert verdicts[first].reason == LATENCY_REGRESSION
    assert verdicts[first].evidence["metrics_guarded"] == 2


def test_percentiles_within_the_margin_clear_latency_and_promote() -> None:
    verdict = judge_stage([_slow_minute(1.02)] * 15, JudgeSettings(latency_margin=0.1))
    assert (verdict.decision, verdict.reason) == ("promote", CLEARED)


def test_p99_from_too_few_requests_is_not_compared() -> None:
    verdict = judge_stage([_slow_minute(1.3, n=100)] * 15, JudgeSettings())
    levels = verdict.evidence["latency"]["rollback"]["levels"]
    assert levels["0.99"]["minutes"] == 0 and levels["0.5"]["minutes"] == 15


def test_latency_not_yet_cleared_holds_a_stage_cleared_on_errors() -> None:
    verdict = judge_stage([_slow_minute(1.1)] * 10, JudgeSettings(latency_margin=0.1))
    assert (verdict.decision, verdict.reason) == ("hold", LATENCY_ACCUMULATING)


def _exceedance(level: float, canary_slow: int, margin: float | None) -> Exceedance:
    return Exceedance(
        level=level,
        threshold_ms=100.0,
        canary_slow=canary_slow,
        canary_total=600,
        baseline_slow=round(5400 * (1 - level)),
        baseline_total=5400,
        canary_threshold_ms=None if margin is None else 100.0 * (1 + margin),
    )


def test_per_request_exceedances_detect_a_slower_canary_within_a_few_minutes() -> None:
    slow = (_exceedance(0.5, 345, None), _exceedance(0.9, 83, None), _exceedance(0.99, 10, None))
    minutes = [Minute(600, 3, 5400, 27, exceedances=slow)] * 5
    verdicts = judge_series(minutes, JudgeSettings(latency_margin=0.0))
    first = _first(verdicts, "rollback")
    assert first is not None and first <= 3
    assert verdicts[first].reason == LATENCY_REGRESSION
    assert verdicts[first].evidence["latency"]["rollback"]["source"] == "requests"


def test_exceedances_counted_without_the_policy_margin_only_serve_clearing() -> None:
    slow = (_exceedance(0.5, 345, None),)
    verdict = judge_stage([Minute(600, 3, 5400, 27, exceedances=slow)] * 10, JudgeSettings())
    latency = verdict.evidence["latency"]
    assert latency["rollback"] is None and latency["clear"]["source"] == "requests"
    assert verdict.decision == "hold" and verdict.reason == LATENCY_ACCUMULATING


def test_no_latency_data_while_latency_is_guarded_holds_and_says_why() -> None:
    verdict = judge_stage(_steady(3, 12), JudgeSettings())
    assert (verdict.decision, verdict.reason) == ("hold", LATENCY_NOT_MEASURABLE)
    assert verdict.evidence["metrics_guarded"] == 1
    assert verdict.evidence["latency"]["measurable_levels"] == []
    assert "no latency data" in verdict.evidence["latency"]["why"]


def test_no_latency_data_is_no_obstacle_when_latency_is_not_guarded() -> None:
    verdict = judge_stage(_steady(3, 12), ERRORS_ONLY)
    assert (verdict.decision, verdict.reason) == ("promote", CLEARED)
    assert verdict.evidence["latency"] is None


# ---------------------------------------------------------------------- seeded properties
def _null_runs(runs: int, minutes: int, seed: int, canary_ratio: float) -> np.ndarray:
    """Counts (runs, minutes, 4) with a traffic share and a baseline error rate that change
    every minute, and canary error rate = canary_ratio x baseline."""
    rng = np.random.default_rng(seed)
    share = rng.uniform(0.05, 0.6, (runs, minutes))
    total = rng.poisson(3000, (runs, minutes))
    n = rng.binomial(total, share)
    m = total - n
    pb = 0.005 * rng.uniform(0.2, 4.0, (runs, minutes))
    x = rng.binomial(n, np.clip(canary_ratio * pb, 0, 1))
    y = rng.binomial(m, pb)
    return np.stack([n, x, m, y], axis=-1)


def _decisions(counts: np.ndarray, judge_settings: JudgeSettings) -> list[str]:
    """Whether each run was ever rolled back / promoted when asked every minute."""
    out = []
    for run in counts.tolist():
        judge = StageJudge(judge_settings)
        seen = "hold"
        for n, x, m, y in run:
            judge.add(Minute(n, x, m, y))
            decision = judge.verdict().decision
            if decision == "rollback":
                seen = "rollback"
                break
            if decision == "promote":
                seen = "promote"
        out.append(seen)
    return out


def _bound(alpha: float, runs: int) -> float:
    return alpha + 3 * math.sqrt(alpha * (1 - alpha) / runs)


def test_false_rollbacks_stay_within_alpha_under_a_changing_traffic_share() -> None:
    """At the null ratio, asked every minute for 40 minutes, with share and baseline rate
    changing every minute (a formula that held the share fixed would fail this)."""
    alpha, runs = 0.05, 400
    for tolerance in (1.0, 1.5):
        counts = _null_runs(runs, 40, seed=11, canary_ratio=tolerance)
        judge_settings = JudgeSettings(
            alpha=alpha, tolerance=tolerance, clear_margin=3.0, guard_latency=False
        )
        rate = _decisions(counts, judge_settings).count("rollback") / runs
        assert rate <= _bound(alpha, runs), (tolerance, rate)


def test_false_promotions_stay_within_clear_alpha_at_the_margin() -> None:
    clear_alpha, runs = 0.1, 400
    counts = _null_runs(runs, 40, seed=12, canary_ratio=2.0)
    judge_settings = JudgeSettings(
        alpha=1e-9, clear_margin=2.0, clear_alpha=clear_alpha, guard_latency=False
    )
    rate = _decisions(counts, judge_settings).count("promote") / runs
    assert rate <= _bound(clear_alpha, runs)


def test_detection_is_monotone_in_the_effect_size() -> None:
    """Nested errors (x1.5 within x2 within x4, per minute) are detected no later, run by run,
    by the binomial e-process; with the dispersion estimate (data-driven, so a thinned run can
    look steadier than the one it was drawn from) no later in total."""
    rng = np.random.default_rng(5)
    runs, minutes = 60, 20
    n = rng.binomial(rng.poisson(6000, (runs, minutes)), 0.1)
    m = rng.poisson(5400, (runs, minutes))
    y = rng.binomial(m, 0.005)
    x4 = rng.binomial(n, 0.02)
    x2 = rng.binomial(x4, 0.5)
    x15 = rng.binomial(x2, 0.75)

    def times(settings: JudgeSettings) -> list[list[int]]:
        out = []
        for x in (x15, x2, x4):
            t = []
            for r in range(runs):
                verdicts = judge_series(
                    [
                        Minute(int(a), int(b), int(c), int(d))
                        for a, b, c, d in zip(n[r], x[r], m[r], y[r], strict=True)
                    ],
                    settings,
                )
                first = _first(verdicts, "rollback")
                t.append(minutes if first is None else first)
            out.append(t)
        return out

    binomial = times(replace(ERRORS_ONLY, estimate_dispersion=False))
    for weaker, stronger in itertools.pairwise(binomial):
        assert all(s <= w for w, s in zip(weaker, stronger, strict=True))
    assert sum(binomial[0]) > sum(binomial[2])
    tempered = [sum(t) for t in times(ERRORS_ONLY)]
    assert tempered[0] > tempered[1] > tempered[2]


# ---------------------------------------------------------------------------------- policy
def test_a_clear_margin_not_above_the_tolerance_is_a_policy_error() -> None:
    with pytest.raises(PolicyError) as info:
        JudgeSettings.from_mapping({"tolerance": 1.5, "clear_margin": 1.5})
    assert info.value.field == "judge.clear_margin"
