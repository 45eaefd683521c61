"""Canary capacity in decide(): sized to its share, scaled before its weight rises, the live
count before promotion, autoscale settings carried and removed, cost in the evidence."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared import machine as m
from shared.effects import (
    CopyAutoscale,
    CreateDeployment,
    DeleteAutoscale,
    DeleteDeployment,
    Effect,
    ScaleDeployment,
    SetTraffic,
)
from shared.fakes.autoscale import FakeAutoscale
from shared.fakes.endpoints import FakeEndpoints
from shared.judge.types import Verdict
from shared.machine.capacity import canary_target
from shared.model import ModelRef, Phase, Rollout
from shared.observation import Command, Observation
from shared.policy import RolloutPolicy, Stage

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PROMOTE = Verdict("promote", "Cleared", {"log_e": 3.2})


def policy(**kw: object) -> RolloutPolicy:
    base = RolloutPolicy(
        endpoint="fraud",
        shadow_percent=20,
        shadow_duration=60,
        stages=(Stage(10, 60, 600), Stage(50, 60, 600), Stage(100)),
        watch_window=120,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


class Sim:
    """One rollout against a fake endpoint whose live deployment runs ``live`` instances."""

    def __init__(self, pol: RolloutPolicy, live: int = 10, autoscale: bool = True) -> None:
        self.now = T0
        self.ep = FakeEndpoints(provisioning_reads=1)
        self.ep.add_endpoint("fraud", {"blue": "azureml:fraud:6"}, {"blue": 100}, live)
        self.autoscale = FakeAutoscale()
        if autoscale:
            self.autoscale.add("fraud", "blue", (2, 12, 4))
        t = m.new_rollout(ModelRef("fraud", "7", event_id="e", event_time=T0), pol, T0, m.ADMITTED)
        self.r: Rollout = t.rollout
        self.records = [t.record]
        self.effects: list[Effect] = []

    def step(self, verdict: Verdict | None = PROMOTE, command: Command | None = None) -> None:
        self.now += timedelta(seconds=70)
        info = self.ep.get_endpoint("fraud")
        t = m.decide(self.r, Observation(info, verdict, None, command), self.now)
        for e in t.effects:
            self.effects.append(e)
            if isinstance(e, CreateDeployment):
                self.ep.create_deployment("fraud", e)
            elif isinstance(e, SetTraffic):
                self.ep.set_traffic("fraud", e.traffic, e.mirror)
            elif isinstance(e, DeleteDeployment):
                self.ep.delete_deployment("fraud", e.name)
            elif isinstance(e, ScaleDeployment):
                self.ep.scale_deployment("fraud", e.name, e.instance_count)
            elif isinstance(e, CopyAutoscale):
                self.autoscale.copy_to("fraud", e.source, e.target)
            elif isinstance(e, DeleteAutoscale):
                self.autoscale.delete_for("fraud", e.name, e.copies_only)
        # what the calls, all gone through, settle (as the Applier writes it after them)
        self.r = m.effects_succeeded(t.rollout, t.effects) or t.rollout
        if t.record:
            self.records.append(t.record)

    def count(self) -> int | None:
        return self.ep.peek("fraud").deployments[self.r.canary].instance_count

    def run(self, limit: int = 80, **kw: object) -> None:
        for _ in range(limit):
            if self.r.phase.terminal:
                return
            self.step(**kw)  # type: ignore[arg-type]


def test_canary_target_is_its_share_of_the_live_count_with_headroom_within_1_and_live() -> None:
    p = policy()
    assert canary_target(p, 10, 10) == 2  # ceil(10 x 0.1 x 1.5)
    assert canary_target(p, 10, 20) == 3
    assert canary_target(p, 10, 50) == 8
    assert canary_target(p, 10, 90) == 10  # never more than the live count
    assert canary_target(p, 10, 100) == 10
    assert canary_target(p, 1, 1) == 1  # at least one
    assert canary_target(replace(p, headroom=1.0), 10, 10) == 1
    assert canary_target(replace(p, capacity="full"), 10, 10) == 10


def test_the_canary_is_created_on_its_first_share_and_scaled_before_each_rise() -> None:
    sim = Sim(policy())
    sim.step()
    create = next(e for e in sim.effects if isinstance(e, CreateDeployment))
    assert create.instance_count == 3  # the 20 % shadow
    counts_at: dict[int, set[int | None]] = {}
    for _ in range(60):
        if sim.r.phase is not Phase.CANARY:
            if sim.r.phase.terminal:
                break
            sim.step()
            continue
        counts_at.setdefault(sim.r.stage, set()).add(sim.count())
        sim.step()
    assert counts_at[0] == {3, 8}  # 3 >= 2 for 10 %; scaled to 8 there, before 50 %
    assert min(c or 0 for c in counts_at[1]) >= 8  # 50 % only ever on 8 or more
    assert sim.r.phase is Phase.SUCCEEDED and sim.count() == 10
    scales = [e.instance_count for e in sim.effects if isinstance(e, ScaleDeployment)]
    assert scales == [8, 10]
    reasons = [r.reason for r in sim.records if r is not None]
    assert reasons.count(m.CANARY_SCALING) == 2


def test_the_weight_rises_only_once_the_scale_is_seen_succeeded() -> None:
    sim = Sim(policy(), live=10)
    for _ in range(60):
        sim.step()
        if sim.r.reason == m.CANARY_SCALING:
            break
    assert sim.r.stage == 0 and sim.r.capacity["pending"]["target"] == 8
    assert sim.ep.peek("fraud").deployments["fraud-v7"].provisioning_state == "Updating"
    assert sim.ep.traffic("fraud") == {"fraud-v7": 10, "blue": 90}  # still stage 0's split
    for _ in range(3):
        sim.step()
        if sim.r.stage == 1:
            break
        assert sim.ep.traffic("fraud") == {"fraud-v7": 10, "blue": 90}
    assert sim.r.stage == 1 and sim.r.reason == m.JUDGE_PROMOTE
    assert sim.r.capacity["count"] == 8 and sim.r.capacity["state"] == "Succeeded"
    assert "pending" not in sim.r.capacity


def test_an_instance_count_override_is_scaled_back_to_the_live_count_before_promotion() -> None:
    sim = Sim(policy(instance_count=1, stages=(Stage(10, 60, 600), Stage(100))), live=3)
    sim.run()
    assert sim.r.phase is Phase.SUCCEEDED
    assert sim.count() == 3
    promoting = next(r for r in sim.records if r and r.phase_to is Phase.PROMOTING)
    scaled = next(r for r in sim.records if r and r.reason == m.CANARY_SCALING)
    assert scaled.seq < promoting.seq and scaled.evidence["target"] == 3


def test_an_override_above_the_live_count_is_scaled_down_to_it_for_promotion() -> None:
    sim = Sim(policy(instance_count=6), live=3)
    sim.run()
    assert sim.r.phase is Phase.SUCCEEDED and sim.count() == 3


def test_capacity_full_creates_the_canary_on_the_live_count_and_never_scales_it() -> None:
    sim = Sim(policy(capacity="full"), live=4)
    sim.run()
    create = next(e for e in sim.effects if isinstance(e, CreateDeployment))
    assert create.instance_count == 4
    assert not [e for e in sim.effects if isinstance(e, ScaleDeployment)]
    assert sim.r.phase is Phase.SUCCEEDED


def test_a_lost_scale_call_is_asked_again_while_the_canary_is_succeeded_at_another_count() -> None:
    sim = Sim(policy(), live=10)
    for _ in range(60):
        sim.step()
        if sim.r.reason == m.CANARY_SCALING:
            break
    for _ in range(2):
        sim.ep.get_endpoint("fraud")  # the scale to 8 finishes ...
    sim.ep.scale_deployment("fraud", "fraud-v7", 3)  # ... and is undone, as if it was lost
    for _ in range(2):
        sim.ep.get_endpoint("fraud")  # Succeeded at 3
    before = len([e for e in sim.effects if isinstance(e, ScaleDeployment)])
    sim.step()
    again = [e for e in sim.effects if isinstance(e, ScaleDeployment)]
    assert len(again) == before + 1 and again[-1].instance_count == 8
    assert sim.r.stage == 0


def test_a_scale_that_fails_pauses_the_rollout_for_an_operator() -> None:
    sim = Sim(policy(provisioning_timeout=300), live=10)
    for _ in range(20):
        sim.step()
        if sim.r.phase is Phase.CANARY:
            break
    sim.ep.provisioning_reads = 1000  # the scale asked for next never finishes
    for _ in range(80):
        sim.step()
        if sim.r.paused:
            break
    assert sim.r.pause_reason == m.CANARY_SCALE_FAILED
    assert m.allowed_actions(sim.r)
    assert "pending" not in sim.r.capacity  # a resume starts the wait over


def test_promotion_copies_the_autoscale_setting_and_the_old_one_goes_with_the_old_deployment() -> (
    None
):
    sim = Sim(policy(), live=4)
    sim.run()
    assert sim.r.phase is Phase.SUCCEEDED
    assert sim.autoscale.targets("fraud") == ["fraud-v7"]
    (copy,) = sim.autoscale.settings_for("fraud", "fraud-v7")
    assert copy.capacities == ((2, 12, 4),)
    kinds = [e.kind for e in sim.effects]
    first_copy = kinds.index("copy_autoscale")
    assert kinds[first_copy + 1] == "set_traffic"  # before the traffic moves to 100 %
    assert kinds.index("delete_autoscale") < kinds.index("delete_deployment")


def _to_watching(sim: Sim) -> None:
    for _ in range(80):
        sim.step()
        if sim.r.phase is Phase.WATCHING:
            return
    raise AssertionError(f"never reached Watching: {sim.r.phase}, {sim.r.reason}")


def test_a_rollback_after_promotion_removes_the_canarys_copy_and_keeps_the_baselines() -> None:
    sim = Sim(policy(), live=4)
    _to_watching(sim)
    assert sim.autoscale.targets("fraud") == ["blue", "fraud-v7"]
    sim.step(command=Command("rollback", "bad", actor="op"))
    sim.run(verdict=None)
    assert sim.r.phase is Phase.ROLLED_BACK
    assert sim.autoscale.targets("fraud") == ["blue"]


def test_a_canary_kept_after_a_rollback_loses_its_autoscale_copy() -> None:
    sim = Sim(policy(delete_failed_deployment=False), live=4)
    _to_watching(sim)
    sim.step(command=Command("rollback", "bad", actor="op"))
    sim.run(verdict=None)
    assert sim.r.phase is Phase.ROLLED_BACK
    assert "fraud-v7" in sim.ep.deployment_names("fraud")
    assert sim.autoscale.targets("fraud") == ["blue"]


def test_a_rollback_ends_only_once_the_delete_of_the_canarys_autoscale_copy_went_through() -> None:
    """The end is not terminal before that delete went through: after a terminal write
    nothing would send it again (a failed call, or a kill, would leave the copy for good)."""
    sim = Sim(policy(delete_failed_deployment=False), live=4)
    _to_watching(sim)
    sim.step(command=Command("rollback", "bad", actor="op"))
    asked = 0
    for _ in range(10):  # Azure fails every delete of the copy: nothing settles, asked again
        sim.now += timedelta(seconds=70)
        t = m.decide(sim.r, Observation(sim.ep.get_endpoint("fraud"), None, None, None), sim.now)
        assert not t.rollout.phase.terminal
        for e in t.effects:
            if isinstance(e, SetTraffic):
                sim.ep.set_traffic("fraud", e.traffic, e.mirror)
        asked += DeleteAutoscale("fraud-v7", copies_only=True) in t.effects
        sim.r = t.rollout
    assert sim.r.reason == m.AUTOSCALE_COPY_REMOVING and asked >= 8
    assert sim.autoscale.targets("fraud") == ["blue", "fraud-v7"]
    sim.run(verdict=None)  # now the delete goes through: then the rollout ends
    assert sim.r.phase is Phase.ROLLED_BACK
    assert sim.autoscale.targets("fraud") == ["blue"]


def test_a_rollback_before_promotion_touches_no_autoscale_setting() -> None:
    sim = Sim(policy(), live=4)
    for _ in range(20):
        sim.step()
        if sim.r.phase is Phase.CANARY:
            break
    sim.step(command=Command("rollback", "bad", actor="op"))
    sim.run(verdict=None)
    assert sim.r.phase is Phase.ROLLED_BACK
    assert not [e for e in sim.effects if e.kind.endswith("autoscale")]


@pytest.mark.parametrize("outcome", ["promote", "rollback"])
def test_the_last_decision_records_the_canarys_instance_hours(outcome: str) -> None:
    sim = Sim(policy(), live=10, autoscale=False)
    if outcome == "rollback":
        for _ in range(20):
            sim.step()
            if sim.r.phase is Phase.CANARY:
                break
        sim.step(command=Command("rollback", "bad", actor="op"))
    sim.run(verdict=None if outcome == "rollback" else PROMOTE)
    last = sim.records[-1]
    assert last is not None and last.phase_to.terminal
    hours = last.evidence["cost"]["canary_instance_hours"]
    assert last.evidence["cost"]["live_instances"] == 10
    # never more than a full copy of production for as long as the rollout ran
    assert 0 < hours < 10 * (sim.now - T0).total_seconds() / 3600
    assert sim.r.evidence["cost"] == last.evidence["cost"]


def test_a_baseline_of_unknown_count_leaves_the_canary_as_cloned() -> None:
    sim = Sim(policy(), live=10)
    info = sim.ep.get_endpoint("fraud")
    blue = replace(info.deployments["blue"], instance_count=None)
    blind = replace(info, deployments={"blue": blue})
    t = m.decide(sim.r, Observation(blind), T0 + timedelta(seconds=1))
    create = next(e for e in t.effects if isinstance(e, CreateDeployment))
    assert create.instance_count is None and "live" not in t.rollout.capacity


def test_a_scale_that_ends_failed_pauses_and_a_resume_asks_for_it_again() -> None:
    sim = Sim(policy(), live=10)
    for _ in range(20):
        sim.step()
        if sim.r.phase is Phase.CANARY:
            break
    sim.ep.fail_models.add("azureml:fraud:7")  # the next update of the canary ends Failed
    for _ in range(20):
        sim.step()
        if sim.r.paused:
            break
    assert sim.r.pause_reason == m.CANARY_SCALE_FAILED
    assert sim.ep.peek("fraud").deployments["fraud-v7"].provisioning_state == "Failed"
    sim.ep.fail_models.clear()
    asked = len([e for e in sim.effects if isinstance(e, ScaleDeployment)])
    sim.step(command=Command("resume", "quota raised", actor="op"))
    for _ in range(6):
        sim.step()
        if sim.r.stage == 1:
            break
    assert len([e for e in sim.effects if isinstance(e, ScaleDeployment)]) == asked + 1
    assert sim.r.stage == 1 and sim.count() == 8


def _until(sim: Sim, done: object, limit: int = 60) -> None:
    for _ in range(limit):
        if done(sim):  # type: ignore[operator]
            return
        sim.step()
    raise AssertionError(f"not reached in {limit} steps: phase {sim.r.phase}, {sim.r.reason}")


def test_a_baseline_scaled_out_mid_stage_has_the_canary_scaled_to_its_share_at_once() -> None:
    sim = Sim(policy(), live=4)
    _until(sim, lambda s: s.r.phase is Phase.CANARY and s.r.reason == m.TRAFFIC_CONFIRMED)
    assert sim.r.stage == 0 and sim.count() == 2  # ceil(4 x 0.2 x 1.5), the shadow's share
    sim.ep.scale_deployment("fraud", "blue", 20)  # its autoscale setting scales it out
    sim.step(Verdict("hold", "Accumulating", {}))
    assert sim.r.reason == m.CANARY_SCALING and sim.r.stage == 0  # the stage goes on
    assert sim.r.capacity["live"] == 20 and sim.r.capacity["live_start"] == 4
    scale = [e for e in sim.effects if isinstance(e, ScaleDeployment)]
    assert scale[-1] == ScaleDeployment("fraud-v7", 3)  # ceil(20 x 0.1 x 1.5)
    assert sim.records[-1] is not None
    assert sim.records[-1].evidence["live_instances"] == 20
    assert sim.records[-1].evidence["live_instances_at_start"] == 4
    assert sim.ep.traffic("fraud") == {"fraud-v7": 10, "blue": 90}  # the split stays


def test_the_mid_stage_scale_is_asked_once_per_count() -> None:
    sim = Sim(policy(), live=4)
    _until(sim, lambda s: s.r.phase is Phase.CANARY and s.r.reason == m.TRAFFIC_CONFIRMED)
    sim.ep.scale_deployment("fraud", "blue", 20)
    for _ in range(6):
        sim.step(Verdict("hold", "Accumulating", {}))
    asked = [e for e in sim.effects if isinstance(e, ScaleDeployment)]
    assert asked == [ScaleDeployment("fraud-v7", 3)]
    assert sim.count() == 3 and sim.r.capacity["state"] == "Succeeded"


def test_a_lost_mid_stage_scale_is_asked_once_more_when_the_canary_still_reads_as_before() -> None:
    """A kill right after the CanaryScaling decision was written: the scale never went out
    and the canary reads Succeeded at its old count; asked again after FOLLOW_SHOWN_S, once."""
    sim = Sim(policy(), live=4)
    _until(sim, lambda s: s.r.phase is Phase.CANARY and s.r.reason == m.TRAFFIC_CONFIRMED)
    hold = Verdict("hold", "Accumulating", {})
    sim.ep.scale_deployment("fraud", "blue", 20)
    sim.ep.scale_deployment = lambda *a: None  # type: ignore[method-assign]  # never sent
    sim.step(hold)
    assert sim.r.reason == m.CANARY_SCALING and sim.count() == 2
    asked_at = len(sim.effects)
    for _ in range(2):  # 140 s: asked again once it is clear it did not show
        sim.step(hold)
    again = [e for e in sim.effects[asked_at:] if isinstance(e, ScaleDeployment)]
    assert again == [ScaleDeployment("fraud-v7", 3)]
    assert "asked again" in sim.records[-1].message
    asked_at = len(sim.effects)
    for _ in range(6):  # not a third time: the next stage's gate asks, and pauses if it fails
        sim.step(hold)
    assert not [e for e in sim.effects[asked_at:] if isinstance(e, ScaleDeployment)]


def test_promotion_runs_the_baselines_count_as_it_is_then_not_as_it_was() -> None:
    sim = Sim(policy(), live=4)
    _until(sim, lambda s: s.r.phase is Phase.CANARY)
    sim.ep.scale_deployment("fraud", "blue", 12)  # scaled out mid-rollout
    sim.run()
    assert sim.r.phase is Phase.SUCCEEDED and sim.count() == 12


def test_a_baseline_scaled_in_mid_rollout_leaves_the_canary_sized_for_the_whole_load() -> None:
    sim = Sim(policy(), live=10)
    _until(sim, lambda s: s.r.phase is Phase.CANARY and s.r.stage == 1)
    # at 50 % its autoscale setting halves it: it serves half the load now, not less load
    sim.ep.scale_deployment("fraud", "blue", 5)
    sim.run()
    assert sim.r.phase is Phase.SUCCEEDED and sim.count() == 10
    assert sim.r.capacity["live"] == 10


def test_the_live_count_is_no_longer_followed_once_the_canary_is_promoted() -> None:
    sim = Sim(policy(), live=4)
    _until(sim, lambda s: s.r.phase is Phase.WATCHING)
    live = sim.r.capacity["live"]
    sim.ep.scale_deployment("fraud", "blue", 9)  # the old deployment, no longer serving
    sim.step()
    assert sim.r.capacity["live"] == live
    assert not [e for e in sim.effects[-3:] if isinstance(e, ScaleDeployment)]


def test_a_paused_canary_keeps_its_share_of_a_live_deployment_that_scaled_out() -> None:
    sim = Sim(policy(), live=4)
    _until(sim, lambda s: s.r.phase is Phase.CANARY and s.r.reason == m.TRAFFIC_CONFIRMED)
    sim.step(Verdict("hold", "Accumulating", {}), command=Command("pause", "look", actor="op"))
    assert sim.r.paused
    sim.ep.scale_deployment("fraud", "blue", 20)
    sim.step(Verdict("hold", "Accumulating", {}))
    assert sim.r.paused and sim.r.reason == m.CANARY_SCALING  # pause stops promotion only
    assert [e for e in sim.effects if isinstance(e, ScaleDeployment)][-1] == ScaleDeployment(
        "fraud-v7", 3
    )
    assert sim.ep.traffic("fraud") == {"fraud-v7": 10, "blue": 90}


def test_the_promoted_canarys_autoscale_copy_is_marked_once_it_went_through() -> None:
    sim = Sim(policy(), live=4)
    _to_watching(sim)
    assert sim.r.capacity["autoscale"] and sim.r.capacity["autoscale_copied"]
    copies = sum(isinstance(e, CopyAutoscale) for e in sim.effects)
    sim.run()
    assert sim.r.phase is Phase.SUCCEEDED
    assert sum(isinstance(e, CopyAutoscale) for e in sim.effects) == copies  # no more asked
    assert sim.autoscale.targets("fraud") == ["fraud-v7"]


def test_the_old_deployment_and_its_setting_stay_until_the_canarys_copy_went_through() -> None:
    """A kill after the promotion's write and another after the watch window's first lose
    the copy (both sent it once): the window sends it again every tick, and its end waits for
    it, since the old deployment's setting is deleted with the old deployment."""
    sim = Sim(policy(), live=4)
    _to_watching(sim)
    sim.autoscale.delete_for("fraud", "fraud-v7")  # as if the copy was never sent
    sim.r = sim.r.evolve(
        capacity={k: v for k, v in sim.r.capacity.items() if k != "autoscale_copied"}
    )
    asked = 0
    for _ in range(30):  # past the watch window; Azure fails every copy: nothing settles
        sim.now += timedelta(seconds=70)
        t = m.decide(sim.r, Observation(sim.ep.get_endpoint("fraud"), None, None, None), sim.now)
        assert t.rollout.phase is Phase.WATCHING
        assert not [e for e in t.effects if isinstance(e, DeleteAutoscale | DeleteDeployment)]
        asked += CopyAutoscale("blue", "fraud-v7") in t.effects
        sim.r = t.rollout
    assert asked == 30 and sim.r.reason == m.AUTOSCALE_COPYING
    assert sim.autoscale.targets("fraud") == ["blue"]
    sim.run(verdict=None)  # now the copy goes through: then blue and its setting go
    assert sim.r.phase is Phase.SUCCEEDED
    assert sim.autoscale.targets("fraud") == ["fraud-v7"]


