"""decide() while a new deployment is still missing from Azure's answers right after its create
(Azure answers 404 for a while, and 409 to a second create): no second create within the grace,
one after it (the create really was lost)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared import machine as m
from shared.effects import CreateDeployment
from shared.fakes.endpoints import FakeEndpoints
from shared.model import ModelRef, Phase
from shared.observation import Observation
from shared.policy import RolloutPolicy, Stage

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _provisioning() -> tuple[m.Transition, FakeEndpoints]:
    ep = FakeEndpoints(provisioning_reads=1, hidden_reads=5)
    ep.add_endpoint("fraud", {"blue": "azureml:fraud:6"}, {"blue": 100})
    pol = RolloutPolicy(endpoint="fraud", stages=(Stage(50, min_duration=60), Stage(100)))
    t = m.new_rollout(ModelRef("fraud", "7", event_id="ev-1", event_time=T0), pol, T0, m.ADMITTED)
    t = m.decide(t.rollout, Observation(ep.get_endpoint("fraud"), None, None, None), T0)
    assert t.rollout.phase is Phase.PROVISIONING
    [create] = [e for e in t.effects if isinstance(e, CreateDeployment)]
    ep.create_deployment("fraud", create)
    return t, ep


def test_a_canary_missing_right_after_its_create_is_not_asked_for_again() -> None:
    t, ep = _provisioning()
    for seconds in (1, 10, 30, m.CREATE_GRACE_S - 1):
        info = ep.get_endpoint("fraud")
        assert "fraud-v7" not in info.deployments
        nxt = m.decide(
            t.rollout, Observation(info, None, None, None), T0 + timedelta(seconds=seconds)
        )
        assert nxt.rollout.phase is Phase.PROVISIONING
        assert not any(isinstance(e, CreateDeployment) for e in nxt.effects), seconds


def test_a_canary_still_missing_after_the_grace_is_created_again() -> None:
    t, ep = _provisioning()
    info = ep.get_endpoint("fraud")
    nxt = m.decide(
        t.rollout, Observation(info, None, None, None), T0 + timedelta(seconds=m.CREATE_GRACE_S)
    )
    assert [e.name for e in nxt.effects if isinstance(e, CreateDeployment)] == ["fraud-v7"]
