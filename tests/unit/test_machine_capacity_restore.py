"""A rollback gives the old deployments back the instances they ran for their shares
(``shared.machine.restore``): their own autoscale settings may have scaled them in while the
canary took a share, and the restored split puts their whole shares on those instances."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from shared import machine as m
from shared.effects import DeleteDeployment, ScaleDeployment
from shared.fakes.endpoints import FakeEndpoints
from shared.judge.types import Verdict
from shared.machine.restore import RESTORE_ASKS, restore, restore_evidence
from shared.model import Phase
from shared.observation import Observation
from tests.unit.test_machine_capacity import Sim, policy

ROLLBACK = Verdict("rollback", "ErrorRateRegression", {"log_e": 9.0})


def _to_stage(sim: Sim, stage: int) -> None:
    for _ in range(80):
        sim.step()
        if sim.r.phase is Phase.CANARY and sim.r.stage == stage and sim.r.confirmed:
            return
    raise AssertionError(f"never reached stage {stage}: {sim.r.phase}, {sim.r.reason}")


def _baseline_scales(sim: Sim) -> list[int]:
    return [e.instance_count for e in sim.effects if _scales_blue(e)]


def _scales_blue(e: object) -> bool:
    return isinstance(e, ScaleDeployment) and e.name == "blue"


def _rolled_back_on(sim: Sim, scaled_in_to: int) -> None:
    """The rollout at its 50 % stage, blue scaled in (by its setting) to ``scaled_in_to``,
    then the judge rolls it back."""
    _to_stage(sim, 1)
    sim.ep.scale_deployment("fraud", "blue", scaled_in_to)
    sim.step()  # the scale shows: blue Succeeded at its new count
    sim.step(verdict=ROLLBACK)
    assert sim.r.phase is Phase.ROLLING_BACK


def test_a_rollback_asks_for_the_baselines_instances_back_after_the_split_is_restored() -> None:
    sim = Sim(policy(), live=10)
    _rolled_back_on(sim, scaled_in_to=5)
    assert _baseline_scales(sim) == []  # the traffic change goes first, alone
    sim.run(verdict=None)
    assert sim.r.phase is Phase.ROLLED_BACK
    assert _baseline_scales(sim) == [10]
    asked = next(r for r in sim.records if r is not None and r.reason == m.BASELINE_SCALING)
    blue = asked.evidence["deployments"]["blue"]
    assert (blue["instances"], blue["target"], blue["share"]) == (5, 10, 100)
    scaled = next(i for i, e in enumerate(sim.effects) if _scales_blue(e))
    deleted = next(i for i, e in enumerate(sim.effects) if isinstance(e, DeleteDeployment))
    assert scaled < deleted  # before the canary is deleted
    assert sim.ep.peek("fraud").deployments["blue"].instance_count == 10
    assert "instances_short" not in sim.records[-1].evidence  # type: ignore[union-attr]


def test_a_baseline_that_kept_its_instances_is_not_scaled() -> None:
    sim = Sim(policy(), live=10)
    _to_stage(sim, 1)
    sim.step(verdict=ROLLBACK)
    sim.run(verdict=None)
    assert sim.r.phase is Phase.ROLLED_BACK
    assert _baseline_scales(sim) == []
    assert m.BASELINE_SCALING not in [r.reason for r in sim.records if r is not None]


def _until_ended(sim: Sim, on_scale: Callable[[ScaleDeployment], bool]) -> int:
    """Decide until the rollout ends, the canary's deletes carried out, each scale handed to
    ``on_scale`` instead of Azure (refused, lost, or made: whether it went through), and, as
    the Applier does, the calls after a failed one not made and a failure left over cleared
    once a tick's calls went through. Returns how many scales were asked."""
    asks = 0
    for _ in range(20):
        if sim.r.phase.terminal:
            break
        sim.now += timedelta(seconds=70)
        t = m.decide(sim.r, Observation(sim.ep.get_endpoint("fraud"), None, None, None), sim.now)
        sim.r = t.rollout
        if t.record:
            sim.records.append(t.record)
        scales = [e for e in t.effects if isinstance(e, ScaleDeployment)]
        for scale in scales:
            asks += 1
            if not on_scale(scale):
                break  # the Applier stops at a failed call
        if scales:
            continue
        for e in t.effects:
            if isinstance(e, DeleteDeployment):
                sim.ep.delete_deployment("fraud", e.name)
        sim.r = m.effects_succeeded(sim.r, t.effects) or sim.r
    return asks