def test_a_scale_azure_refuses_for_good_pauses_at_once_with_azures_error() -> None:
    """A scale answered 400 (not enough quota for the canary's new count, say) cannot go
    through when asked again: the rollout pauses on the next tick with Azure's words, not
    after the hour of the provisioning timeout."""
    sim = Sim(policy(), live=10)
    for _ in range(60):
        sim.step()
        if sim.r.reason == m.CANARY_SCALING:
            break
    scale = next(e for e in reversed(sim.effects) if isinstance(e, ScaleDeployment))
    for _ in range(4):
        sim.ep.get_endpoint("fraud")  # the scale asked for finishes ...
    sim.ep.scale_deployment("fraud", "fraud-v7", 3)  # ... and is undone: it never happened
    for _ in range(4):
        sim.ep.get_endpoint("fraud")  # the canary is Succeeded at its old count
    error = {"code": "OutOfQuota", "message": "not enough quota", "details": {"status": 400}}
    sim.r = m.effect_failed(sim.r, error, sim.now, effect=scale, permanent=True).rollout
    asked = len([e for e in sim.effects if isinstance(e, ScaleDeployment)])
    sim.step()
    assert sim.r.paused and sim.r.pause_reason == m.CANARY_SCALE_FAILED
    assert "OutOfQuota" in sim.r.message
    assert len([e for e in sim.effects if isinstance(e, ScaleDeployment)]) == asked  # not again
    sim.step(command=Command("resume", "quota raised", actor="ana"))
    sim.step()
    assert not sim.r.paused
    assert len([e for e in sim.effects if isinstance(e, ScaleDeployment)]) > asked  # again


