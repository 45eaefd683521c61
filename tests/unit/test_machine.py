"""decide() and admit(): the rollout state machine, scenario by scenario, with plain values."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared import machine as m
from shared.effects import CreateDeployment, DeleteDeployment, Effect, PublishEvent, SetTraffic
from shared.errors import PhaseConflict
from shared.fakes.endpoints import FakeEndpoints
from shared.judge.types import Verdict
from shared.model import ModelRef, Phase, Rollout, Waiting, deployment_name
from shared.observation import Command, Observation, OperationError
from shared.policy import RolloutPolicy, Stage
from shared.provisioning_reading import read_failure

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PROMOTE = Verdict("promote", "Cleared", {"log_e": 3.2})
HOLD = Verdict("hold", "Accumulating", {"log_e": 0.4})
ROLLBACK = Verdict("rollback", "ErrorRateRegression", {"log_e": 5.1, "threshold": 4.6})


def policy(**kw: object) -> RolloutPolicy:
    base = RolloutPolicy(
        endpoint="fraud",
        shadow_percent=20,
        shadow_duration=120,
        stages=(
            Stage(10, min_duration=60, max_duration=600),
            Stage(25, min_duration=60, max_duration=600),
            Stage(50, min_duration=60, max_duration=600),
            Stage(100),
        ),
        watch_window=300,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


class Sim:
    """One rollout against a fake endpoint: decide, apply effects, advance time."""

    def __init__(self, pol: RolloutPolicy | None = None, version: str = "7") -> None:
        self.now = T0
        self.ep = FakeEndpoints(provisioning_reads=1)
        self.ep.add_endpoint("fraud", {"blue": "azureml:fraud:6"}, {"blue": 100})
        model = ModelRef("fraud", version, event_id="ev-1", event_time=T0)
        t = m.new_rollout(model, pol or policy(), T0, m.ADMITTED)
        self.r: Rollout = t.rollout
        self.records = [t.record]
        self.events: list[str] = []

    def step(
        self, verdict: Verdict | None = None, command: Command | None = None, dt: float = 30
    ) -> m.Transition:
        self.now += timedelta(seconds=dt)
        info = self.ep.get_endpoint("fraud")
        logs, error = read_failure(self.ep, self.r, info)
        seen = Observation(info, verdict, logs, command, provisioning_error=error)
        t = m.decide(self.r, seen, self.now)
        self.apply(t.effects)
        # what the calls, all gone through, settle (as the Applier writes it after them)
        self.r = m.effects_succeeded(t.rollout, t.effects) or t.rollout
        if t.record:
            self.records.append(t.record)
        return t

    def apply(self, effects: tuple[Effect, ...]) -> None:
        for e in effects:
            if isinstance(e, CreateDeployment):
                self.ep.create_deployment("fraud", e)
            elif isinstance(e, SetTraffic):
                self.ep.set_traffic("fraud", e.traffic, e.mirror)
            elif isinstance(e, DeleteDeployment):
                self.ep.delete_deployment("fraud", e.name)
            elif isinstance(e, PublishEvent):
                self.events.append(e.type)

    def until(self, phase: Phase, verdict: Verdict | None = None, limit: int = 40) -> None:
        for _ in range(limit):
            if self.r.phase is phase:
                return
            self.step(verdict)
        raise AssertionError(f"never reached {phase}; at {self.r.phase} ({self.r.reason})")


def test_good_rollout_goes_through_every_phase_and_deletes_the_old_deployment() -> None:
    sim = Sim()
    seen = []
    for _ in range(60):
        if sim.r.phase.terminal:
            break
        sim.step(PROMOTE, dt=70)
        seen.append((sim.r.phase, sim.r.stage))
    phases = [p for p, _ in seen]
    for phase in (Phase.PROVISIONING, Phase.SHADOWING, Phase.CANARY, Phase.PROMOTING):
        assert phase in phases
    assert Phase.WATCHING in phases
    assert sim.r.phase is Phase.SUCCEEDED
    assert {s for p, s in seen if p is Phase.CANARY} == {0, 1, 2}
    assert sim.ep.traffic("fraud") == {"fraud-v7": 100}
    assert sim.ep.deployment_names("fraud") == ["fraud-v7"]
    assert "RolloutPromoted" in sim.events and sim.events[-1] == "RolloutSucceeded"


def test_canary_is_named_after_the_model_version_within_azure_rules() -> None:
    sim = Sim(version="12")
    sim.step()
    assert sim.r.canary == "fraud-v12"
    assert deployment_name("9lives", "1.0.3-rc") == "m-9lives-v1-0-3-rc"
    long = deployment_name("a" * 60, "123")
    assert len(long) <= 32 and long.endswith("-v123")
    assert deployment_name("fraud", "7", frozenset({"fraud-v7"})) == "fraud-v7-2"


def test_a_canary_name_never_takes_an_existing_deployments_name_in_another_case() -> None:
    """Azure resource names are case-insensitive: an existing 'Fraud-v3' is 'fraud-v3', and
    a create under that name would update the owners' deployment in place."""
    assert deployment_name("fraud", "3", frozenset({"Fraud-v3"})) == "fraud-v3-2"
    assert deployment_name("fraud", "3", frozenset({"FRAUD-V3", "fraud-v3-2"})) == "fraud-v3-3"


