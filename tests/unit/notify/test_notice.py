"""What a notice says: title, cause, the judge's numbers from ``why`` (the contract of
shared/explain.py), where the rollout is, what to do, and the dashboard link."""

from __future__ import annotations

import pytest

from shared.model import ModelRef, Phase, Rollout
from shared.notify.notice import dashboard_link, ignored_notice, lifecycle_notice, stage_text
from shared.ports import RolloutQuery
from tests.engine_support import make_world

WHY = {
    "reason": "JudgeRollback",
    "phase": "Canary",
    "actor": "engine",
    "at": "2026-03-01T12:10:00+00:00",
    "message": "judge: rollback",
    "metric": "error_rate",
    "canary": {"value": 2.4, "unit": "%", "errors": 48, "requests": 2000},
    "baseline": {"value": 0.3, "unit": "%", "errors": 6, "requests": 2000},
    "threshold": {"value": 1.0, "unit": "%", "kind": "rollback"},
    "since": "2026-03-01T10:42:00+00:00",
    "minutes_used": [],
}
CAUSE = "Rolled back: canary error rate 2.40 % vs baseline 0.30 % (48/2000 vs 6/2000 requests)"


def canary_rollout() -> Rollout:
    w = make_world()
    w.judge.set("promote")
    w.engine.on_model_registered(w.model())
    for _ in range(12):
        w.tick(70)
        active = w.store.read("fraud").active
        if active is not None and active.phase is Phase.CANARY:
            return active
    raise AssertionError("never reached a canary stage")


def test_rollback_notice_carries_the_cause_and_the_numbers() -> None:
    r = canary_rollout()
    data = {"cause": CAUSE, "why": WHY, "reason": "JudgeRollback", "outcome": "RolledBack"}
    n = lifecycle_notice("RolloutRollingBack", data, r, public_url="https://ac.example.net")
    assert n is not None and n.kind == "rolled_back" and n.severity == "attention"
    assert n.title == "Rolling back: fraud:7 on fraud" and n.cause == CAUSE
    facts = dict(n.facts)
    assert facts["Canary error rate"] == "2.40 % (48/2000 requests)"
    assert facts["Baseline error rate"] == "0.30 % (6/2000 requests)"
    assert facts["Threshold (rollback)"] == "1.00 %"
    assert facts["Since"] == WHY["since"] and facts["Reason"] == "JudgeRollback"
    assert facts["Stage"] == "stage 1 of 3 (10 %)"
    assert n.link == "https://ac.example.net/api/dashboard?endpoint=fraud"


def test_events_people_are_not_told_about_give_no_notice() -> None:
    r = canary_rollout()
    assert lifecycle_notice("RolloutRolledBack", {}, r) is None
    assert lifecycle_notice("SomethingElse", {}, r) is None


def test_latency_numbers_are_in_milliseconds() -> None:
    r = canary_rollout()
    why = {**WHY, "metric": "latency_p95", "canary": {"value": 212.4, "unit": "ms"}}
    n = lifecycle_notice("RolloutRollingBack", {"why": why}, r)
    assert n is not None and dict(n.facts)["Canary latency p95"] == "212 ms"


def test_stage_text_says_where_the_rollout_is() -> None:
    r = canary_rollout()
    assert stage_text(r) == "stage 1 of 3 (10 %)"
    assert stage_text(r.evolve(phase=Phase.SHADOWING)) == "shadow (20 % mirrored)"
    assert stage_text(r.evolve(phase=Phase.WATCHING, paused=True)) == "Watching (paused)"


def test_ignored_notice_says_why_and_what_to_do() -> None:
    model = ModelRef("ranker", "3", {"team": "search"}, "ev-1")
    n = ignored_notice(model, "NoMatchingRule", "no rule matches model 'ranker'")
    assert n.title == "Not rolled out: ranker:3"
    assert n.cause == "No policy rule matches: no rule matches model 'ranker'"
    assert "POST /api/rollouts" in n.advice and dict(n.facts)["Tags"] == "team=search"
    assert n.link is None


def test_dashboard_link_quotes_the_endpoint() -> None:
    assert dashboard_link(None, "fraud") is None
    assert dashboard_link("https://a.net/", "a b") == "https://a.net/api/dashboard?endpoint=a%20b"


def test_stored_rollout_from_the_world_is_the_one_noticed() -> None:
    w = make_world()
    w.engine.on_model_registered(w.model())
    r = w.store.list_rollouts(RolloutQuery(endpoint="fraud"))[0]
    n = lifecycle_notice("RolloutStarted", {}, r)
    assert n is not None and n.key.startswith(f"{r.id}/RolloutStarted/")


def test_a_watch_window_paused_without_data_says_what_resume_and_rollback_do() -> None:
    r = canary_rollout().evolve(
        phase=Phase.WATCHING, paused=True, pause_reason="WatchWindowNoData", stage=2
    )
    data = {"cause": "Paused: the guardrails read no data", "reason": "WatchWindowNoData"}
    n = lifecycle_notice("RolloutPaused", data, r)
    assert n is not None and n.kind == "paused"
    assert "Resume finishes the rollout without them" in n.advice
    assert "rollback" in n.advice


def _failed(code: str | None) -> Rollout:
    evidence = {"azure_error": {"code": code, "message": "m"}} if code else {}
    decisive = {"reason": "ProvisioningFailed", "evidence": evidence}
    return canary_rollout().evolve(phase=Phase.FAILED, decisive=decisive)


def test_a_failed_provisioning_notice_names_azures_code_and_what_the_guide_says_to_do() -> None:
    data = {"cause": "deployment fraud-v7 provisioning Failed: OutOfQuota: m"}
    n = lifecycle_notice("RolloutFailed", data, _failed("OutOfQuota"))
    assert n is not None and n.kind == "failed"
    assert dict(n.facts)["Azure error"] == "OutOfQuota"
    assert n.advice.startswith("Not enough quota or capacity for the instance type")
    assert "retry the version once it is fixed" in n.advice


@pytest.mark.parametrize("code", [None, "SomethingNew"])
def test_a_failure_without_a_known_code_gets_the_general_advice(code: str | None) -> None:
    n = lifecycle_notice("RolloutFailed", {"cause": "failed"}, _failed(code))
    assert n is not None
    assert n.advice.startswith("See the decisions on the dashboard")
    assert ("Azure error" in dict(n.facts)) is (code is not None)
