"""The shadow comparison in decide(): the shadow cannot end before the answers agreed; an
agreement is recorded once; a disagreement rolls back or holds as the policy says; a judge
rollback comes first; no data blocks the shadow's end."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from shared import machine as m
from shared.judge.agreement import Agreement
from shared.judge.types import Verdict
from shared.model import ModelRef, Phase, Rollout
from shared.observation import DeploymentInfo, EndpointInfo, Observation
from shared.policy import RolloutPolicy, Stage
from shared.policy_checks import ComparePolicy
from shared.reasons import COMPARE_AGREES, COMPARE_DISAGREES, SHADOW_COMPLETE

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PROMOTE = Verdict("promote", "Cleared", {"log_e": 3.2})
ROLLBACK = Verdict("rollback", "ErrorRateRegression", {"log_e": 9.0})
AGREES = Agreement(200, 200, labels=200, flip_rate=0.0)
DISAGREES = Agreement(200, 200, labels=200, flip_rate=1.0, breaches={"flip_rate": (1.0, 0.02)})


def _shadow(on_fail: str = "rollback") -> tuple[Rollout, EndpointInfo]:
    pol = RolloutPolicy(
        endpoint="fraud",
        shadow_percent=20,
        shadow_duration=60,
        stages=(Stage(10, 60, 600), Stage(100)),
        compare=ComparePolicy(on_fail=on_fail),  # type: ignore[arg-type]
        warmup=0,
        settle=0,
    )
    r = m.new_rollout(ModelRef("fraud", "7"), pol, T0, m.ADMITTED).rollout
    r = replace(
        r,
        phase=Phase.SHADOWING,
        baseline="blue",
        canary="fraud-v7",
        traffic={"blue": 100},
        mirror={"fraud-v7": 20},
        prev_traffic={"blue": 100},
        prev_mirror={"fraud-v7": 20},
        baseline_traffic={"blue": 100},
        stage_since=T0,
        confirmed=True,
    )
    deps = {n: DeploymentInfo(n, "Succeeded") for n in ("blue", "fraud-v7")}
    ep = EndpointInfo("fraud", {"blue": 100, "fraud-v7": 0}, {"fraud-v7": 20}, deps)
    return r, ep


def _decide(
    r: Rollout, ep: EndpointInfo, verdict: Verdict, compare: Agreement | None
) -> m.Transition:
    obs = Observation(ep, verdict, None, None, None, None, compare)
    return m.decide(r, obs, T0 + timedelta(seconds=600))


def test_a_cleared_shadow_waits_for_the_comparison() -> None:
    r, ep = _shadow()
    t = _decide(r, ep, PROMOTE, None)
    assert t.rollout.phase is Phase.SHADOWING and t.rollout.stage == -1


def test_agreement_is_recorded_then_the_shadow_completes() -> None:
    r, ep = _shadow()
    t = _decide(r, ep, PROMOTE, AGREES)
    assert t.record is not None and t.record.reason == COMPARE_AGREES
    assert t.rollout.checks["compare"]["agrees"] is True
    t2 = _decide(t.rollout, ep, PROMOTE, None)
    assert t2.record is not None and t2.record.reason == SHADOW_COMPLETE


def test_disagreement_rolls_back_with_the_summary_in_the_evidence() -> None:
    r, ep = _shadow()
    t = _decide(r, ep, PROMOTE, DISAGREES)
    assert t.rollout.phase is Phase.ROLLING_BACK
    assert t.record is not None and t.record.reason == COMPARE_DISAGREES
    assert t.record.evidence["compare"]["breaches"]["flip_rate"] == {"value": 1.0, "bound": 0.02}


def test_disagreement_holds_for_an_operator_when_the_policy_says_hold() -> None:
    r, ep = _shadow(on_fail="hold")
    t = _decide(r, ep, PROMOTE, DISAGREES)
    assert t.rollout.paused and t.rollout.pause_reason == COMPARE_DISAGREES
    assert t.rollout.phase is Phase.SHADOWING


def test_the_judges_rollback_comes_before_the_comparison() -> None:
    r, ep = _shadow()
    t = _decide(r, ep, ROLLBACK, AGREES)
    assert t.record is not None and t.record.reason != COMPARE_AGREES
    assert t.rollout.phase is Phase.ROLLING_BACK


def test_no_data_from_the_comparison_never_ends_the_shadow() -> None:
    r, ep = _shadow()
    t = _decide(r, ep, PROMOTE, Agreement(0, 0, no_data="no inputs"))
    assert t.rollout.phase is Phase.SHADOWING and "compare" not in t.rollout.checks