def test_stage_split_always_sums_to_100_and_mirror_is_cleared_when_live() -> None:
    sim = Sim()
    sim.until(Phase.SHADOWING, PROMOTE)
    assert sim.ep.mirror("fraud") == {"fraud-v7": 20}
    sim.until(Phase.CANARY, PROMOTE)
    assert sim.ep.traffic("fraud") == {"blue": 90, "fraud-v7": 10}
    assert sim.ep.mirror("fraud") == {}


def test_stage_is_not_judged_before_its_traffic_is_confirmed_live() -> None:
    sim = Sim()
    sim.until(Phase.CANARY, PROMOTE)
    assert sim.r.stage_since is None and not sim.r.confirmed
    t = sim.step(PROMOTE, dt=600)  # a promote verdict must not count before confirmation
    assert t.rollout.stage == 0 and t.rollout.confirmed
    assert t.record is not None and t.record.reason == m.TRAFFIC_CONFIRMED


def test_promote_waits_for_the_stage_minimum_duration() -> None:
    sim = Sim(policy(shadow_percent=0))
    sim.until(Phase.CANARY, PROMOTE)
    sim.step(HOLD, dt=1)  # confirm
    t = sim.step(PROMOTE, dt=30)
    assert t.rollout.stage == 0 and t.rollout.reason == m.JUDGE_HOLD
    t = sim.step(PROMOTE, dt=31)
    assert t.rollout.stage == 1


def test_judge_rollback_restores_baseline_and_deletes_the_canary() -> None:
    sim = Sim(policy(shadow_percent=0))
    sim.until(Phase.CANARY, PROMOTE)
    sim.step(HOLD)
    t = sim.step(ROLLBACK)
    assert t.rollout.phase is Phase.ROLLING_BACK
    assert t.record is not None and t.record.reason == m.JUDGE_ROLLBACK
    assert t.record.evidence["judge"] == {"log_e": 5.1, "threshold": 4.6}
    assert sim.ep.traffic("fraud") == {"blue": 100}
    sim.until(Phase.ROLLED_BACK)
    assert sim.ep.deployment_names("fraud") == ["blue"]
    assert "RolloutRolledBack" in sim.events


def test_alert_rolls_back_a_paused_rollout_at_once() -> None:
    sim = Sim(policy(shadow_percent=0))
    sim.until(Phase.CANARY, PROMOTE)
    sim.step(HOLD)
    sim.step(command=Command("pause", "investigating"))
    assert sim.r.paused
    t = sim.step(command=Command("alert", "latency alert fired", actor="alert:p99"), dt=1)
    assert t.rollout.phase is Phase.ROLLING_BACK and not t.rollout.paused
    assert sim.ep.traffic("fraud") == {"blue": 100}
    assert t.record is not None and t.record.actor == "alert:p99"


