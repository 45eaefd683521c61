"""The engine's use cases over the fakes: ingest, reconcile, alerts, operator actions."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared import machine
from shared.errors import InvalidInput, NotFound, PhaseConflict, TransientUpstreamError
from shared.model import Phase
from shared.observation import Alert
from shared.operator_requests import StartRequest
from shared.ports import RolloutQuery
from shared.waiting import start_or_drop
from tests.engine_support import WORKSPACE_ID, make_world
from tests.kill_injection import KillableStore, Killed


def test_registered_model_starts_a_rollout_and_requests_the_clone() -> None:
    w = make_world()
    result = w.engine.on_model_registered(w.model())
    assert result.outcome == "started" and result.endpoint == "fraud"
    slot = w.store.read("fraud")
    assert slot.active is not None and slot.active.phase is Phase.PROVISIONING
    assert "fraud-v7" in w.endpoints.deployment_names("fraud")


def test_same_event_twice_gives_one_rollout() -> None:
    w = make_world()
    w.engine.on_model_registered(w.model(event_id="e1"))
    again = w.engine.on_model_registered(w.model(event_id="e1"))
    assert again.outcome == "duplicate"
    assert len(w.store.list_rollouts(RolloutQuery(endpoint="fraud"))) == 1


def test_unmatched_model_is_recorded_as_ignored_with_the_reason() -> None:
    w = make_world()
    result = w.engine.on_model_registered(w.model("ranker", "3"))
    assert result.outcome == "ignored" and result.reason == "NoMatchingRule"
    ignored = w.store.ignored_events()
    assert [e.reason for e in ignored] == ["NoMatchingRule"]


def test_good_rollout_runs_to_success_on_timer_ticks() -> None:
    w = make_world()
    w.judge.set("promote", "Cleared")
    w.engine.on_model_registered(w.model())
    for _ in range(30):
        w.tick(70)
        if w.store.read("fraud").active is None:
            break
    done = w.store.list_rollouts(RolloutQuery(endpoint="fraud"))[0]
    assert done.phase is Phase.SUCCEEDED
    assert w.endpoints.deployment_names("fraud") == ["fraud-v7"]
    assert "Autocanary.Rollout.RolloutSucceeded" in w.events.types()
    reasons = [d.reason for d in w.store.decisions("fraud", done.id)]
    assert reasons[0] == "Admitted" and reasons[-1] == "Succeeded"


def test_judge_rollback_on_a_timer_tick() -> None:
    w = make_world()
    w.judge.set("promote")
    w.engine.on_model_registered(w.model())
    for _ in range(6):
        w.tick(70)
    w.judge.set("rollback", "ErrorRateRegression")
    for _ in range(8):  # the judge is asked once the stage's first minutes settled
        w.tick(70)
    latest = w.store.list_rollouts(RolloutQuery(endpoint="fraud"))[0]
    assert latest.phase is Phase.ROLLED_BACK
    assert w.endpoints.traffic("fraud") == {"blue": 100}


def test_alert_rolls_back_at_once_and_resolved_alerts_change_nothing() -> None:
    w = make_world()
    w.judge.set("promote")  # the shadow is cleared by the judge, then stage 0 holds
    w.engine.on_model_registered(w.model())
    for _ in range(12):
        w.tick(70)
        if w.store.read("fraud").active.phase is Phase.CANARY:  # type: ignore[union-attr]
            break
    w.judge.set("hold")
    w.tick(70)
    assert w.store.read("fraud").active.phase is Phase.CANARY  # type: ignore[union-attr]
    assert w.endpoints.traffic("fraud") == {"blue": 90, "fraud-v7": 10}
    target = f"{WORKSPACE_ID}/onlineEndpoints/fraud".lower()
    resolved = w.engine.on_alert(Alert("a1", "p99", "Resolved", (target,)))
    assert resolved[0].outcome == "ignored"
    results = w.engine.on_alert(Alert("a1", "p99", "Fired", (target,)))
    assert results[0].outcome == "rolled_back"
    assert w.endpoints.traffic("fraud") == {"blue": 100}


def test_alert_for_another_workspace_or_unknown_endpoint_is_ignored() -> None:
    w = make_world()
    other = WORKSPACE_ID.replace("/ws", "/other") + "/onlineEndpoints/fraud"
    assert w.engine.on_alert(Alert("a", "r", "Fired", (other,)))[0].outcome == "ignored"
    mine = f"{WORKSPACE_ID}/onlineEndpoints/nobody"
    assert w.engine.on_alert(Alert("a", "r", "Fired", (mine,)))[0].outcome == "ignored"


def test_operator_actions_need_a_known_endpoint_and_an_allowed_phase() -> None:
    w = make_world()
    with pytest.raises(NotFound):
        w.engine.act("fraud", "pause", "why", "ana")
    w.engine.on_model_registered(w.model())
    with pytest.raises(PhaseConflict):
        w.engine.act("fraud", "promote", "too early", "ana")
    with pytest.raises(InvalidInput):
        w.engine.act("fraud", "explode", "why", "ana")
    result = w.engine.act("fraud", "pause", "checking", "ana")
    assert result.rollout is not None and result.rollout.paused
    assert result.decision is not None and result.decision.reason == "PausedByOperator"
    assert "resume" in machine.allowed_actions(result.rollout)
    assert result.decision.actor == "ana"


def test_an_action_on_an_endpoint_with_no_active_rollout_lists_what_may_be_done_instead() -> None:
    w = make_world()
    w.engine.on_model_registered(w.model())
    w.engine.act("fraud", "rollback", "bad", "ana")
    for _ in range(10):
        w.tick(70)
    assert w.store.read("fraud").active is None or w.store.read("fraud").active.phase.terminal
    with pytest.raises(PhaseConflict) as err:
        w.engine.act("fraud", "pause", "why", "ana")
    assert err.value.code == "no_active_rollout"
    assert err.value.details["phase"] == "RolledBack"
    assert err.value.details["allowed"] == ["retry"]


def test_newer_version_waits_then_starts_when_the_endpoint_is_free() -> None:
    w = make_world()
    w.judge.set("promote")
    w.engine.on_model_registered(w.model(version="7"))
    waiting = w.engine.on_model_registered(w.model(version="8"))
    assert waiting.outcome == "waiting"
    for _ in range(40):
        w.tick(70)
        active = w.store.read("fraud").active
        if active is not None and active.model.version == "8":
            break
    assert active is not None and active.model.version == "8"


def test_a_waiting_version_older_than_the_live_one_is_listed_as_ignored_never_started() -> None:
    """It waited behind an operator's downgrade (fraud:5 live, fraud:2 started by hand), which
    is rolled back: fraud:3 is then checked against what the endpoint serves, as an event is."""
    w = make_world()
    w.endpoints._endpoints["fraud"].deployments["blue"].model = "azureml:fraud:5"
    started = w.engine.start(
        StartRequest("fraud", "2", "try the old one", actor="ana", allow_downgrade=True)
    )
    assert started.outcome == "started"
    assert w.engine.on_model_registered(w.model(version="3")).outcome == "waiting"
    w.engine.act("fraud", "rollback", "enough", "ana")
    for _ in range(10):
        w.tick(70)
    slot = w.store.read("fraud")
    assert slot.active is None and slot.waiting is None
    assert len(w.store.list_rollouts(RolloutQuery(endpoint="fraud"))) == 1
    [ignored] = [e for e in w.store.page_ignored().items if e.model.version == "3"]
    assert ignored.reason == machine.OLDER_THAN_LIVE and "fraud:5" in ignored.detail
    assert w.endpoints.traffic("fraud") == {"blue": 100}


def test_a_stale_waiting_version_is_listed_even_if_the_process_dies_as_it_is_dropped() -> None:
    """Listed first, then dropped: a kill right after the slot write that drops it leaves it
    listed (before, the listing came after that write, and such a kill lost it)."""
    w = make_world()
    w.endpoints._endpoints["fraud"].deployments["blue"].model = "azureml:fraud:5"
    w.engine.start(StartRequest("fraud", "2", "try the old one", actor="ana", allow_downgrade=True))
    w.engine.on_model_registered(w.model(version="3"))
    real = w.engine.live_models

    def unreadable(endpoint: str) -> dict[str, str | None]:
        raise TransientUpstreamError("ARM 503")  # the start after the rollout's end waits

    w.engine.live_models = unreadable  # type: ignore[method-assign]
    w.engine.act("fraud", "rollback", "enough", "ana")
    for _ in range(10):
        slot = w.store.read("fraud")
        if slot.active is None or slot.active.phase.terminal:
            break
        w.tick(70)
    w.engine.live_models = real  # type: ignore[method-assign]
    assert slot.waiting is not None and slot.waiting.model.version == "3"
    store = KillableStore(w.store)
    store.kill = "after_write"
    with pytest.raises(Killed):
        start_or_drop(store, slot, w.engine.live_models("fraud"), w.clock.now())
    assert w.store.read("fraud").waiting is None
    listed = [e for e in w.store.page_ignored().items if e.model.version == "3"]
    assert [e.reason for e in listed] == [machine.OLDER_THAN_LIVE]


def test_starting_a_waiting_version_already_started_elsewhere_does_nothing() -> None:
    """Another tick started it between the read and this start: no assertion, no failure
    recorded on the rollout it started, no second start."""
    w = make_world()
    w.engine.on_model_registered(w.model(version="7"))
    w.engine.on_model_registered(w.model(version="8"))
    busy = w.store.read("fraud")  # an active rollout, a version waiting
    start_or_drop(w.store, busy, {}, w.clock.now())
    slot = w.store.read("fraud")
    assert slot.active is not None and slot.active.model.version == "7"
    assert slot.waiting is not None and not slot.active.failure
    start_or_drop(w.store, replace(busy, waiting=None), {}, w.clock.now())  # started already
    assert w.store.read("fraud") == slot


def test_newer_version_supersedes_when_the_policy_says_so() -> None:
    w = make_world()
    w.judge.set("hold")
    w.engine.on_model_registered(w.model("churn", "2"))  # churn:1 is live
    for _ in range(4):
        w.tick(70)
    result = w.engine.on_model_registered(w.model("churn", "3"))
    assert result.outcome == "superseding"
    for _ in range(6):
        w.tick(70)
    first = [r for r in w.store.list_rollouts(RolloutQuery(endpoint="churn"))]
    phases = {r.model.version: r.phase for r in first}
    assert phases["2"] is Phase.SUPERSEDED
    assert phases["3"] not in (Phase.SUPERSEDED, Phase.FAILED)


def test_one_endpoint_failing_does_not_stop_the_others() -> None:
    w = make_world()
    w.judge.set("hold")
    w.engine.on_model_registered(w.model("fraud", "7"))
    w.engine.on_model_registered(w.model("churn", "2"))
    w.endpoints.fail_next = [TransientUpstreamError("ARM 503")]
    w.clock.advance(70)
    outcomes = {o.endpoint: o for o in w.engine.reconcile_all()}
    assert len(outcomes) == 2
    assert sum(1 for o in outcomes.values() if o.error) == 1
    assert all(o.error or o.rollout_id for o in outcomes.values())


def test_failed_reconcile_is_recorded_on_the_rollout_and_healed_next_tick() -> None:
    w = make_world()
    w.engine.on_model_registered(w.model())
    w.clock.advance(70)
    w.endpoints.fail_next = [TransientUpstreamError("busy")]
    # the failure hits get_endpoint: the endpoint's reconcile fails and is recorded
    w.engine.reconcile_all()
    r = w.store.read("fraud").active
    assert r is not None and r.failure["code"] == "upstream_unavailable"
    assert w.store.decisions("fraud", r.id)[-1].reason == "EffectFailed"
    w.tick(70)
    assert not w.store.read("fraud").active.failure  # type: ignore[union-attr]


def test_each_judged_stage_gets_its_share_of_alpha() -> None:
    """Shadow + 2 judged stages share the policy's alpha (0.01 / 3 each)."""
    w = make_world()
    w.judge.set("hold")
    w.engine.on_model_registered(w.model())
    for _ in range(8):  # the judge is asked once the shadow's first minutes settled
        w.tick(70)
    assert w.judge.calls, "the judge was asked"
    alphas = {round(settings.alpha, 6) for _, settings in w.judge.calls}
    assert alphas == {round(0.01 / 3, 6)}