def test_a_scale_azure_refuses_for_good_is_not_asked_again_and_the_end_says_so() -> None:
    """Not enough quota for the old count (a 400): the rollback still ends, at once, and its
    last decision names the shortfall with Azure's error (kept on the restore record: the
    rollout's failure is cleared after the next tick's calls go through)."""
    sim = Sim(policy(), live=10)
    _rolled_back_on(sim, scaled_in_to=4)
    error = {"code": "QuotaExceeded", "message": "not enough quota", "details": {"status": 400}}

    def refused(scale: ScaleDeployment) -> bool:
        sim.r = m.effect_failed(sim.r, error, sim.now, effect=scale, permanent=True).rollout
        return False

    assert _until_ended(sim, refused) == 1
    assert sim.r.phase is Phase.ROLLED_BACK
    short = sim.records[-1].evidence["instances_short"]["blue"]  # type: ignore[union-attr]
    assert (short["instances"], short["target"]) == (4, 10)
    assert short["refused"]["code"] == "QuotaExceeded"


def test_a_lost_scale_is_asked_once_more_and_never_a_third_time() -> None:
    """A kill between the decision's write and its call loses the scale: the next tick sees
    blue still short and asks again; a second loss is not chased for ever (the rollback
    ends, saying how short blue is)."""
    sim = Sim(policy(), live=10)
    _rolled_back_on(sim, scaled_in_to=3)
    assert _until_ended(sim, lambda scale: True) == RESTORE_ASKS == 2  # each scale lost
    assert sim.r.phase is Phase.ROLLED_BACK
    short = sim.records[-1].evidence["instances_short"]["blue"]  # type: ignore[union-attr]
    assert (short["instances"], short["target"], short["asks"]) == (3, 10, 2)


def test_a_baseline_its_autoscale_is_scaling_is_asked_only_once_that_scale_is_done() -> None:
    """Updating (its setting scaling it as the load comes back): Azure answers a scale then
    409. Once it reads Succeeded, still short, it is asked for the rest."""
    sim = Sim(policy(), live=10)
    _rolled_back_on(sim, scaled_in_to=5)
    sim.ep.scale_deployment("fraud", "blue", 7)  # blue Updating, at 7
    sim.now += timedelta(seconds=70)
    t = m.decide(sim.r, Observation(sim.ep.get_endpoint("fraud"), None, None, None), sim.now)
    assert not any(isinstance(e, ScaleDeployment) for e in t.effects)
    sim.r = t.rollout
    sim.step(verdict=None)  # blue reads Succeeded at 7 now
    assert _baseline_scales(sim) == [10]


def test_a_rollout_that_never_took_live_traffic_leaves_the_baselines_count_alone() -> None:
    """Rolled back in its shadow: blue served everything all along, so a count its setting
    scaled it in to followed the load itself, and is not undone."""
    sim = Sim(policy(), live=10)
    for _ in range(40):
        sim.step()
        if sim.r.phase is Phase.SHADOWING and sim.r.confirmed:
            break
    assert sim.r.phase is Phase.SHADOWING
    sim.ep.scale_deployment("fraud", "blue", 5)  # its setting follows a smaller load
    sim.step(verdict=None)
    sim.step(verdict=ROLLBACK)
    sim.run(verdict=None)
    assert sim.r.phase is Phase.ROLLED_BACK
    assert _baseline_scales(sim) == []
    assert "instances_short" not in sim.records[-1].evidence  # type: ignore[union-attr]