def test_a_copy_azure_refuses_for_good_pauses_with_azures_error_not_for_ever() -> None:
    """A copy answered 400 (TargetResourceIdIsImmutable: a setting of that name targets
    another resource) cannot go through when sent again: once the watch window is over the
    rollout pauses with Azure's words, the old deployment and its setting kept; before, it
    waited in AutoscaleCopying for ever. A resume sends the copy again."""
    sim = Sim(policy(), live=4)
    _to_watching(sim)
    sim.autoscale.delete_for("fraud", "fraud-v7")  # the copy never went through
    sim.r = sim.r.evolve(
        capacity={k: v for k, v in sim.r.capacity.items() if k != "autoscale_copied"}
    )
    error = {
        "code": "TargetResourceIdIsImmutable",
        "message": "create a new autoscale setting with a different name",
        "details": {"status": 400},
    }
    for _ in range(30):  # past the watch window
        sim.now += timedelta(seconds=70)
        t = m.decide(sim.r, Observation(sim.ep.get_endpoint("fraud"), None, None, None), sim.now)
        copy = next((e for e in t.effects if isinstance(e, CopyAutoscale)), None)
        sim.r = t.rollout
        if copy is not None:  # Azure refuses it for good
            sim.r = m.effect_failed(sim.r, error, sim.now, effect=copy, permanent=True).rollout
        if sim.r.paused:
            break
    assert sim.r.paused and sim.r.pause_reason == m.AUTOSCALE_COPY_FAILED
    assert "TargetResourceIdIsImmutable" in sim.r.message
    assert sim.r.phase is Phase.WATCHING
    assert sim.autoscale.targets("fraud") == ["blue"]  # the old setting is kept
    assert "blue" in sim.ep.get_endpoint("fraud").deployments  # and so is blue
    sim.step(command=Command("resume", "setting renamed", actor="ana"))
    sim.run(verdict=None)  # the copy goes through now: then blue and its setting go
    assert sim.r.phase is Phase.SUCCEEDED
    assert sim.autoscale.targets("fraud") == ["fraud-v7"]


