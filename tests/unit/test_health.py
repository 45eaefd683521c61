"""The app's own checks (shared/health.py) over the fakes: its store, its policy, and each
endpoint its rules name (there, with a deployment taking live traffic)."""

from __future__ import annotations

import pytest

from shared import health
from shared.errors import TransientUpstreamError, UpstreamError
from shared.fakes.endpoints import FakeEndpoints
from shared.fakes.store import InMemoryRolloutStore
from shared.policy import PolicySet, load_policy_text
from shared.ports import RolloutQuery


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


def _checks(report: health.HealthReport) -> dict[str, health.Check]:
    return {c.name: c for c in report.checks}


def test_a_store_policy_and_endpoint_that_answer_are_healthy() -> None:
    report = health.check_health(InMemoryRolloutStore(), _endpoints(), _policy("fraud"))
    assert report.ok and report.to_dict()["status"] == "ok"
    checks = _checks(report)
    assert list(checks) == ["store", "policy", "endpoint fraud"]
    assert checks["endpoint fraud"].detail == "live: blue 100 %"
    assert checks["policy"].detail == "1 rules over 1 endpoints"


def test_an_endpoint_the_workspace_lacks_fails_naming_the_rule_that_names_it() -> None:
    report = health.check_health(InMemoryRolloutStore(), _endpoints(), _policy("fraud", "churn"))
    assert not report.ok and report.to_dict()["failing"] == ["endpoint churn"]
    churn = _checks(report)["endpoint churn"]
    assert "no online endpoint churn (rule r1 names it)" in churn.detail
    assert churn.hint


def test_an_endpoint_without_live_traffic_fails_as_a_rollout_there_would() -> None:
    fake = _endpoints()
    fake.add_endpoint("idle", {"blue": "azureml:idle:1"}, {})
    report = health.check_health(InMemoryRolloutStore(), fake, _policy("idle"))
    idle = _checks(report)["endpoint idle"]
    assert not idle.ok and "NoLiveDeployment" in idle.detail


def test_an_endpoint_read_azure_refuses_fails_with_azures_words_and_the_rest_still_run() -> None:
    fake = _endpoints()
    refused = UpstreamError("does not have authorization to perform action", code="Forbidden")
    fake.fail_op["get_endpoint"] = [refused]
    report = health.check_health(InMemoryRolloutStore(), fake, _policy("churn", "fraud"))
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
    report = health.check_health(store, _endpoints(), _policy("fraud"))
    checks = _checks(report)
    assert not checks["store"].ok and "unavailable" in checks["store"].detail
    assert checks["endpoint fraud"].ok


def test_at_most_so_many_endpoints_are_read_and_the_rest_are_counted() -> None:
    names = [f"ep{i:02d}" for i in range(health.MAX_ENDPOINTS + 3)]
    fake = FakeEndpoints()
    for name in names:
        fake.add_endpoint(name, {"blue": f"azureml:{name}:1"}, {"blue": 100})
    report = health.check_health(InMemoryRolloutStore(), fake, _policy(*names))
    read = [c for c in report.checks if c.name.startswith("endpoint ")]
    assert [c.name for c in read] == [f"endpoint {n}" for n in names[: health.MAX_ENDPOINTS]]
    assert report.checks[-1].detail.startswith("3 more rule endpoints were not read")
    assert [op for op, _ in fake.calls].count("get_endpoint") == health.MAX_ENDPOINTS


def test_each_check_says_how_long_it_took() -> None:
    ticks = iter(float(i) for i in range(100))
    report = health.check_health(
        InMemoryRolloutStore(), _endpoints(), _policy("fraud"), timer=lambda: next(ticks)
    )
    assert _checks(report)["store"].took_ms == 1000.0
    assert _checks(report)["endpoint fraud"].to_dict()["took_ms"] == 1000.0
