"""decide() and admit() from awkward starting points: the engine never harms the endpoint."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from shared import machine as m
from shared.effects import CreateDeployment, DeleteDeployment
from shared.errors import PhaseConflict
from shared.machine.traffic import OLD_DELETE_SHOWN_S
from shared.model import ModelRef, Phase, Rollout, Waiting
from shared.observation import Command, EndpointInfo, Observation
from tests.unit.test_machine import HOLD, PROMOTE, ROLLBACK, T0, Sim, policy


def _serving(sim: Sim) -> dict[str, int]:
    traffic = sim.ep.traffic("fraud")
    names = set(sim.ep.deployment_names("fraud"))
    return {k: v for k, v in traffic.items() if v > 0 and k in names}


def _to_deleting_old(sim: Sim) -> None:
    sim.until(Phase.WATCHING, PROMOTE)
    for _ in range(20):
        sim.step(dt=120)
        if sim.r.cleanup:
            return
    raise AssertionError("the old deployment was never asked to be deleted")


def _seen_by_hand(sim: Sim, live: dict[str, int], gone: str) -> None:
    """A canary stage in which an operator moved the traffic to ``live`` and deleted
    ``gone`` by hand; the next tick saw it."""
    sim.until(Phase.CANARY, PROMOTE)
    sim.step()
    sim.ep.set_by_hand("fraud", live, {})
    sim.ep.delete_by_hand("fraud", gone)
    sim.step()


def test_alert_while_old_deployment_is_deleting_keeps_the_promoted_version_serving() -> None:
    sim = Sim(policy(shadow_percent=0))
    _to_deleting_old(sim)
    t = sim.step(command=Command("alert", "errors", actor="alert:5xx"), dt=1)
    assert t.record is not None and t.record.reason == m.ROLLBACK_IMPOSSIBLE
    assert t.rollout.phase is Phase.WATCHING
    assert sim.ep.traffic("fraud") == {"fraud-v7": 100}
    assert "fraud-v7" in sim.ep.deployment_names("fraud")


def test_alert_while_old_deployment_is_deleting_never_leaves_the_endpoint_empty() -> None:
    sim = Sim(policy(shadow_percent=0))
    _to_deleting_old(sim)
    sim.step(command=Command("alert", "errors", actor="alert:5xx"), dt=1)
    for _ in range(10):
        sim.step(dt=60)
        assert sum(_serving(sim).values()) == 100
    assert "fraud-v7" in sim.ep.deployment_names("fraud")


def test_alert_after_old_deployment_deleted_by_hand_pauses_with_an_allowed_action() -> None:
    sim = Sim(policy(shadow_percent=0))
    sim.until(Phase.WATCHING, PROMOTE)
    sim.ep.delete_by_hand("fraud", "blue")
    t = sim.step(command=Command("alert", "errors", actor="alert:5xx"), dt=1)
    assert t.rollout.phase is Phase.WATCHING
    assert t.rollout.paused and t.rollout.pause_reason == m.ROLLBACK_IMPOSSIBLE
    allowed = m.allowed_actions(t.rollout)
    assert "resume" in allowed and "rollback" not in allowed and "abort" not in allowed
    assert sim.ep.traffic("fraud") == {"fraud-v7": 100}
    sim.step(command=Command("resume", "checked: v7 is fine", actor="ana"), dt=1)
    sim.until(Phase.SUCCEEDED)
    assert sim.ep.traffic("fraud") == {"fraud-v7": 100}


def test_operator_rollback_is_refused_once_the_old_deployment_is_going() -> None:
    sim = Sim(policy(shadow_percent=0))
    _to_deleting_old(sim)
    assert "rollback" not in m.allowed_actions(sim.r)
    with pytest.raises(PhaseConflict) as err:
        sim.step(command=Command("rollback", "changed my mind", actor="ana"), dt=1)
    assert "blue" in err.value.message
    assert sim.ep.traffic("fraud") == {"fraud-v7": 100}


def test_supersede_waits_for_a_promoted_version_instead_of_rolling_it_back() -> None:
    sim = Sim(policy(shadow_percent=0, on_newer_version="supersede"))
    sim.until(Phase.WATCHING, PROMOTE)
    newer = ModelRef("fraud", "8", event_id="ev-8", event_time=T0)
    adm = m.admit(sim.r, None, newer, sim.r.policy, sim.now)
    assert adm.outcome == "wait"
    assert adm.active is sim.r and adm.waiting == Waiting(newer, sim.r.policy)


def test_resume_after_the_canary_was_deleted_provisions_it_again() -> None:
    sim = Sim(policy(shadow_percent=0))
    _seen_by_hand(sim, {"blue": 100}, "fraud-v7")
    assert sim.r.paused and sim.r.pause_reason == m.DEPLOYMENT_MISSING
    t = sim.step(command=Command("resume", "go on", actor="ana"), dt=1)
    assert t.rollout.phase is Phase.PROVISIONING and not t.rollout.paused
    assert any(isinstance(e, CreateDeployment) for e in t.effects)
    sim.until(Phase.SUCCEEDED, PROMOTE, limit=80)
    assert sim.ep.traffic("fraud") == {"fraud-v7": 100}


def test_resume_is_refused_while_the_baseline_is_missing() -> None:
    sim = Sim(policy(shadow_percent=0))
    _seen_by_hand(sim, {"fraud-v7": 100}, "blue")
    assert sim.r.paused
    with pytest.raises(PhaseConflict) as err:
        sim.step(command=Command("resume", "go on", actor="ana"), dt=1)
    assert "blue" in err.value.message
    assert err.value.details["allowed"] == ["promote"]
    sim.step(command=Command("promote", "v7 is all there is", actor="ana", full=True), dt=1)
    sim.until(Phase.SUCCEEDED, PROMOTE)
    assert sim.ep.traffic("fraud") == {"fraud-v7": 100}


def test_an_older_version_than_the_live_one_does_not_start_a_downgrade() -> None:
    live = {"blue": "azureml:fraud:6"}
    old = ModelRef("fraud", "5", event_id="ev-5", event_time=T0)
    adm = m.admit(None, None, old, policy(), T0, live_models=live)
    assert adm.outcome == "ignore" and adm.reason == m.OLDER_THAN_LIVE
    assert "start" in adm.detail


def test_the_live_version_under_a_new_event_id_does_not_start_a_second_rollout() -> None:
    live = {"blue": "azureml:fraud:6"}
    same = ModelRef("fraud", "6", event_id="ev-6-again", event_time=T0)
    adm = m.admit(None, None, same, policy(), T0, live_models=live)
    assert adm.outcome == "ignore" and adm.reason == m.VERSION_ALREADY_LIVE


def test_a_newer_version_than_the_live_one_starts() -> None:
    live = {"blue": "azureml:fraud:6", "green": "azureml:other:9"}
    newer = ModelRef("fraud", "7", event_id="ev-7", event_time=T0)
    assert m.admit(None, None, newer, policy(), T0, live_models=live).outcome == "start"


def _with_user_mirror(pol_kw: dict[str, object] | None = None) -> Sim:
    sim = Sim(policy(**(pol_kw or {})))
    sim.ep.add_endpoint(
        "fraud", {"blue": "azureml:fraud:6", "green": "azureml:fraud-exp:1"}, {"blue": 100}
    )
    sim.ep.set_by_hand("fraud", {"blue": 100, "green": 0}, {"green": 10})
    return sim


def test_a_mirror_set_before_the_rollout_comes_back_after_the_shadow() -> None:
    sim = _with_user_mirror()
    sim.until(Phase.SHADOWING, PROMOTE)
    sim.step(PROMOTE)
    assert sim.ep.mirror("fraud") == {"fraud-v7": 20}
    sim.until(Phase.CANARY, PROMOTE)
    sim.step(PROMOTE)
    assert sim.ep.mirror("fraud") == {"green": 10}
    sim.until(Phase.SUCCEEDED, PROMOTE, limit=80)
    assert sim.ep.mirror("fraud") == {"green": 10}
    assert sim.ep.traffic("fraud").get("fraud-v7") == 100


def test_a_mirror_set_before_the_rollout_is_restored_by_a_rollback() -> None:
    sim = _with_user_mirror()
    sim.until(Phase.SHADOWING, PROMOTE)
    sim.step(PROMOTE)
    sim.step(command=Command("alert", "errors", actor="alert:5xx"), dt=1)
    sim.until(Phase.ROLLED_BACK)
    assert sim.ep.mirror("fraud") == {"green": 10}
    assert sim.ep.traffic("fraud").get("blue") == 100


def test_an_alert_takes_out_traffic_routed_by_hand_to_a_canary_still_provisioning() -> None:
    """Found by the soak: paused in Provisioning, all traffic sent to the new deployment by
    hand, then an alert: the rollback must restore the baseline, whatever the phase."""
    sim = Sim(policy(shadow_percent=0))
    sim.step()  # Provisioning: the canary is being created
    sim.step(command=Command("pause", "hold on", actor="ana"), dt=1)
    sim.step(dt=1)  # the fake finishes provisioning on a read
    assert sim.r.phase is Phase.PROVISIONING and "fraud-v7" in sim.ep.deployment_names("fraud")
    sim.ep.set_by_hand("fraud", {"fraud-v7": 100}, {})
    sim.step(command=Command("alert", "errors", actor="alert:5xx"), dt=1)
    assert sim.ep.traffic("fraud") == {"blue": 100}
    sim.until(Phase.ROLLED_BACK)


def _asking_stage_1() -> tuple[Sim, m.Rollout]:
    """A canary at stage 0 whose stage-1 split was asked for and never went live."""
    sim = Sim()
    sim.until(Phase.CANARY, PROMOTE)
    for _ in range(4):  # past the stage's minimum duration (60 s), held
        sim.step(HOLD)
    assert sim.r.phase is Phase.CANARY and sim.r.stage == 0 and sim.r.confirmed
    asked = m.decide(sim.r, Observation(sim.ep.get_endpoint("fraud"), PROMOTE), sim.now).rollout
    assert asked.stage == 1 and not asked.confirmed and asked.asked_at == sim.now
    return sim, asked


def test_a_canary_whose_next_split_is_not_live_yet_is_still_rolled_back() -> None:
    sim, asked = _asking_stage_1()
    info = sim.ep.get_endpoint("fraud")  # still the stage-0 split: the update never landed
    t = m.decide(asked, Observation(info, ROLLBACK), sim.now + timedelta(seconds=60))
    assert t.rollout.phase is Phase.ROLLING_BACK
    assert t.record is not None and t.record.reason == m.JUDGE_ROLLBACK
    assert t.record.evidence["unconfirmed"]["asked"] == dict(asked.traffic)


def test_a_canary_whose_next_split_is_not_live_yet_is_never_promoted_further() -> None:
    sim, asked = _asking_stage_1()
    info = sim.ep.get_endpoint("fraud")
    t = m.decide(asked, Observation(info, PROMOTE), sim.now + timedelta(seconds=60))
    assert t.rollout.stage == 1 and not t.rollout.confirmed
    assert t.record is not None and t.record.reason == m.TRAFFIC_PENDING


def test_a_rollback_ends_at_once_when_the_canary_it_deleted_is_gone() -> None:
    """Waiting for a create still in flight is for a canary never seen: one the rollback saw
    and asked to delete is gone for good once it is not listed (ticks seconds apart, as on a
    compressed local clock)."""
    sim = Sim()
    sim.until(Phase.CANARY, PROMOTE)
    sim.step(command=Command("rollback", "bad", actor="ana"), dt=5)
    for _ in range(10):
        if sim.r.phase.terminal:
            break
        sim.step(dt=5)
    assert sim.r.phase is Phase.ROLLED_BACK
    assert m.CANARY_NOT_SEEN not in [rec.reason for rec in sim.records if rec is not None]


def _paused_in_provisioning(sim: Sim) -> None:
    sim.step()  # Provisioning: the canary is being created
    sim.step(command=Command("pause", "hold on, I want to try it", actor="ana"), dt=1)
    sim.step(dt=1)  # the fake finishes provisioning on a read
    assert sim.r.phase is Phase.PROVISIONING and "fraud-v7" in sim.ep.deployment_names("fraud")
    assert m.at_rest(sim.r)


def test_a_paused_canary_tried_by_hand_while_it_provisions_is_judged_and_rolled_back() -> None:
    sim = Sim(policy(shadow_percent=0))
    _paused_in_provisioning(sim)
    sim.ep.set_by_hand("fraud", {"blue": 70, "fraud-v7": 30}, {})
    t = sim.step(HOLD, dt=60)
    assert t.rollout.hand_since == sim.now and t.rollout.paused and not m.at_rest(t.rollout)
    assert t.rollout.phase is Phase.PROVISIONING
    t = sim.step(ROLLBACK, dt=60)
    assert t.rollout.phase is Phase.ROLLING_BACK
    assert t.record is not None and t.record.reason == m.JUDGE_ROLLBACK
    assert t.record.evidence["by_hand_since"] and t.record.evidence["paused"]
    sim.until(Phase.ROLLED_BACK)
    assert sim.ep.traffic("fraud") == {"blue": 100}


def test_a_mirror_set_by_hand_to_a_provisioning_canary_pauses_and_is_judged() -> None:
    sim = Sim(policy(shadow_percent=0))
    sim.step()
    sim.ep.set_by_hand("fraud", {"blue": 100}, {"fraud-v7": 20})
    t = sim.step(HOLD, dt=60)
    assert t.rollout.paused and t.rollout.pause_reason == m.MANUAL_CHANGE
    assert t.rollout.hand_since is not None
    t = sim.step(ROLLBACK, dt=60)
    assert t.rollout.phase is Phase.ROLLING_BACK


def test_a_canary_tried_by_hand_is_no_longer_judged_once_it_serves_nothing_again() -> None:
    sim = Sim(policy(shadow_percent=0))
    _paused_in_provisioning(sim)
    sim.ep.set_by_hand("fraud", {"blue": 70, "fraud-v7": 30}, {})
    assert sim.step(HOLD, dt=60).rollout.hand_since is not None
    sim.ep.set_by_hand("fraud", {"blue": 100}, {})
    t = sim.step(ROLLBACK, dt=60)  # a verdict on minutes it no longer serves changes nothing
    assert t.rollout.hand_since is None and t.rollout.phase is Phase.PROVISIONING
    assert m.at_rest(t.rollout)


def test_the_previous_split_after_azure_said_the_change_landed_is_a_change_by_hand() -> None:
    sim, asked = _asking_stage_1()
    info = sim.ep.get_endpoint("fraud")  # the stage-0 split: put back by hand, or not landed
    later = sim.now + timedelta(seconds=60)
    pending = m.decide(asked, Observation(info, HOLD), later)
    assert pending.record is not None and pending.record.reason == m.TRAFFIC_PENDING
    landed = m.traffic_landed(asked, asked.id, asked.traffic, asked.mirror, sim.now)
    assert landed is not None and landed.landed_at == sim.now and not landed.confirmed
    soon = m.decide(landed, Observation(info, HOLD), sim.now + timedelta(seconds=5))
    assert not soon.rollout.paused  # a read right after the landing may lag behind it
    t = m.decide(landed, Observation(info, HOLD), later)
    assert t.rollout.paused and t.rollout.pause_reason == m.MANUAL_CHANGE
    assert not t.effects or all(e.kind != "set_traffic" for e in t.effects)


def test_without_the_landed_note_an_endpoint_changed_after_the_ask_is_not_in_flight() -> None:
    """The note lost (a kill after the update, before the note's write): Azure's time of the
    endpoint's last change says whether anything reached it after the ask."""
    sim, asked = _asking_stage_1()
    assert asked.asked_at is not None and asked.landed_at is None
    info = sim.ep.get_endpoint("fraud")  # the stage-0 split
    later = asked.asked_at + timedelta(seconds=90)

    def read(modified_after_ask_s: float | None, state: str = "Succeeded") -> EndpointInfo:
        at = (
            None
            if modified_after_ask_s is None
            else asked.asked_at + timedelta(seconds=modified_after_ask_s)
        )
        return replace(info, modified_at=at, provisioning_state=state)

    def paused(ep: EndpointInfo, r: Rollout = asked, when: datetime = later) -> bool:
        return m.decide(r, Observation(ep, HOLD), when).rollout.paused

    assert paused(read(20))  # changed 20 s after the ask, 70 s ago: put back by hand
    assert not paused(read(-30))  # last changed before the ask: the update never went out
    assert not paused(read(None))  # not known: as before, taken for in flight
    assert not paused(read(20), when=asked.asked_at + timedelta(seconds=40))  # read lag
    assert not paused(read(20, state="Updating"))  # Azure is still at it
    failed = asked.evolve(failure={"effect": {"kind": "set_traffic"}, "count": 1})
    assert not paused(read(20), r=failed)  # the update failed: asked again, not a hand change


def test_a_landed_note_is_only_for_the_split_the_rollout_still_asks_for() -> None:
    sim, asked = _asking_stage_1()
    now = sim.now
    assert m.traffic_landed(asked, asked.id, {"blue": 100}, {}, now) is None
    assert m.traffic_landed(asked, "another-rollout", asked.traffic, asked.mirror, now) is None
    assert m.traffic_landed(sim.r, sim.r.id, sim.r.traffic, sim.r.mirror, now) is None


def test_a_failed_old_delete_is_cleared_only_by_that_delete_any_other_failure_by_any_tick() -> None:
    sim = Sim(policy(shadow_percent=0))
    sim.until(Phase.WATCHING, PROMOTE)
    create = {"kind": "create_deployment", "name": "fraud-v7"}
    failing = sim.r.evolve(failure={"key": "k", "code": "Conflict", "effect": create})
    cleared = m.effects_succeeded(failing, ())
    assert cleared is not None and not cleared.failure  # not asked again: it went through
    old = {"kind": "delete_deployment", "name": "blue"}
    failed_delete = sim.r.evolve(failure={"key": "k", "code": "Boom", "effect": old})
    assert m.effects_succeeded(failed_delete, ()) is None  # a held tick proves nothing
    delete = DeleteDeployment("blue")
    again = m.effects_succeeded(failed_delete, (delete,))
    assert again is not None and not again.failure


# ------------------------------------------------------------- actions listed on the endpoint
def _detail_actions(sim: Sim, dt: float = 0) -> list[str]:
    """The actions the detail view lists: the rollout with the endpoint as read now."""
    now = sim.now + timedelta(seconds=dt)
    return m.allowed_actions(sim.r, ep=sim.ep.get_endpoint("fraud"), now=now)


def test_actions_on_the_endpoint_leave_out_rollback_when_the_baseline_was_deleted_by_hand() -> None:
    sim = Sim(policy(shadow_percent=0))
    sim.until(Phase.CANARY, PROMOTE)
    sim.step()
    sim.ep.set_by_hand("fraud", {"fraud-v7": 100}, {})
    sim.ep.delete_by_hand("fraud", "blue")
    assert "rollback" in m.allowed_actions(sim.r)  # the stored rollout alone cannot tell
    listed = _detail_actions(sim)
    assert "rollback" not in listed and "abort" not in listed
    with pytest.raises(PhaseConflict):  # the command refuses what the listing leaves out
        sim.step(command=Command("rollback", "back", actor="ana"), dt=1)


def test_actions_on_the_endpoint_leave_out_resume_while_the_baseline_is_missing() -> None:
    sim = Sim(policy(shadow_percent=0))
    _seen_by_hand(sim, {"fraud-v7": 100}, "blue")
    assert sim.r.paused and "resume" in m.allowed_actions(sim.r)
    assert "resume" not in _detail_actions(sim)


def test_actions_on_the_endpoint_keep_resume_that_recreates_a_deleted_canary() -> None:
    sim = Sim(policy(shadow_percent=0))
    _seen_by_hand(sim, {"blue": 100}, "fraud-v7")
    assert sim.r.paused and sim.r.pause_reason == m.DEPLOYMENT_MISSING
    listed = _detail_actions(sim)
    assert "resume" in listed and "promote" not in listed and "rollback" in listed


def test_actions_on_the_endpoint_list_rollback_to_an_old_deployment_never_sent_its_delete() -> None:
    sim = Sim(policy(shadow_percent=0))
    sim.until(Phase.WATCHING, PROMOTE)
    sim.apply = lambda effects: Sim.apply(  # type: ignore[method-assign]
        sim, tuple(e for e in effects if not isinstance(e, DeleteDeployment))
    )
    for _ in range(20):
        sim.step(dt=120)
        if sim.r.cleanup:
            break
    assert "blue" in sim.ep.deployment_names("fraud")  # its delete never reached the endpoint
    assert "rollback" not in m.allowed_actions(sim.r)
    assert "rollback" not in _detail_actions(sim, dt=10)  # still may be on its way
    assert "rollback" in _detail_actions(sim, dt=OLD_DELETE_SHOWN_S + 1)
