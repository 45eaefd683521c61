"""The app's own checks (shared/health.py) over the fakes: its store, its policy, and each
endpoint its rules name (there, with a deployment taking live traffic)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from shared import health
from shared.effects import OutboxEvent
from shared.errors import TransientUpstreamError, UpstreamError
from shared.fakes.endpoints import FakeEndpoints
from shared.fakes.metrics import FakeMetrics
from shared.fakes.store import InMemoryRolloutStore
from shared.policy import PolicySet, load_policy_text
from shared.ports import RolloutQuery, SlotWrite

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _policy(*endpoints: str) -> PolicySet:
    rules = "".join(
        f"  - {{name: r{i}, match: {{model: m{i}}}, endpoint: {ep}}}\n"
        for i, ep in enumerate(endpoints)
    )
    return load_policy_text("rules:\n" + rules)


def _endpoints() -> FakeEndpoints:
    fake = FakeEndpoints()
    fake.add_endpoint("fraud", {"blue": "azureml:fraud:1"}, {"blue": 100})
    return fake


def _check(
    store: InMemoryRolloutStore | None = None,
    endpoints: FakeEndpoints | None = None,
    policy: PolicySet | None = None,
    metrics: FakeMetrics | None = None,
    timer: Callable[[], float] = time.perf_counter,
) -> health.HealthReport:
    return health.check_health(
        store or InMemoryRolloutStore(),
        endpoints or _endpoints(),
        metrics or FakeMetrics(),
        policy or _policy("fraud"),
        NOW,
        timer=timer,
    )


def _checks(report: health.HealthReport) -> dict[str, health.Check]:
    return {c.name: c for c in report.checks}


def test_a_store_policy_and_endpoint_that_answer_are_healthy() -> None:
    report = _check()
    assert report.ok and report.to_dict()["status"] == "ok"
    checks = _checks(report)
    assert list(checks) == ["store", "policy", "endpoint fraud", "metrics", "lifecycle events"]
    assert checks["endpoint fraud"].detail == "live: blue 100 %"
    assert checks["policy"].detail == "1 rules over 1 endpoints"


def test_an_endpoint_the_workspace_lacks_fails_naming_the_rule_that_names_it() -> None:
    report = _check(policy=_policy("fraud", "churn"))
    assert not report.ok and report.to_dict()["failing"] == ["endpoint churn"]
    churn = _checks(report)["endpoint churn"]
    assert "no online endpoint churn (rule r1 names it)" in churn.detail
    assert churn.hint


def test_an_endpoint_without_live_traffic_fails_as_a_rollout_there_would() -> None:
    fake = _endpoints()
    fake.add_endpoint("idle", {"blue": "azureml:idle:1"}, {})
    report = _check(endpoints=fake, policy=_policy("idle"))
    idle = _checks(report)["endpoint idle"]
    assert not idle.ok and "NoLiveDeployment" in idle.detail


def test_an_endpoint_read_azure_refuses_fails_with_azures_words_and_the_rest_still_run() -> None:
    fake = _endpoints()
    refused = UpstreamError("does not have authorization to perform action", code="Forbidden")
    fake.fail_op["get_endpoint"] = [refused]
    report = _check(endpoints=fake, policy=_policy("churn", "fraud"))
    checks = _checks(report)
    assert not checks["endpoint churn"].ok
    assert "authorization" in checks["endpoint churn"].detail
    assert checks["endpoint fraud"].ok


def test_a_store_that_does_not_answer_fails_and_the_endpoints_are_still_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = InMemoryRolloutStore()

    def down(query: RolloutQuery) -> None:
        raise TransientUpstreamError("Table Storage unavailable")

    monkeypatch.setattr(store, "list_rollouts", down)
    report = _check(store=store)
    checks = _checks(report)
    assert not checks["store"].ok and "unavailable" in checks["store"].detail
    assert checks["endpoint fraud"].ok


def test_at_most_so_many_endpoints_are_read_and_the_rest_are_counted() -> None:
    names = [f"ep{i:02d}" for i in range(health.MAX_ENDPOINTS + 3)]
    fake = FakeEndpoints()
    for name in names:
        fake.add_endpoint(name, {"blue": f"azureml:{name}:1"}, {"blue": 100})
    report = _check(endpoints=fake, policy=_policy(*names))
    read = [c for c in report.checks if c.name.startswith("endpoint ")]
    assert [c.name for c in read] == [f"endpoint {n}" for n in names[: health.MAX_ENDPOINTS]]
    assert _checks(report)["endpoints not read"].detail.startswith("3 more rule endpoints")
    assert [op for op, _ in fake.calls].count("get_endpoint") == health.MAX_ENDPOINTS


def test_each_check_says_how_long_it_took() -> None:
    ticks = iter(float(i) for i in range(100))
    report = _check(timer=lambda: next(ticks))
    assert _checks(report)["store"].took_ms == 1000.0
    assert _checks(report)["endpoint fraud"].to_dict()["took_ms"] == 1000.0


def test_metrics_are_asked_as_the_judge_asks_them_of_the_first_live_endpoint() -> None:
    metrics = FakeMetrics(requests_per_minute=1000)
    report = _check(metrics=metrics, policy=_policy("churn", "fraud"))
    found = _checks(report)["metrics"]
    assert found.ok and "fraud/blue served" in found.detail and "15 of the last 15" in found.detail
    [query] = metrics.queries
    assert (query.endpoint, query.baseline, query.end - query.start) == (
        "fraud",
        "blue",
        health.METRICS_WINDOW,
    )


def test_metrics_azure_monitor_does_not_answer_fail_with_what_to_check() -> None:
    metrics = FakeMetrics()
    metrics.unavailable = True
    found = _checks(_check(metrics=metrics))["metrics"]
    assert not found.ok and "Monitoring Reader" in found.hint


def test_no_metrics_check_without_a_live_endpoint_to_ask_about() -> None:
    report = _check(policy=_policy("churn"))
    assert "metrics" not in _checks(report)


def test_unsent_lifecycle_events_piling_up_fail_naming_the_endpoint() -> None:
    """The topic has refused events for a while (a missing role, a deleted topic): the
    outbox, bounded, will start dropping them; the check says so before it does."""
    store = InMemoryRolloutStore()
    events = tuple(
        OutboxEvent(f"r:{i}:0", "Autocanary.Rollout.X", "endpoints/fraud", {})
        for i in range(health.OUTBOX_BACKLOG)
    )
    store.write(store.read("fraud"), SlotWrite(active=None, waiting=None, outbox=events))
    report = _check(store=store)
    assert report.to_dict()["failing"] == ["lifecycle events"]
    check = _checks(report)["lifecycle events"]
    assert f"fraud {health.OUTBOX_BACKLOG}" in check.detail and "EventGrid" in check.hint
    store.write(store.read("fraud"), SlotWrite(active=None, waiting=None, outbox=events[:3]))
    assert _check(store=store).ok


def test_chat_settings_left_out_fail_their_own_check_and_nothing_else() -> None:
    report = health.check_health(
        InMemoryRolloutStore(),
        _endpoints(),
        FakeMetrics(),
        _policy("fraud"),
        NOW,
        notify_problems=("AUTOCANARY_TEAMS_WEBHOOK_URL must be an https:// URL",),
    )
    assert report.to_dict()["failing"] == ["chat notifications"]
    assert "AUTOCANARY_TEAMS_WEBHOOK_URL" in _checks(report)["chat notifications"].detail


def test_the_engine_reports_its_left_out_chat_channels_in_health() -> None:
    from tests.engine_support import make_world

    world = make_world()
    world.engine.notify_problems = ("RISK_SLACK_URL (named by rule 'fraud' notify) is not set",)
    assert "chat notifications" in world.engine.health().to_dict()["failing"]