def test_copy_names_of_different_targets_never_collide() -> None:
    """Names are unique per resource group and both parts may hold hyphens: 'fraud-eu' + 'v7'
    and 'fraud' + 'eu-v7' once made the same name, and Azure refuses a PUT that would retarget
    the other endpoint's copy (TargetResourceIdIsImmutable)."""
    from shared.ports import autoscale_copy_name, is_autoscale_copy_name

    a = autoscale_copy_name("fraud-eu", "v7", "/ws")
    assert a != autoscale_copy_name("fraud", "eu-v7", "/ws")
    assert a != autoscale_copy_name("fraud-eu", "v7", "/other-ws")
    assert a == autoscale_copy_name("FRAUD-EU", "V7", "/WS")  # Azure ids are case-insensitive
    assert a.startswith("fraud-eu-v7-") and a.endswith("-autoscale")
    assert is_autoscale_copy_name(a, "fraud-eu", "v7", "/ws")
    assert is_autoscale_copy_name("fraud-eu-v7-autoscale", "fraud-eu", "v7")  # earlier form
    assert not is_autoscale_copy_name(a, "fraud", "eu-v7", "/ws")
    assert not is_autoscale_copy_name("fraud-eu-v7-by-owners-autoscale", "fraud-eu", "v7")


HOLD = Verdict("hold", "Accumulating", {"log_e": 0.4})


