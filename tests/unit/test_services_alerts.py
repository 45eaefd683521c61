"""Engine.on_alert over the fakes: target matching, per-target outcomes, deployment dimension."""

from __future__ import annotations

import pytest

from shared import deadline
from shared import machine as m
from shared.alerting import ALERT_WAIT_S
from shared.errors import RetryLater, StaleState, TransientUpstreamError, UpstreamError, http_status
from shared.model import Phase
from shared.observation import Alert
from tests.engine_support import POLICY, WORKSPACE_ID, World, make_world

CASED_POLICY = POLICY.replace("endpoint: fraud\n", "endpoint: Fraud-Scoring\n")


def _canary_live(w: World, endpoint: str = "fraud") -> None:
    """A canary with live traffic: the judge clears the shadow, then holds the first stage."""
    w.judge.set("promote")
    w.engine.on_model_registered(w.model())
    for _ in range(20):
        w.tick(70)
        active = w.store.read(endpoint).active
        if active is not None and active.phase is Phase.CANARY:
            break
    w.judge.set("hold")
    w.tick(70)
    active = w.store.read(endpoint).active
    assert active is not None and active.phase is Phase.CANARY


def _target(endpoint: str) -> str:
    return f"{WORKSPACE_ID}/onlineEndpoints/{endpoint}"


def test_lower_cased_target_rolls_back_an_endpoint_with_capitals() -> None:
    """Azure lower-cases alertTargetIDs: 'fraud-scoring' still finds rollout 'Fraud-Scoring'."""
    w = make_world(CASED_POLICY, endpoints=("Fraud-Scoring",))
    _canary_live(w, "Fraud-Scoring")
    results = w.engine.on_alert(Alert("a1", "p99", "Fired", (_target("Fraud-Scoring").lower(),)))
    assert [(r.endpoint, r.outcome) for r in results] == [("Fraud-Scoring", "rolled_back")]
    assert w.endpoints.traffic("Fraud-Scoring") == {"blue": 100}


def test_bad_target_is_reported_and_the_valid_one_still_rolls_back() -> None:
    """A target the store cannot key (here: '#' in the endpoint name) never fails the others."""
    w = make_world()
    _canary_live(w)
    bad = _target("bad#name" + "x" * 600)
    alert = Alert(
        "a1",
        "p99",
        "Fired",
        (bad, _target("fraud").lower()),
        rejected_targets=(("42", "a target must be a non-empty resource id string"),),
    )
    results = w.engine.on_alert(alert)
    outcomes = [r.outcome for r in results]
    assert outcomes.count("rolled_back") == 1 and outcomes.count("invalid_target") == 2
    assert w.endpoints.traffic("fraud") == {"blue": 100}
    rejected = [r for r in results if r.outcome == "invalid_target"]
    assert all(r.reason for r in rejected)


def test_alert_on_the_baseline_is_recorded_and_the_canary_stays_live() -> None:
    w = make_world()
    _canary_live(w)
    alert = Alert("a1", "p99", "Fired", (_target("fraud").lower(),), deployments=("blue",))
    results = w.engine.on_alert(alert)
    assert [(r.outcome, r.reason) for r in results] == [
        ("not_rolled_back", m.ALERT_ON_OTHER_DEPLOYMENT)
    ]
    assert "blue" in results[0].detail
    assert w.endpoints.traffic("fraud") == {"blue": 90, "fraud-v7": 10}
    active = w.store.read("fraud").active
    assert active is not None and active.phase is Phase.CANARY
    rec = w.store.decisions("fraud", active.id)[-1]
    assert rec.reason == m.ALERT_ON_OTHER_DEPLOYMENT and rec.evidence["alert_id"] == "a1"


def test_alert_on_the_canary_deployment_rolls_back() -> None:
    w = make_world()
    _canary_live(w)
    alert = Alert("a1", "p99", "Fired", (_target("fraud"),), deployments=("fraud-v7",))
    assert w.engine.on_alert(alert)[0].outcome == "rolled_back"
    assert w.endpoints.traffic("fraud") == {"blue": 100}