def test_alert_during_watch_window_restores_the_old_deployment() -> None:
    sim = Sim(policy(shadow_percent=0))
    sim.until(Phase.WATCHING, PROMOTE)
    assert sim.ep.traffic("fraud") == {"fraud-v7": 100}
    sim.step(command=Command("alert", "errors"))
    assert sim.ep.traffic("fraud") == {"blue": 100}
    sim.until(Phase.ROLLED_BACK)


def test_pause_stops_progress_and_resume_continues() -> None:
    sim = Sim(policy(shadow_percent=0))
    sim.until(Phase.CANARY, PROMOTE)
    sim.step(HOLD)
    sim.step(command=Command("pause", "look at dashboards", actor="ana"))
    for _ in range(5):
        sim.step(PROMOTE, dt=120)
    assert sim.r.stage == 0 and sim.r.paused
    t = sim.step(command=Command("resume", "looks fine", actor="ana"))
    assert not t.rollout.paused and t.record is not None and t.record.actor == "ana"
    sim.step(PROMOTE, dt=120)
    assert sim.r.stage == 1


@pytest.mark.parametrize(
    ("phase_to_reach", "action", "allowed"),
    [
        (Phase.PROVISIONING, "promote", False),
        (Phase.PROVISIONING, "pause", True),
        (Phase.PROVISIONING, "abort", True),
        (Phase.SHADOWING, "promote", True),
        (Phase.CANARY, "promote", True),
        (Phase.CANARY, "resume", False),
        (Phase.WATCHING, "promote", False),
        (Phase.WATCHING, "rollback", True),
        (Phase.ROLLING_BACK, "rollback", False),
        (Phase.ROLLING_BACK, "pause", False),
        (Phase.SUCCEEDED, "rollback", False),
    ],
)
def test_operator_actions_allowed_or_refused_by_phase(
    phase_to_reach: Phase, action: str, allowed: bool
) -> None:
    sim = Sim()
    if phase_to_reach is Phase.ROLLING_BACK:
        sim.until(Phase.CANARY, PROMOTE)
        sim.step(command=Command("rollback", "bad"))
    else:
        sim.until(phase_to_reach, PROMOTE, limit=80)
    before = sim.r
    cmd = Command(action, "because", actor="ops")  # type: ignore[arg-type]
    if allowed:
        t = m.decide(before, Observation(sim.ep.get_endpoint("fraud"), command=cmd), sim.now)
        assert t.record is not None and t.record.actor == "ops"
    else:
        with pytest.raises(PhaseConflict):
            m.decide(before, Observation(sim.ep.get_endpoint("fraud"), command=cmd), sim.now)


def test_promote_full_goes_straight_to_100_percent() -> None:
    sim = Sim()
    sim.until(Phase.SHADOWING, PROMOTE)
    t = sim.step(command=Command("promote", "hotfix", full=True))
    assert t.rollout.phase is Phase.PROMOTING
    assert sim.ep.traffic("fraud") == {"fraud-v7": 100}


def test_abort_ends_aborted_and_removes_the_canary() -> None:
    sim = Sim(policy(shadow_percent=0))
    sim.until(Phase.CANARY, PROMOTE)
    sim.step(command=Command("abort", "wrong model"))
    sim.until(Phase.ABORTED)
    assert sim.ep.traffic("fraud") == {"blue": 100}
    assert sim.ep.deployment_names("fraud") == ["blue"]


def test_provisioning_failure_fails_with_logs_and_leaves_traffic_alone() -> None:
    sim = Sim()
    sim.ep.fail_models.add("azureml:fraud:7")
    sim.until(Phase.ROLLING_BACK)
    failure = [r for r in sim.records if r and r.reason == m.PROVISIONING_FAILED]
    assert failure and "init() failed" in failure[0].evidence["logs"]
    sim.until(Phase.FAILED)
    assert sim.ep.traffic("fraud") == {"blue": 100}
    assert sim.ep.deployment_names("fraud") == ["blue"]


def test_provisioning_failure_says_azures_error_code_and_keeps_it_as_evidence() -> None:
    sim = Sim()
    sim.ep.fail_models.add("azureml:fraud:7")
    sim.until(Phase.ROLLING_BACK)
    failure = next(r for r in sim.records if r and r.reason == m.PROVISIONING_FAILED)
    assert failure.message.startswith(
        "deployment fraud-v7 provisioning Failed: ResourceNotReady: User container has crashed"
    )
    assert failure.evidence["azure_error"]["code"] == "ResourceNotReady"


