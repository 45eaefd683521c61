"""A traffic update decided on a state another writer has since replaced is not sent.

Two writers share an endpoint: the timer's reconcile and an alert's webhook (which Azure
Functions runs on any instance, beside the timer). Each writes its decision under the slot's
ETag, then calls Azure; the call is what can arrive late (Azure ML answers 409 while another
operation on the endpoint runs, and the adapter waits that out). A stage change decided before
an alert's rollback and sent after it would put the bad canary back on live traffic until the
next tick. The adapter asks, just before each update it sends, whether the slot still asks for
that split (``machine.still_asks``). The question and the send are two calls: a decision
stored in the moment between them can still be overtaken, and the next tick's step puts the
split right (Azure ML's endpoint PUT takes no If-Match precondition: azure-ai-ml's generated
request builder for OnlineEndpoints_CreateOrUpdate sets none)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from shared.errors import AzureBusy, TransientUpstreamError
from shared.model import Phase
from shared.observation import Alert
from tests.engine_support import WORKSPACE_ID, World, canary_live, make_world

ALERT = Alert("a1", "p99", "Fired", (f"{WORKSPACE_ID}/onlineEndpoints/fraud",))


def _canary_live(w: World) -> None:
    w.engine.on_model_registered(w.model())
    canary_live(w)
    assert w.endpoints.traffic("fraud") == {"blue": 90, "fraud-v7": 10}


def _alert_lands_first(w: World, when: Callable[[Mapping[str, int]], bool]) -> list[Any]:
    """The next traffic update matching ``when`` reaches Azure only after an alert's rollback
    went through (as when Azure was busy with it and the adapter waited)."""
    real = w.endpoints.set_traffic
    fired: list[Any] = []

    def late(endpoint: str, traffic: Mapping[str, int], *rest: Any) -> None:
        if not fired and when(traffic):
            fired.append(w.engine.on_alert(ALERT))
        real(endpoint, traffic, *rest)

    w.endpoints.set_traffic = late  # type: ignore[method-assign]
    return fired


def test_a_stage_change_sent_after_an_alerts_rollback_does_not_undo_it() -> None:
    w = make_world()
    _canary_live(w)
    fired = _alert_lands_first(w, lambda t: t.get("fraud-v7", 0) > 10)
    w.judge.set("promote")
    for _ in range(10):  # the next stage is decided; its update arrives after the alert's
        w.tick(70)
        if fired:
            break
    assert fired and [r.outcome for r in fired[0]] == ["rolled_back"]
    assert w.endpoints.traffic("fraud") == {"blue": 100}
    active = w.store.read("fraud").active
    assert active is None or active.phase in (Phase.ROLLING_BACK, Phase.ROLLED_BACK)


def test_a_reissued_stage_change_sent_after_an_alerts_rollback_does_not_undo_it() -> None:
    """Azure refused the stage change (busy); the next tick re-issues it without a write (the
    split is already asked for), so no ETag stands between it and the alert's rollback."""
    w = make_world()
    _canary_live(w)
    w.judge.set("promote")
    w.endpoints.fail_op["set_traffic"] = [AzureBusy("endpoint is Updating")]
    for _ in range(10):
        w.tick(70)
        if not w.endpoints.fail_op["set_traffic"]:
            break
    active = w.store.read("fraud").active
    assert active is not None and not active.confirmed and active.traffic["fraud-v7"] > 10
    fired = _alert_lands_first(w, lambda t: t.get("fraud-v7", 0) > 10)
    w.tick(70)
    assert fired and [r.outcome for r in fired[0]] == ["rolled_back"]
    assert w.endpoints.traffic("fraud") == {"blue": 100}


def test_the_rollback_itself_is_never_held_back_by_the_check() -> None:
    """The latest writer's update goes through: the alert's own rollback lands."""
    w = make_world()
    _canary_live(w)
    [result] = w.engine.on_alert(ALERT)
    assert result.outcome == "rolled_back"
    assert w.endpoints.traffic("fraud") == {"blue": 100}


def test_an_alert_whose_rollback_a_newer_decision_replaced_answers_from_that_decision() -> None:
    """The alert's rollback is written; before its traffic update goes out, the baseline turns
    unusable (here forced to Deleting, as the fake's own rules would not let a person delete
    it while it serves) and another instance's tick finds nothing to restore: the rollout ends
    Failed, RollbackImpossible, the canary serving. The alert's update is not sent, and its
    answer says nothing was rolled back (not "rolled_back" with the canary still live)."""
    w = make_world()
    _canary_live(w)
    real = w.endpoints.set_traffic
    ticked: list[Any] = []

    def late(endpoint: str, traffic: Mapping[str, int], *rest: Any) -> None:
        if not ticked and traffic.get("fraud-v7", 0) == 0:
            blue = w.endpoints._endpoints["fraud"].deployments["blue"]
            blue.state, blue.reads_left = "Deleting", 99
            ticked.append(w.engine.reconcile("fraud"))
        real(endpoint, traffic, *rest)

    w.endpoints.set_traffic = late  # type: ignore[method-assign]
    [result] = w.engine.on_alert(ALERT)
    assert ticked and ticked[0].reason == "RollbackImpossible"
    assert (result.outcome, result.reason) == ("not_rolled_back", "RollbackImpossible")
    assert w.endpoints.traffic("fraud") == {"blue": 90, "fraud-v7": 10}


def test_a_resume_after_a_change_by_hand_is_not_taken_for_another_when_its_update_fails() -> None:
    """The stage change landed, the previous split was put back by hand (paused), the operator
    resumes and the resume's traffic update fails once: the next tick sends it again rather
    than taking the still-previous split for a second change by hand (the resume is a new ask,
    not landed)."""
    w = make_world()
    _canary_live(w)
    w.judge.set("promote")
    for _ in range(5):
        w.tick(70)
        active = w.store.read("fraud").active
        if active is not None and active.stage == 1:
            break
    w.judge.set("hold")
    assert active is not None and active.landed_at is not None and not active.confirmed
    w.endpoints.set_by_hand("fraud", dict(active.prev_traffic))
    w.tick(70)
    paused = w.store.read("fraud").active
    assert paused is not None and paused.pause_reason == "ManualChangeDetected"
    w.endpoints.fail_op["set_traffic"] = [TransientUpstreamError("ARM 503")]
    w.engine.act("fraud", "resume", "that was me, carry on", "ana")
    w.tick(70)
    after = w.store.read("fraud").active
    assert after is not None and not after.paused
    assert w.endpoints.traffic("fraud") == dict(active.traffic)