def test_same_endpoint_twice_in_one_alert_is_handled_once() -> None:
    w = make_world()
    _canary_live(w)
    targets = (_target("fraud"), _target("fraud").lower())
    results = w.engine.on_alert(Alert("a1", "p99", "Fired", targets))
    assert [r.outcome for r in results] == ["rolled_back"]


def test_deployment_scope_target_on_the_baseline_rolls_nothing_back() -> None:
    """A per-deployment alert rule targets .../deployments/D: D is the deployment it names."""
    w = make_world()
    _canary_live(w)
    target = f"{_target('fraud')}/deployments/blue".lower()
    results = w.engine.on_alert(Alert("a1", "p99", "Fired", (target,)))
    assert [r.outcome for r in results] == ["not_rolled_back"]
    assert w.endpoints.traffic("fraud") == {"blue": 90, "fraud-v7": 10}


def test_an_alert_whose_traffic_change_azure_fails_answers_5xx_so_azure_sends_it_again() -> None:
    """The rollback is decided and recorded, but the traffic update fails (a 503): the webhook
    must not answer 200 with the canary still serving; the retried alert restores traffic."""
    w = make_world()
    _canary_live(w)
    w.endpoints.fail_op["set_traffic"] = [TransientUpstreamError("ARM 503")]
    alert = Alert("a1", "p99", "Fired", (_target("fraud"),))
    with pytest.raises(TransientUpstreamError):
        w.engine.on_alert(alert)
    active = w.store.read("fraud").active
    assert active is not None and active.phase is Phase.ROLLING_BACK
    assert w.endpoints.traffic("fraud") != {"blue": 100}
    again = w.engine.on_alert(alert)  # Azure's retry of the webhook
    assert w.endpoints.traffic("fraud") == {"blue": 100}, again


def test_an_alert_whose_writes_keep_being_contended_answers_503_so_azure_retries_it() -> None:
    """An action group retries a webhook on 408, 429, 503 and 504 only (action-groups.md): a
    409 from a write that lost every ETag race would leave the canary serving."""
    w = make_world()
    _canary_live(w)

    def contended(*args: object, **kwargs: object) -> object:
        raise StaleState("the slot changed meanwhile")

    w.store.write = contended  # type: ignore[method-assign]
    with pytest.raises(RetryLater) as err:
        w.engine.on_alert(Alert("a1", "p99", "Fired", (_target("fraud"),)))
    assert http_status(err.value) == 503 and err.value.details["cause"] == "stale_state"


def test_an_alert_that_fails_unexpectedly_answers_503_not_500() -> None:
    w = make_world()
    _canary_live(w)
    listed = w.store.active_endpoints
    w.store.active_endpoints = lambda: (_ for _ in ()).throw(RuntimeError("unmapped"))  # type: ignore[method-assign]
    alert = Alert("a1", "p99", "Fired", (_target("fraud"),))
    with pytest.raises(RetryLater) as err:
        w.engine.on_alert(alert)
    w.store.active_endpoints = listed  # type: ignore[method-assign]
    assert http_status(err.value) == 503 and err.value.details["cause"] == "RuntimeError"
    w.engine.on_alert(alert)  # Azure's retry of the webhook
    assert w.endpoints.traffic("fraud") == {"blue": 100}


def test_an_alert_whose_traffic_change_azure_refuses_for_good_never_answers_rolled_back() -> None:
    """A permanent refusal of the rollback's traffic change (a retry of the alert cannot
    help) answers not_rolled_back with Azure's error, never rolled_back with the canary
    still serving; the timer goes on asking for the split."""
    w = make_world()
    _canary_live(w)
    w.endpoints.fail_op["set_traffic"] = [
        UpstreamError("update fraud: refused", code="BadRequest", details={"status": 400})
    ]
    results = w.engine.on_alert(Alert("a1", "p99", "Fired", (_target("fraud"),)))
    assert [r.outcome for r in results] == ["not_rolled_back"]
    assert "BadRequest" in results[0].reason and "may still serve" in results[0].detail
    assert w.endpoints.traffic("fraud") != {"blue": 100}