def test_azures_error_message_is_redacted_and_bounded_before_it_is_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = Sim()
    sim.ep.fail_models.add("azureml:fraud:7")
    said = "AccountKey=c2VjcmV0c2VjcmV0c2VjcmV0 could not be used " + "x" * 5000
    error = OperationError("ImageBuildFailure", said, ("BuildFailed",))
    monkeypatch.setattr(sim.ep, "provisioning_error", lambda endpoint, name: error)
    sim.until(Phase.ROLLING_BACK)
    failure = next(r for r in sim.records if r and r.reason == m.PROVISIONING_FAILED)
    kept = failure.evidence["azure_error"]
    assert "c2VjcmV0" not in kept["message"] and "c2VjcmV0" not in failure.message
    assert len(kept["message"]) <= 1_000
    assert kept["code"] == "ImageBuildFailure" and kept["details"] == ["BuildFailed"]
    # the cause (the decision's message) shows the start of Azure's words, marked as cut
    shown = failure.message.split("ImageBuildFailure: ", 1)[1]
    assert len(shown) == 300 and shown.endswith("...")


def test_provisioning_timeout_fails_the_rollout() -> None:
    sim = Sim(policy(provisioning_timeout=60))
    sim.ep.provisioning_reads = 1000
    sim.step()
    t = sim.step(dt=61)
    assert t.record is not None and t.record.reason == m.PROVISIONING_TIMEOUT


def test_manual_traffic_change_pauses_and_is_not_overwritten() -> None:
    sim = Sim(policy(shadow_percent=0))
    sim.until(Phase.CANARY, PROMOTE)
    sim.step(HOLD)
    sim.ep.set_by_hand("fraud", {"blue": 50, "fraud-v7": 50})
    t = sim.step(PROMOTE, dt=120)
    assert t.rollout.paused and t.rollout.pause_reason == m.MANUAL_CHANGE
    assert t.record is not None
    assert t.record.evidence["observed_traffic"] == {"blue": 50, "fraud-v7": 50}
    for _ in range(3):
        t = sim.step(PROMOTE, dt=120)
        assert not t.effects
    assert sim.ep.traffic("fraud") == {"blue": 50, "fraud-v7": 50}


def test_manual_delete_of_the_canary_pauses() -> None:
    sim = Sim(policy(shadow_percent=0))
    sim.until(Phase.CANARY, PROMOTE)
    sim.step(HOLD)
    sim.ep.set_by_hand("fraud", {"blue": 90, "fraud-v7": 10})
    sim.ep.set_by_hand("fraud", {"blue": 100})
    sim.ep.delete_by_hand("fraud", "fraud-v7")
    t = sim.step(HOLD)
    assert t.rollout.paused and t.rollout.pause_reason in (m.DEPLOYMENT_MISSING, m.MANUAL_CHANGE)


def test_own_change_in_flight_is_not_mistaken_for_a_manual_one() -> None:
    sim = Sim(policy(shadow_percent=0))
    sim.until(Phase.CANARY)  # deployment succeeded -> stage 0 asked, not yet confirmed
    assert not sim.r.confirmed
    sim.ep.set_by_hand("fraud", {"blue": 100})  # as if the update had not landed yet
    t = sim.step(HOLD)
    assert not t.rollout.paused
    assert any(isinstance(e, SetTraffic) for e in t.effects)


def test_stage_deadline_holds_for_an_operator_or_rolls_back() -> None:
    hold = Sim(policy(shadow_percent=0))
    hold.until(Phase.CANARY, PROMOTE)
    hold.step(HOLD)
    t = hold.step(HOLD, dt=601)
    assert t.rollout.paused and t.rollout.pause_reason == m.STAGE_DEADLINE
    back = Sim(policy(shadow_percent=0, on_deadline="rollback"))
    back.until(Phase.CANARY, PROMOTE)
    back.step(HOLD)
    t = back.step(HOLD, dt=601)
    assert t.rollout.phase is Phase.ROLLING_BACK