def _cleared_and_scaling(sim: Sim) -> None:
    for _ in range(60):
        sim.step()
        if sim.r.reason == m.CANARY_SCALING:
            return
    raise AssertionError("the stage never waited for instances")


def test_a_stage_waiting_for_instances_is_taken_on_the_verdict_that_cleared_it() -> None:
    """While the instances come the judge may read hold (an e-value below its threshold
    again): the step is still taken on the clearing that licensed it, recorded as such."""
    sim = Sim(policy(), live=10)
    _cleared_and_scaling(sim)
    assert sim.r.capacity["pending"]["evidence"]["verdict"] == "promote"
    for _ in range(3):
        sim.step(HOLD)
        if sim.r.stage == 1:
            break
    last = sim.records[-1]
    assert sim.r.stage == 1 and last is not None and last.reason == m.JUDGE_PROMOTE
    assert last.evidence["verdict"] == "promote"


def test_a_resume_drops_the_judges_waiting_step_so_the_stage_is_judged_again() -> None:
    """The resume starts the stage's window again: the clearing of the window before is not
    taken once the instances come; the stage advances only on a fresh promote verdict."""
    sim = Sim(policy(), live=10)
    _cleared_and_scaling(sim)
    sim.step(HOLD, command=Command("pause", "look", actor="ana"))
    sim.step(HOLD, command=Command("resume", "ok", actor="ana"))
    assert "pending" not in sim.r.capacity
    for _ in range(5):
        sim.step(HOLD)
    assert sim.r.stage == 0
    for _ in range(5):
        sim.step()
        if sim.r.stage == 1:
            break
    last = sim.records[-1]
    assert sim.r.stage == 1 and last is not None and last.evidence["verdict"] == "promote"


def test_a_rollback_keeping_the_canary_leaves_the_owners_own_setting_on_it() -> None:
    """The owners put a setting on the canary themselves (kept at promotion, nothing copied
    over it); a rollback that keeps the canary deployment deletes only autocanary's copies,
    never theirs."""
    sim = Sim(policy(delete_failed_deployment=False), live=4)
    for _ in range(80):
        sim.step()
        if sim.r.canary and sim.r.canary in sim.ep.deployment_names("fraud"):
            break
    theirs = sim.autoscale.add("fraud", sim.r.canary, (3, 9, 3), name="risk-team-canary-scale")
    _to_watching(sim)
    assert sim.autoscale.settings_for("fraud", sim.r.canary) == [theirs]
    sim.step(command=Command("rollback", "bad", actor="op"))
    sim.run(verdict=None)
    assert sim.r.phase is Phase.ROLLED_BACK
    assert sim.r.canary in sim.ep.deployment_names("fraud")
    assert sim.autoscale.settings_for("fraud", sim.r.canary) == [theirs]