def test_every_old_deployment_of_a_split_gets_its_instances_back() -> None:
    """blue 50 / green 50, both scaled in by their settings in the 50 % stage: each is asked
    back to what it ran, one a decision (a failed call stops those after it)."""
    sim = Sim(policy(), live=10)
    sim.ep = FakeEndpoints(provisioning_reads=1)
    sim.ep.add_endpoint(
        "fraud",
        {"blue": "azureml:fraud:6", "green": "azureml:fraud:6"},
        {"blue": 50, "green": 50},
        6,
    )
    _to_stage(sim, 1)
    sim.ep.scale_deployment("fraud", "blue", 2)
    sim.ep.scale_deployment("fraud", "green", 3)
    sim.step()
    sim.step(verdict=ROLLBACK)
    sim.run(verdict=None)
    assert sim.r.phase is Phase.ROLLED_BACK
    info = sim.ep.peek("fraud")
    assert info.traffic == {"blue": 50, "green": 50}
    assert {n: info.deployments[n].instance_count for n in ("blue", "green")} == {
        "blue": 6,
        "green": 6,
    }
    asked = [r for r in sim.records if r is not None and r.reason == m.BASELINE_SCALING]
    assert [list(r.evidence["deployments"]) for r in asked] == [["blue"], ["green"]]


def test_a_deployment_short_because_it_was_busy_is_named_with_its_state_at_the_end() -> None:
    """Never asked (Updating at every read, its own setting scaling it): the end says so,
    with no ask counted and the state it was read in."""
    sim = Sim(policy(), live=10)
    _rolled_back_on(sim, scaled_in_to=4)
    info = sim.ep.get_endpoint("fraud")
    blue = replace(info.deployments["blue"], provisioning_state="Updating")
    busy = replace(info, deployments={**info.deployments, "blue": blue})
    assert restore(sim.r, busy, sim.now) is None  # Azure answers a scale 409 meanwhile
    short = restore_evidence(sim.r, busy)["instances_short"]["blue"]
    assert (short["instances"], short["target"], short["asks"]) == (4, 10, 0)
    assert short["provisioning_state"] == "Updating"


def test_a_rollout_stored_before_peaks_were_followed_still_gives_the_baseline_live() -> None:
    """Its first read after the upgrade may find the baseline already scaled in: the target
    is at least the ``live`` it followed."""
    sim = Sim(policy(), live=10)
    _to_stage(sim, 1)
    sim.ep.scale_deployment("fraud", "blue", 4)
    sim.step()
    sim.r = sim.r.evolve(capacity={**sim.r.capacity, "peaks": {"blue": 4}})  # as first read
    sim.step(verdict=ROLLBACK)
    sim.run(verdict=None)
    assert sim.r.phase is Phase.ROLLED_BACK and _baseline_scales(sim) == [10]


def test_a_deployment_azure_keeps_failing_never_starves_the_others() -> None:
    """blue's scale fails on every ask: green is still asked back to its count (a failed
    call stops the calls after it, so each deployment has its own decision)."""
    sim = Sim(policy(), live=10)
    sim.ep = FakeEndpoints(provisioning_reads=1)
    olds = {"blue": "azureml:fraud:6", "green": "azureml:fraud:6"}
    sim.ep.add_endpoint("fraud", olds, {"blue": 50, "green": 50}, 6)
    _to_stage(sim, 1)
    sim.ep.scale_deployment("fraud", "blue", 2)
    sim.ep.scale_deployment("fraud", "green", 3)
    sim.step()
    sim.step(verdict=ROLLBACK)
    busy = {"code": "Conflict", "message": "busy", "details": {"status": 409}}

    def blue_fails(scale: ScaleDeployment) -> bool:
        if scale.name == "blue":
            sim.r = m.effect_failed(sim.r, busy, sim.now, effect=scale).rollout
            return False
        sim.ep.scale_deployment("fraud", scale.name, scale.instance_count)
        return True

    _until_ended(sim, blue_fails)
    assert sim.r.phase is Phase.ROLLED_BACK
    assert sim.ep.peek("fraud").deployments["green"].instance_count == 6
    short = sim.records[-1].evidence["instances_short"]  # type: ignore[union-attr]
    assert list(short) == ["blue"] and short["blue"]["asks"] == RESTORE_ASKS
