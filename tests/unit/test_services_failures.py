"""Failed effects: Azure's refusals end a rollout with Azure's words; repeats never grow history."""

from __future__ import annotations

import pytest

from shared.errors import NotFound, TransientUpstreamError, UpstreamError
from shared.model import Phase
from shared.ports import RolloutQuery
from tests.engine_support import World, make_world


def _latest(w, endpoint: str = "fraud"):  # type: ignore[no-untyped-def]
    return w.store.list_rollouts(RolloutQuery(endpoint=endpoint, limit=1))[0]


def _create_refused(error: Exception) -> tuple[World, list[str]]:
    """A rollout whose canary create Azure answers with ``error``, four ticks on: the world
    and the codes of its ProvisioningRefused decisions."""
    w = make_world()
    w.judge.set("promote")
    w.endpoints.fail_op["create_deployment"] = [error]
    w.engine.on_model_registered(w.model(version="7"))
    for _ in range(4):
        w.tick(60)
    r = _latest(w)
    assert r.phase is Phase.FAILED
    decisions = w.store.decisions("fraud", r.id)
    refused = [d.evidence["error"]["code"] for d in decisions if d.reason == "ProvisioningRefused"]
    assert len([c for c in w.endpoints.calls if c[0] == "create_deployment"]) == 1
    return w, refused


@pytest.mark.parametrize(
    "error",
    [
        UpstreamError(
            "create fraud-v7: quota exceeded for Standard_DS3_v2",
            code="QuotaExceeded",
            details={"status": 400},
        ),
        # a PUT naming a model or environment that is not there answers 404 ("The specified
        # resource was not found ... ModelNotFound", Azure/mlops-v2 issue 76): asking again
        # every tick for an hour cannot make it appear
        NotFound(
            "create fraud-v7: The specified resource was not found",
            code="ModelNotFound",
            details={"status": 404},
        ),
    ],
    ids=["quota-400", "missing-model-404"],
)
def test_a_create_refused_by_azure_ends_the_rollout_failed_with_azures_error(
    error: UpstreamError | NotFound,
) -> None:
    w, refused = _create_refused(error)
    assert refused == [error.code]
    assert w.endpoints.traffic("fraud") == {"blue": 100}


def test_a_repeated_transient_failure_is_one_decision_with_a_count() -> None:
    w = make_world()
    w.judge.set("hold")
    w.engine.on_model_registered(w.model(version="7"))
    for _ in range(3):
        w.tick(60)
    r = _latest(w)
    assert r.phase in (Phase.SHADOWING, Phase.CANARY)
    w.endpoints.fail_next = [
        TransientUpstreamError("get endpoint: 503", details={"status": 503}) for _ in range(12)
    ]
    before = len(w.store.decisions("fraud", r.id))
    for _ in range(6):
        w.tick(60)
    decisions = w.store.decisions("fraud", r.id)[before:]
    assert [d.reason for d in decisions].count("EffectFailed") == 1
    assert len(decisions) <= 2
    failing = w.store.read("fraud").active
    assert failing is not None and failing.failure["count"] >= 6


def test_failure_is_cleared_once_the_next_reconcile_succeeds() -> None:
    w = make_world()
    w.judge.set("hold")
    w.engine.on_model_registered(w.model(version="7"))
    for _ in range(3):
        w.tick(60)
    w.endpoints.fail_next = [TransientUpstreamError("get endpoint: 503", details={"status": 503})]
    w.tick(60)
    active = w.store.read("fraud").active
    assert active is not None and active.failure["count"] == 1
    w.tick(60)
    active = w.store.read("fraud").active
    assert active is not None and not active.failure


def test_the_provisioning_timeout_record_carries_the_last_azure_error() -> None:
    w = make_world()
    w.endpoints.provisioning_reads = 10_000
    w.engine.on_model_registered(w.model(version="7"))
    r = _latest(w)
    w.endpoints.delete_by_hand("fraud", r.canary)
    w.endpoints.fail_op["create_deployment"] = [
        TransientUpstreamError("create fraud-v7: 503", code="ServiceUnavailable")
        for _ in range(200)
    ]
    for _ in range(70):
        w.tick(60)
    r = _latest(w)
    timeout = [d for d in w.store.decisions("fraud", r.id) if d.reason == "ProvisioningTimedOut"]
    assert timeout and timeout[0].evidence["last_error"]["code"] == "ServiceUnavailable"