def test_an_alert_with_nothing_to_roll_back_to_answers_not_rolled_back() -> None:
    """The baseline is gone (traffic moved to the canary and the baseline deleted by hand):
    the canary keeps serving, the rollout pauses, and the reply says nothing was rolled back."""
    w = make_world()
    _canary_live(w)
    active = w.store.read("fraud").active
    assert active is not None
    w.endpoints.set_traffic("fraud", {active.canary: 100}, {})
    w.endpoints.delete_deployment("fraud", "blue")
    [result] = w.engine.on_alert(Alert("a1", "p99", "Fired", (_target("fraud"),)))
    assert (result.outcome, result.reason) == ("not_rolled_back", m.ROLLBACK_IMPOSSIBLE)
    assert w.endpoints.traffic("fraud") == {active.canary: 100}
    paused = w.store.read("fraud").active
    assert paused is not None and paused.pause_reason == m.ROLLBACK_IMPOSSIBLE


def test_an_alert_whose_endpoint_azure_refuses_to_read_for_good_answers_in_its_results() -> None:
    """A 403 AuthorizationFailed reading the endpoint: a retry of the alert cannot help, so it
    is not answered 503 (an action group sends a 503 again, then calls no webhook for 15
    minutes once its retries fail, action-groups.md): not_rolled_back, with Azure's code."""
    w = make_world()
    _canary_live(w)
    w.endpoints.fail_op["get_endpoint"] = [
        UpstreamError("read fraud: denied", code="AuthorizationFailed", details={"status": 403})
    ]
    results = w.engine.on_alert(Alert("a1", "p99", "Fired", (_target("fraud"),)))
    assert [(r.outcome, r.reason) for r in results] == [
        ("not_rolled_back", "Refused: AuthorizationFailed")
    ]


def test_an_activity_log_alert_on_the_endpoint_rolls_nothing_back() -> None:
    """Resource Health and Administrative alerts are stateless and always Fired, a recovery
    to Available too: they say nothing of the canary."""
    w = make_world()
    _canary_live(w)
    before = w.endpoints.traffic("fraud")
    alert = Alert(
        "a1", "rh", "Fired", (_target("fraud"),), evidence={"signal_type": "Activity Log"}
    )
    results = w.engine.on_alert(alert)
    assert [r.outcome for r in results] == ["ignored"]
    assert "activity log" in results[0].reason
    assert w.endpoints.traffic("fraud") == before
    metric = Alert("a2", "p99", "Fired", (_target("fraud"),), evidence={"signal_type": "Metric"})
    assert [r.outcome for r in w.engine.on_alert(metric)] == ["rolled_back"]


def test_an_alerts_calls_to_azure_wait_within_the_alerts_budget() -> None:
    """Every wait of the rollback's calls (a busy endpoint, the update's operation, retries)
    takes at most what is left of ALERT_WAIT_S: the webhook is answered in time."""
    w = make_world()
    _canary_live(w)
    seen: list[float | None] = []
    real = w.endpoints.set_traffic

    def set_traffic(*args: object, **kwargs: object) -> bool:
        seen.append(deadline.left())
        return real(*args, **kwargs)  # type: ignore[arg-type]

    w.endpoints.set_traffic = set_traffic  # type: ignore[method-assign]
    w.engine.on_alert(Alert("a1", "p99", "Fired", (_target("fraud"),)))
    assert seen and all(s is not None and 0 < s <= ALERT_WAIT_S for s in seen)
    seen.clear()
    w.tick(70)  # the timer's own calls are not bounded by it
    assert all(s is None for s in seen)


def test_an_alert_whose_failure_has_no_status_is_answered_503_for_a_retry() -> None:
    """A token the identity endpoint failed to give (ClientAuthenticationError, no HTTP
    status) may pass on the retry: 503, never not_rolled_back."""
    w = make_world()
    _canary_live(w)
    w.endpoints.fail_op["get_endpoint"] = [
        UpstreamError("get endpoint fraud: no token", code="ClientAuthenticationError")
    ]
    with pytest.raises(RetryLater):
        w.engine.on_alert(Alert("a1", "p99", "Fired", (_target("fraud"),)))
    w.engine.on_alert(Alert("a1", "p99", "Fired", (_target("fraud"),)))  # the retry
    assert w.endpoints.traffic("fraud") == {"blue": 100}
