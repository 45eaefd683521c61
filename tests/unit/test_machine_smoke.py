"""The smoke test in decide(): due once the canary is Succeeded, before any traffic; passed
is recorded and the next tick mirrors; a failure ends the rollout Failed with statuses and
latencies (never payloads) before any user traffic; unavailable holds."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from shared import machine as m
from shared.effects import CreateDeployment, DeleteDeployment, SetTraffic
from shared.fakes.endpoints import FakeEndpoints
from shared.model import ModelRef, Phase, Rollout
from shared.observation import Observation
from shared.policy import RolloutPolicy, Stage
from shared.policy_checks import SmokePolicy
from shared.reasons import (
    SHADOW_STARTED,
    SMOKE_FAILED,
    SMOKE_PASSED,
    SMOKE_TESTING,
    SMOKE_UNAVAILABLE,
)
from shared.smoke import SmokeResponse, SmokeResult, judge_smoke

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SMOKE = SmokePolicy(requests=3, sample="data_collection", latency_ms=200)
GOOD = SmokeResult(tuple(SmokeResponse(200, 40.0) for _ in range(3)))


def _policy(**kw: object) -> RolloutPolicy:
    base = RolloutPolicy(
        endpoint="fraud",
        shadow_percent=20,
        shadow_duration=60,
        stages=(Stage(10, 60, 600), Stage(100)),
        smoke=SMOKE,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


class World:
    def __init__(self, pol: RolloutPolicy) -> None:
        self.now = T0
        self.ep = FakeEndpoints(provisioning_reads=1)
        self.ep.add_endpoint("fraud", {"blue": "azureml:fraud:6"}, {"blue": 100})
        t = m.new_rollout(ModelRef("fraud", "7", event_id="e", event_time=T0), pol, T0, m.ADMITTED)
        self.r: Rollout = t.rollout
        self.reasons: list[str] = []
        self.evidence: list[dict[str, object]] = []
        self.traffic: list[SetTraffic] = []

    def step(self, smoke: SmokeResult | None = None, seconds: float = 70) -> None:
        self.now += timedelta(seconds=seconds)
        info = self.ep.get_endpoint("fraud")
        t = m.decide(self.r, Observation(info, None, None, None, None, smoke), self.now)
        for e in t.effects:
            if isinstance(e, CreateDeployment):
                self.ep.create_deployment("fraud", e)
            elif isinstance(e, SetTraffic):
                self.traffic.append(e)
                self.ep.set_traffic("fraud", e.traffic, e.mirror)
            elif isinstance(e, DeleteDeployment):
                self.ep.delete_deployment("fraud", e.name)
        if t.record is not None:
            self.reasons.append(t.record.reason)
            self.evidence.append(dict(t.record.evidence))
        self.r = t.rollout

    def provisioned(self) -> None:
        """Pending -> Provisioning -> the canary Succeeded (the fake needs a read)."""
        self.step()
        self.ep.get_endpoint("fraud")


def test_succeeded_canary_waits_for_its_smoke_test_without_traffic() -> None:
    w = World(_policy())
    w.provisioned()
    w.step(None)
    assert w.r.phase is Phase.PROVISIONING
    assert w.reasons[-1] == SMOKE_TESTING
    assert w.traffic == []


def test_passed_smoke_test_is_recorded_then_the_shadow_starts() -> None:
    w = World(_policy())
    w.provisioned()
    w.step(GOOD)
    assert w.reasons[-1] == SMOKE_PASSED
    assert w.r.phase is Phase.PROVISIONING and w.r.checks["smoke"]["passed"] is True
    assert w.traffic == []
    w.step(None)  # the smoke test is not run again: the shadow starts
    assert w.reasons[-1] == SHADOW_STARTED
    assert w.r.phase is Phase.SHADOWING


def test_one_non_200_answer_fails_the_rollout_before_any_traffic() -> None:
    w = World(_policy())
    w.provisioned()
    bad = SmokeResult((SmokeResponse(200, 40.0), SmokeResponse(500, 30.0), SmokeResponse(200, 1)))
    w.step(bad)
    assert w.reasons[-1] == SMOKE_FAILED
    assert w.r.outcome is Phase.FAILED  # rolling back: the canary is deleted
    assert w.traffic == []
    evidence = w.evidence[-1]
    assert evidence["failed"] == 1 and evidence["statuses"] == {"200": 2, "500": 1}
    assert evidence["failures"] == [{"status": 500, "latency_ms": 30.0, "index": 1}]


def test_an_answer_slower_than_the_bound_fails_the_smoke_test() -> None:
    passed, evidence = judge_smoke(
        SMOKE, SmokeResult((SmokeResponse(200, 10), SmokeResponse(200, 201), SmokeResponse(200, 5)))
    )
    assert not passed and evidence["failed"] == 1 and evidence["max_latency_ms"] == 201


def test_fewer_answers_than_requests_asked_fails_the_smoke_test() -> None:
    passed, evidence = judge_smoke(SMOKE, SmokeResult((SmokeResponse(200, 10),)))
    assert not passed and evidence["short_by"] == 2


def test_smoke_evidence_holds_statuses_and_latencies_only() -> None:
    _, evidence = judge_smoke(SMOKE, GOOD)
    assert set(evidence["responses"][0]) == {"status", "latency_ms"}


def test_unavailable_smoke_test_holds_and_fails_after_the_provisioning_timeout() -> None:
    w = World(_policy(provisioning_timeout=600))
    w.provisioned()
    w.step(SmokeResult(unavailable="no inputs"))
    assert w.reasons[-1] == SMOKE_UNAVAILABLE and w.r.phase is Phase.PROVISIONING
    w.step(SmokeResult(unavailable="no inputs"), seconds=600)
    assert w.reasons[-1] == SMOKE_FAILED and w.r.outcome is Phase.FAILED


def test_without_a_smoke_policy_the_shadow_starts_at_once() -> None:
    w = World(_policy(smoke=None))
    w.provisioned()
    w.step(None)
    assert w.reasons[-1] == SHADOW_STARTED