def test_missing_verdict_never_promotes() -> None:
    sim = Sim(policy(shadow_percent=0))
    sim.until(Phase.CANARY, PROMOTE)
    for _ in range(5):
        t = sim.step(None, dt=100)
    assert t.rollout.stage == 0 and t.rollout.reason in (m.NO_VERDICT, m.STAGE_DEADLINE)


def test_no_live_deployment_is_read_again_for_a_while_then_fails() -> None:
    sim = Sim()
    sim.ep.set_by_hand("fraud", {"blue": 0})
    t = sim.step(dt=0)
    assert t.rollout.phase is Phase.PENDING and t.rollout.reason == m.NO_LIVE_DEPLOYMENT_YET
    assert t.effects == ()
    t = sim.step(dt=m.NO_LIVE_GRACE_S - 1)
    assert t.rollout.phase is Phase.PENDING
    t = sim.step(dt=1)
    assert t.rollout.phase is Phase.FAILED and t.rollout.reason == m.NO_LIVE_DEPLOYMENT


def test_a_live_deployment_shown_within_the_grace_is_cloned() -> None:
    sim = Sim()
    sim.ep.set_by_hand("fraud", {"blue": 0})
    assert sim.step(dt=0).rollout.reason == m.NO_LIVE_DEPLOYMENT_YET
    sim.ep.set_by_hand("fraud", {"blue": 100})  # the read no longer trails the update
    t = sim.step(dt=60)
    assert t.rollout.phase is Phase.PROVISIONING and t.rollout.baseline == "blue"


def test_a_version_already_live_when_pending_reads_the_endpoint_ends_touching_nothing() -> None:
    """Registered before the endpoint serving it was made (the endpoint then had no traffic):
    once it reads live, a clone would only copy it onto itself."""
    sim = Sim(version="6")  # blue serves azureml:fraud:6
    t = sim.step(dt=0)
    assert t.rollout.phase is Phase.SUCCEEDED and t.rollout.reason == m.VERSION_ALREADY_LIVE
    assert [e for e in t.effects if not isinstance(e, PublishEvent)] == []
    assert sim.ep.deployment_names("fraud") == ["blue"] and sim.ep.traffic("fraud") == {"blue": 100}


def test_hold_records_only_when_the_reason_changes() -> None:
    sim = Sim(policy(shadow_percent=0))
    sim.until(Phase.CANARY, PROMOTE)
    sim.step(HOLD, dt=1)
    first = sim.step(HOLD, dt=1)
    again = sim.step(HOLD, dt=1)
    assert first.record is not None and again.record is None


def _active(version: str = "7") -> Rollout:
    sim = Sim(version=version)
    sim.until(Phase.CANARY, PROMOTE)
    return sim.r


def test_newer_version_waits_and_the_newest_waiting_wins() -> None:
    active = _active()
    v8 = ModelRef("fraud", "8", event_id="e8", event_time=T0)
    v9 = ModelRef("fraud", "9", event_id="e9", event_time=T0)
    a8 = m.admit(active, None, v8, policy(), T0)
    assert a8.outcome == "wait" and a8.waiting is not None
    a9 = m.admit(active, a8.waiting, v9, policy(), T0)
    assert a9.outcome == "wait" and a9.waiting is not None
    assert a9.waiting.model.version == "9" and a9.reason == m.REPLACED_WAITING
    older = m.admit(active, a9.waiting, v8, policy(), T0)
    assert older.outcome == "ignore" and older.waiting == a9.waiting


def test_a_replaced_waiting_version_is_named_as_dropped_with_its_reason() -> None:
    active = _active()
    v8 = ModelRef("fraud", "8", event_id="e8", event_time=T0)
    v9 = ModelRef("fraud", "9", event_id="e9", event_time=T0)
    a8 = m.admit(active, None, v8, policy(), T0)
    assert a8.dropped is None  # nothing was waiting
    for on_newer in ("wait", "supersede"):
        a9 = m.admit(active, a8.waiting, v9, policy(on_newer_version=on_newer), T0)
        assert a9.dropped == a8.waiting and a9.dropped_reason == m.WAITING_REPLACED
        assert a9.dropped_detail == "waiting azureml:fraud:8 replaced by azureml:fraud:9"


