"""decide() on alert commands that name deployments (the alert's ``deployment`` dimension)."""

from __future__ import annotations

from shared import machine as m
from shared.model import Phase
from shared.observation import Command
from tests.unit.test_machine import HOLD, PROMOTE, Sim, policy


def _alert(*deployments: str) -> Command:
    return Command(
        "alert",
        "alert p99 fired",
        actor="alert:p99",
        evidence={"alert_id": "a1"},
        deployments=deployments,
    )


def _live_canary() -> Sim:
    sim = Sim(policy(shadow_percent=0))
    sim.until(Phase.CANARY, PROMOTE)
    sim.step(HOLD)  # split confirmed
    return sim


def test_alert_naming_the_baseline_is_recorded_and_rolls_nothing_back() -> None:
    sim = _live_canary()
    before = (sim.r.phase, sim.r.stage, dict(sim.ep.traffic("fraud")))
    t = sim.step(command=_alert("blue"), dt=1)
    assert (t.rollout.phase, t.rollout.stage, sim.ep.traffic("fraud")) == before
    assert t.effects == ()
    assert t.record is not None and t.record.reason == m.ALERT_ON_OTHER_DEPLOYMENT
    assert t.record.phase_from is t.record.phase_to is Phase.CANARY
    assert t.record.actor == "alert:p99"
    assert t.record.evidence["alert_id"] == "a1"
    assert t.record.evidence["deployments"] == ["blue"]
    assert t.record.evidence["canary"] == "fraud-v7"


def test_alert_naming_the_canary_rolls_back() -> None:
    sim = _live_canary()
    t = sim.step(command=_alert("blue", "fraud-v7"), dt=1)
    assert t.rollout.phase is Phase.ROLLING_BACK
    assert t.record is not None and t.record.reason == m.ALERT_FIRED
    assert sim.ep.traffic("fraud") == {"blue": 100}


def test_alert_naming_the_canary_in_another_case_rolls_back() -> None:
    sim = _live_canary()
    t = sim.step(command=_alert("FRAUD-V7"), dt=1)
    assert t.rollout.phase is Phase.ROLLING_BACK


def test_alert_naming_no_deployment_rolls_back() -> None:
    sim = _live_canary()
    t = sim.step(command=_alert(), dt=1)
    assert t.rollout.phase is Phase.ROLLING_BACK
    assert t.record is not None and t.record.reason == m.ALERT_FIRED
