"""The invariant checks, on hand-built endpoints and decision records."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.model import DecisionRecord, Phase
from shared.observation import DeploymentInfo, EndpointInfo
from shared.simulation import invariants as inv


def info(traffic: dict[str, int], states: dict[str, str], mirror: dict[str, int] | None = None):
    return EndpointInfo(
        "fraud",
        traffic,
        mirror or {},
        {n: DeploymentInfo(n, s, "azureml:fraud:1") for n, s in states.items()},
    )


def rules(found: list[inv.Violation]) -> list[str]:
    return [v.rule for v in found]


def test_a_healthy_split_has_no_violation() -> None:
    ep = info({"blue": 90, "v2": 10}, {"blue": "Succeeded", "v2": "Succeeded"})
    assert inv.endpoint_violations(ep, served_before=True) == []


def test_traffic_not_summing_to_100_is_a_violation() -> None:
    ep = info({"blue": 90}, {"blue": "Succeeded"})
    assert rules(inv.endpoint_violations(ep, served_before=True)) == [inv.TRAFFIC_SUM]


def test_traffic_on_a_deleting_deployment_is_a_violation_and_serves_nobody() -> None:
    ep = info({"blue": 100}, {"blue": "Deleting"})
    found = rules(inv.endpoint_violations(ep, served_before=True))
    assert found == [inv.ROUTED_TO_UNHEALTHY, inv.NO_SERVING_DEPLOYMENT]


def test_traffic_to_a_missing_deployment_is_a_violation() -> None:
    ep = info({"blue": 100}, {})
    assert inv.ROUTED_TO_MISSING in rules(inv.endpoint_violations(ep, served_before=False))


def test_mirror_to_a_failed_deployment_is_a_violation() -> None:
    ep = info({"blue": 100}, {"blue": "Succeeded", "v2": "Failed"}, {"v2": 20})
    assert rules(inv.endpoint_violations(ep, served_before=True)) == [inv.MIRRORED_TO_UNHEALTHY]


def test_an_endpoint_at_zero_is_fine_only_if_it_never_served() -> None:
    ep = info({}, {"blue": "Succeeded"})
    assert inv.endpoint_violations(ep, served_before=False) == []
    assert rules(inv.endpoint_violations(ep, served_before=True)) == [inv.NO_SERVING_DEPLOYMENT]


def record(seq: int) -> DecisionRecord:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return DecisionRecord(seq, at, "r1", Phase.PENDING, Phase.PENDING, -1, -1, "X", "")


def test_gapless_decision_seqs_pass_and_a_gap_is_a_violation() -> None:
    assert inv.decision_violations([record(1), record(2), record(3)]) == []
    assert rules(inv.decision_violations([record(1), record(3)])) == [inv.DECISION_GAP]


def test_full_traffic_on_fewer_instances_than_the_baseline_is_a_violation() -> None:
    small = EndpointInfo(
        "fraud", {"v2": 100}, {}, {"v2": DeploymentInfo("v2", "Succeeded", "azureml:f:2", 1)}
    )
    assert rules(inv.endpoint_violations(small, served_before=True, min_instances=3)) == [
        inv.UNDERSIZED
    ]
    assert inv.endpoint_violations(small, served_before=True, min_instances=1) == []
    assert inv.endpoint_violations(small, served_before=True) == []


def test_a_deployment_just_given_the_whole_load_back_may_be_short_until_the_next_tick() -> None:
    """A rollback restores the split first and scales the baseline the tick after: the
    caller names it as settling for that tick, and only then is it held to the count."""
    small = EndpointInfo(
        "fraud", {"blue": 100}, {}, {"blue": DeploymentInfo("blue", "Succeeded", "azureml:f:1", 3)}
    )
    found = inv.endpoint_violations(
        small, served_before=True, min_instances=6, settling=frozenset({"blue"})
    )
    assert found == []
    other = frozenset({"green"})
    found = inv.endpoint_violations(small, served_before=True, min_instances=6, settling=other)
    assert rules(found) == [inv.UNDERSIZED]


def test_a_judge_step_without_its_promote_verdict_is_a_violation() -> None:
    from dataclasses import replace

    from shared.reasons import JUDGE_PROMOTE

    ok = replace(record(1), reason=JUDGE_PROMOTE, evidence={"verdict": "promote"})
    bad = replace(record(2), reason=JUDGE_PROMOTE, evidence={"verdict": "hold"})
    assert inv.decision_violations([ok]) == []
    assert rules(inv.decision_violations([ok, bad])) == [inv.PROMOTED_WITHOUT_VERDICT]


def test_a_canary_serving_beside_its_baseline_unjudged_is_a_violation() -> None:
    """A Canary rollout whose stage clock has not started (nothing would read its metrics)
    while the endpoint routes 10 % to it; judged once its stage traffic is confirmed."""
    from tests.unit.test_machine import PROMOTE, Sim

    sim = Sim()
    sim.until(Phase.CANARY, PROMOTE)
    r = sim.r.evolve(stage_since=None, confirmed=True, asked_at=None)
    ep = info({"blue": 90, r.canary: 10}, {"blue": "Succeeded", r.canary: "Succeeded"})
    found = inv.unjudged(ep, r)
    assert found is not None and found.rule == inv.UNJUDGED
    assert inv.unjudged(ep, r.evolve(stage_since=sim.now)) is None
    # nothing served: nothing to judge
    assert (
        inv.unjudged(info({"blue": 100}, {"blue": "Succeeded", r.canary: "Succeeded"}), r) is None
    )