def test_a_replaced_waiting_version_leaves_a_decision_in_the_slots_own_write() -> None:
    """The ignored events' listing is a second write; the decision is in the admission's."""
    active = _active()
    v8 = ModelRef("fraud", "8", event_id="e8", event_time=T0)
    v9 = ModelRef("fraud", "9", event_id="e9", event_time=T0)
    a8 = m.admit(active, None, v8, policy(), T0)
    assert a8.records == () and a8.active == active
    a9 = m.admit(active, a8.waiting, v9, policy(), T0)
    assert [r.reason for r in a9.records] == [m.WAITING_REPLACED]
    assert a9.records[0].evidence["replaced"]["version"] == "8"
    assert a9.active is not None and a9.active.seq == a9.records[0].seq == active.seq + 1
    assert a9.active.reason == active.reason  # the rollout still says what it is doing
    sup = m.admit(active, a8.waiting, v9, policy(on_newer_version="supersede"), T0)
    assert [r.evidence.get("replaced", {}).get("version") for r in sup.records] == ["8"]


def test_newer_version_supersedes_when_the_policy_says_so() -> None:
    active = _active()
    v8 = ModelRef("fraud", "8", event_id="e8", event_time=T0)
    adm = m.admit(active, None, v8, policy(on_newer_version="supersede"), T0)
    assert adm.outcome == "supersede"
    assert adm.active is not None and adm.active.phase is Phase.ROLLING_BACK
    assert adm.active.outcome is Phase.SUPERSEDED
    assert adm.waiting == Waiting(v8, policy(on_newer_version="supersede"))


def test_same_version_again_is_ignored() -> None:
    active = _active()
    again = ModelRef("fraud", "7", event_id="other", event_time=T0)
    assert m.admit(active, None, again, policy(), T0).outcome == "ignore"


def test_rollout_round_trips_through_plain_data() -> None:
    r = _active()
    assert Rollout.from_dict(r.to_dict()) == r


def test_stage_advance_records_the_stage_it_came_from() -> None:
    sim = Sim(policy(shadow_percent=0))
    sim.until(Phase.CANARY, PROMOTE)
    sim.step(HOLD)
    t = sim.step(PROMOTE, dt=61)
    assert t.record is not None and (t.record.stage_from, t.record.stage_to) == (0, 1)


def test_a_create_azure_canceled_is_asked_once_more_then_the_rollout_goes_on() -> None:
    """OperationCanceled: another operation on the resource took over, and Azure ML's
    troubleshooting guide says a retry may go through; once, not for ever."""
    sim = Sim()
    sim.ep.cancel_models.append("azureml:fraud:7")
    sim.until(Phase.SUCCEEDED, PROMOTE, limit=80)
    assert [op for op, _ in sim.ep.calls].count("create_deployment") == 2
    assert sim.ep.traffic("fraud") == {"fraud-v7": 100}


def test_a_create_canceled_twice_fails_the_rollout() -> None:
    sim = Sim()
    sim.ep.cancel_models.extend(["azureml:fraud:7", "azureml:fraud:7"])
    sim.until(Phase.ROLLING_BACK)
    failed = [r for r in sim.records if r and r.reason == m.PROVISIONING_FAILED]
    assert failed and "Canceled" in failed[0].message


def test_a_paused_pending_rollout_creates_nothing_until_resumed() -> None:
    """Pause stops progress from the start: paused while Pending (by an operator, or by the
    engine for a missing endpoint), no canary is created until a resume."""
    sim = Sim()
    assert sim.r.phase is Phase.PENDING
    sim.step(command=Command("pause", "not now", actor="ana"))
    for _ in range(3):
        t = sim.step()
        assert t.rollout.phase is Phase.PENDING and t.rollout.paused
        assert not any(isinstance(e, CreateDeployment) for e in t.effects)
    assert set(sim.ep.get_endpoint("fraud").deployments) == {"blue"}
    sim.step(command=Command("resume", "go", actor="ana"))
    sim.step()
    assert (
        sim.r.phase is Phase.PROVISIONING and "fraud-v7" in sim.ep.get_endpoint("fraud").deployments
    )
