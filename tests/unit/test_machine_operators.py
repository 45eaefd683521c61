"""The pure core of the operator actions: retry, cancel, manual start, and what is allowed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared import machine
from shared.errors import PhaseConflict
from shared.model import ModelRef, Phase, Rollout, Waiting
from shared.policy import RolloutPolicy, load_policy_text
from tests.engine_support import POLICY

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LIVE = {"blue": "azureml:fraud:1"}


def _policy() -> RolloutPolicy:
    policy = load_policy_text(POLICY).place("fraud", {}).policy
    assert policy is not None
    return policy


def _rollout(version: str = "2", phase: Phase = Phase.CANARY) -> Rollout:
    t = machine.new_rollout(ModelRef("fraud", version, event_id="ev"), _policy(), NOW, "Admitted")
    return t.rollout.evolve(phase=phase)


def _waiting(version: str = "3") -> Waiting:
    return Waiting(ModelRef("fraud", version, event_id=f"ev-{version}"), _policy())


def test_retry_starts_a_rolled_back_version_again_under_a_new_id_with_the_operator_reason() -> None:
    old = _rollout(phase=Phase.ROLLED_BACK)
    later = NOW + timedelta(hours=1)
    adm = machine.retry(old, None, None, _policy(), later, LIVE, reason="fixed", actor="ana")
    assert adm.outcome == "start" and adm.reason == machine.RETRIED_BY_OPERATOR
    assert adm.active is not None and adm.active.id != old.id
    assert adm.active.model.version == "2" and adm.active.phase is Phase.PENDING
    record = adm.records[0]
    assert record.actor == "ana" and record.evidence["retry_of"] == old.id
    assert record.evidence["reason"] == "fixed"


@pytest.mark.parametrize("phase", [Phase.SUCCEEDED, Phase.ABORTED, Phase.SUPERSEDED])
def test_retry_is_refused_for_a_rollout_that_did_not_fail_or_roll_back(phase: Phase) -> None:
    with pytest.raises(PhaseConflict) as err:
        machine.retry(
            _rollout(phase=phase), None, None, _policy(), NOW, LIVE, reason="x", actor="a"
        )
    assert err.value.code == "not_retryable" and phase.value in err.value.message


def test_retry_is_refused_while_a_rollout_is_active_or_a_version_waits() -> None:
    active = _rollout(phase=Phase.CANARY)
    with pytest.raises(PhaseConflict) as busy:
        machine.retry(active, active, None, _policy(), NOW, LIVE, reason="x", actor="a")
    assert "Canary" in busy.value.message and "retry" not in busy.value.details["allowed"]
    failed = _rollout(phase=Phase.FAILED)
    with pytest.raises(PhaseConflict) as waits:
        machine.retry(failed, None, _waiting(), _policy(), NOW, LIVE, reason="x", actor="a")
    assert "cancel it first" in waits.value.message


def test_retry_of_a_version_now_older_than_the_live_one_is_refused() -> None:
    old = _rollout(phase=Phase.FAILED)
    with pytest.raises(PhaseConflict) as err:
        machine.retry(
            old, None, None, _policy(), NOW, {"green": "azureml:fraud:5"}, reason="x", actor="a"
        )
    assert err.value.details["reason"] == machine.OLDER_THAN_LIVE


def test_manual_start_is_admitted_like_an_event_and_records_the_operator() -> None:
    model = ModelRef("fraud", "2", event_id=machine.operator_event_id("start", NOW, "fraud", "2"))
    adm = machine.manual_start(None, None, model, _policy(), NOW, LIVE, reason="lost", actor="ana")
    assert adm.outcome == "start" and adm.records[0].reason == machine.STARTED_BY_OPERATOR
    assert adm.records[0].actor == "ana"


def test_manual_start_records_that_the_tags_the_policy_matched_were_the_operators() -> None:
    """A start's tags come from the request, not the registry: the decision says so."""
    model = ModelRef(
        "fraud", "2", tags={"team": "risk"}, event_id=machine.operator_event_id("start", NOW, "x")
    )
    adm = machine.manual_start(None, None, model, _policy(), NOW, LIVE, reason="lost", actor="ana")
    started = next(r for r in adm.records if r.reason == machine.STARTED_BY_OPERATOR)
    assert started.evidence["tags_given_by_operator"] == {"team": "risk"}


def test_manual_start_of_a_downgrade_needs_allow_downgrade() -> None:
    model = ModelRef("fraud", "1", event_id="start-x")
    live = {"green": "azureml:fraud:2"}
    with pytest.raises(PhaseConflict) as err:
        machine.manual_start(None, None, model, _policy(), NOW, live, reason="x", actor="a")
    assert err.value.details["reason"] == machine.OLDER_THAN_LIVE
    assert "allow_downgrade" in err.value.message
    adm = machine.manual_start(
        None, None, model, _policy(), NOW, live, reason="x", actor="a", allow_downgrade=True
    )
    assert adm.outcome == "start" and "older" in adm.records[0].evidence["downgrade"]


def test_manual_start_of_the_live_version_is_refused_even_with_allow_downgrade() -> None:
    model = ModelRef("fraud", "1", event_id="start-x")
    with pytest.raises(PhaseConflict) as err:
        machine.manual_start(
            None, None, model, _policy(), NOW, LIVE, reason="x", actor="a", allow_downgrade=True
        )
    assert err.value.details["reason"] == machine.VERSION_ALREADY_LIVE


def test_manual_start_on_a_busy_endpoint_waits_like_an_event() -> None:
    active = _rollout("2")
    model = ModelRef("fraud", "3", event_id="start-x")
    adm = machine.manual_start(active, None, model, _policy(), NOW, LIVE, reason="x", actor="a")
    assert adm.outcome == "wait" and adm.waiting is not None and adm.waiting.model.version == "3"


def test_cancel_drops_the_waiting_version_and_records_it_without_changing_the_status() -> None:
    active = _rollout("2").evolve(reason="JudgeHold", message="holding")
    c = machine.cancel_waiting(active, _waiting("3"), NOW, reason="bad build", actor="ana")
    assert c.cancelled.model.version == "3" and c.record is not None
    assert c.record.reason == machine.WAITING_CANCELLED and c.record.seq == active.seq + 1
    assert c.record.actor == "ana" and c.record.evidence["cancelled"]["version"] == "3"
    assert c.active is not None and c.active.seq == c.record.seq
    assert (c.active.reason, c.active.message) == ("JudgeHold", "holding")


def test_cancel_with_nothing_waiting_is_refused() -> None:
    with pytest.raises(PhaseConflict) as err:
        machine.cancel_waiting(_rollout(), None, NOW, reason="x", actor="a")
    assert err.value.code == "nothing_waiting"


def test_allowed_actions_offer_retry_of_a_failed_latest_rollout_and_cancel_of_a_waiting() -> None:
    failed = _rollout(phase=Phase.FAILED)
    assert machine.allowed_actions(failed) == ["retry"]
    assert machine.allowed_actions(failed, latest=False) == []
    assert machine.allowed_actions(_rollout(phase=Phase.ABORTED)) == []
    assert machine.allowed_actions(failed, waiting=_waiting()) == ["cancel"]
    running = machine.allowed_actions(_rollout(phase=Phase.CANARY), waiting=_waiting())
    assert running[-1] == "cancel" and "retry" not in running


def test_operator_event_ids_are_short_and_differ_per_request() -> None:
    a = machine.operator_event_id("start", NOW, "fraud" * 60, "2")
    b = machine.operator_event_id("start", NOW + timedelta(microseconds=1), "fraud" * 60, "2")
    assert a != b and len(a) <= 64