def test_a_late_event_for_an_older_version_than_the_live_one_is_ignored_with_the_reason() -> None:
    w = make_world()
    w.judge.set("promote")
    w.engine.on_model_registered(w.model("fraud", "7"))
    for _ in range(40):
        w.tick(70)
    assert w.endpoints.traffic("fraud") == {"fraud-v7": 100}
    late = w.engine.on_model_registered(w.model("fraud", "6", event_id="ev-late-6"))
    again = w.engine.on_model_registered(w.model("fraud", "7", event_id="ev-new-id-7"))
    assert (late.outcome, late.reason) == ("ignored", "OlderThanLiveVersion")
    assert (again.outcome, again.reason) == ("ignored", "VersionAlreadyLive")
    assert w.store.read("fraud").active is None


def test_an_event_that_fails_to_go_out_stays_in_the_outbox_and_is_sent_on_the_next_tick() -> None:
    w = make_world()
    w.events.fail = True
    w.engine.on_model_registered(w.model())  # the first reconcile creates: RolloutStarted
    assert w.events.types() == []
    pending = w.store.read("fraud").outbox
    assert [e.type for e in pending] == ["Autocanary.Rollout.RolloutStarted"]
    w.events.fail = False
    w.tick(10)
    assert w.events.types() == ["Autocanary.Rollout.RolloutStarted"]
    assert w.events.ids == [pending[0].id]
    assert w.store.read("fraud").outbox == ()
