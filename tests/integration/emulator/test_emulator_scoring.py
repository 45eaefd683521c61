"""Scoring through the emulated endpoint: keys, traffic split, header override, mirror,
request settings, records, worker liveness and router/provisioning faults."""

from __future__ import annotations

import math
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from azure.ai.ml.entities import OnlineRequestSettings
from azure.core.exceptions import HttpResponseError
from emulator_helpers import Scorer, create_endpoint, make_deployment, record_counts, set_traffic

from emulator.connection import Connection
from emulator.testing import admin_request


def _deploy(ml: Any, endpoint: str, name: str, model: str, **kwargs: Any) -> None:
    ml.online_deployments.begin_create_or_update(
        make_deployment(endpoint, name, model, **kwargs)
    ).result()


@pytest.fixture
def blue_green(ml: Any, endpoint_name: str, assets: dict[str, str]) -> str:
    """An endpoint with two healthy deployments, blue-v1 and green-v2, and no traffic yet."""
    create_endpoint(ml, endpoint_name)
    _deploy(ml, endpoint_name, "blue-v1", assets["good"])
    _deploy(ml, endpoint_name, "green-v2", assets["good"])
    return endpoint_name


def test_scoring_needs_the_endpoint_key(emulator: Connection, ml: Any, blue_green: str) -> None:
    set_traffic(ml, blue_green, {"blue-v1": 100})
    scorer = Scorer(emulator, ml, blue_green)
    assert scorer.score(key="wrong").status_code == 401
    ok = scorer.score()
    assert ok.status_code == 200
    assert ok.json()["labels"] == [1]
    secondary = ml.online_endpoints.get_keys(blue_green).secondary_key
    assert scorer.score(key=secondary).status_code == 200


def test_no_traffic_is_404(emulator: Connection, ml: Any, blue_green: str) -> None:
    assert Scorer(emulator, ml, blue_green).score().status_code == 404


def test_header_picks_deployment_and_is_never_mirrored(
    emulator: Connection, ml: Any, blue_green: str
) -> None:
    set_traffic(ml, blue_green, {"blue-v1": 100}, {"green-v2": 50})
    scorer = Scorer(emulator, ml, blue_green)
    for _ in range(20):
        resp = scorer.score(azureml_model_deployment="green-v2")
        assert resp.status_code == 200
        assert resp.headers["azureml-model-deployment"] == "green-v2"
    time.sleep(0.2)
    counts = record_counts(emulator, blue_green)
    assert counts == {("green-v2", False, 200): 20}


def test_traffic_split_matches_weights(emulator: Connection, ml: Any, blue_green: str) -> None:
    """400 requests at 70/30: each count within 4 binomial standard deviations."""
    set_traffic(ml, blue_green, {"blue-v1": 70, "green-v2": 30})
    scorer = Scorer(emulator, ml, blue_green)
    n = 400
    served = [scorer.score().headers["azureml-model-deployment"] for _ in range(n)]
    green = served.count("green-v2")
    sigma = math.sqrt(n * 0.3 * 0.7)
    assert abs(green - n * 0.3) <= 4 * sigma
    assert served.count("blue-v1") + green == n


def test_mirror_copies_are_recorded_and_discarded(
    emulator: Connection, ml: Any, blue_green: str
) -> None:
    set_traffic(ml, blue_green, {"blue-v1": 100}, {"green-v2": 40})
    scorer = Scorer(emulator, ml, blue_green)
    n = 300
    for _ in range(n):
        resp = scorer.score()
        assert resp.headers["azureml-model-deployment"] == "blue-v1"
    time.sleep(0.5)
    counts = record_counts(emulator, blue_green)
    assert counts[("blue-v1", False, 200)] == n
    mirrored = counts.get(("green-v2", True, 200), 0)
    sigma = math.sqrt(n * 0.4 * 0.6)
    assert abs(mirrored - n * 0.4) <= 4 * sigma
    assert ("green-v2", False, 200) not in counts


def test_model_error_is_424_with_model_status(
    emulator: Connection, ml: Any, endpoint_name: str, register_model: Any
) -> None:
    model = register_model({"weights": [1, 1, 1], "error_rate": 1.0})
    create_endpoint(ml, endpoint_name)
    _deploy(ml, endpoint_name, "fail-v1", model)
    set_traffic(ml, endpoint_name, {"fail-v1": 100})
    resp = Scorer(emulator, ml, endpoint_name).score()
    assert resp.status_code == 424
    assert resp.headers["ms-azureml-model-error-statuscode"] == "500"
    time.sleep(0.1)
    assert record_counts(emulator, endpoint_name) == {("fail-v1", False, 424): 1}


def test_request_timeout_is_408(
    emulator: Connection, ml: Any, endpoint_name: str, register_model: Any
) -> None:
    model = register_model({"weights": [1, 1, 1], "latency_ms": 300})
    create_endpoint(ml, endpoint_name)
    _deploy(
        ml,
        endpoint_name,
        "slow-v1",
        model,
        request_settings=OnlineRequestSettings(request_timeout_ms=50),
    )
    set_traffic(ml, endpoint_name, {"slow-v1": 100})
    assert Scorer(emulator, ml, endpoint_name).score().status_code == 408


def test_max_concurrency_gives_429(
    emulator: Connection, ml: Any, endpoint_name: str, register_model: Any
) -> None:
    """1 instance x 1 concurrent request admits 2 in flight (Azure's 2x rule); 8 at once -> 429s."""
    model = register_model({"weights": [1, 1, 1], "latency_ms": 1000})
    create_endpoint(ml, endpoint_name)
    _deploy(
        ml,
        endpoint_name,
        "busy-v1",
        model,
        request_settings=OnlineRequestSettings(
            max_concurrent_requests_per_instance=1, request_timeout_ms=5000
        ),
    )
    set_traffic(ml, endpoint_name, {"busy-v1": 100})
    scorers = [Scorer(emulator, ml, endpoint_name) for _ in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = sorted(pool.map(lambda s: s.score().status_code, scorers))
    assert codes.count(429) >= 1
    assert 1 <= codes.count(200) <= 2


def test_crashed_worker_is_restarted_and_logged(
    emulator: Connection, ml: Any, endpoint_name: str, assets: dict[str, str]
) -> None:
    create_endpoint(ml, endpoint_name)
    _deploy(ml, endpoint_name, "live-v1", assets["good"])
    set_traffic(ml, endpoint_name, {"live-v1": 100})

    def deployment_state() -> dict[str, Any]:
        state = admin_request(emulator, "GET", "state")
        ep = next(e for e in state["endpoints"] if e["name"] == endpoint_name)
        return ep["deployments"][0]

    pid = deployment_state()["worker_pids"][0]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        dep = deployment_state()
        if dep["restarts"] == 1 and dep["ready_instances"] == 1:
            break
        time.sleep(0.1)
    assert dep["restarts"] == 1 and dep["ready_instances"] == 1
    assert dep["worker_pids"][0] != pid
    assert Scorer(emulator, ml, endpoint_name).score().status_code == 200
    logs = ml.online_deployments.get_logs("live-v1", endpoint_name, lines=20)
    assert "restarting" in logs


def test_router_fault_injects_errors_for_one_deployment(
    emulator: Connection, ml: Any, blue_green: str
) -> None:
    set_traffic(ml, blue_green, {"blue-v1": 50, "green-v2": 50})
    admin_request(emulator, "PUT", f"faults/router/{blue_green}/green-v2", {"error_rate": 1.0})
    try:
        scorer = Scorer(emulator, ml, blue_green)
        by_dep: dict[str, set[int]] = {}
        for _ in range(40):
            resp = scorer.score()
            by_dep.setdefault(resp.headers["azureml-model-deployment"], set()).add(resp.status_code)
        assert by_dep == {"blue-v1": {200}, "green-v2": {500}}
    finally:
        admin_request(emulator, "DELETE", f"faults/router/{blue_green}/green-v2")


def test_router_fault_adds_latency(emulator: Connection, ml: Any, blue_green: str) -> None:
    set_traffic(ml, blue_green, {"blue-v1": 100})
    admin_request(emulator, "PUT", f"faults/router/{blue_green}/blue-v1", {"latency_ms": 200})
    try:
        scorer = Scorer(emulator, ml, blue_green)
        t0 = time.perf_counter()
        assert scorer.score().status_code == 200
        assert time.perf_counter() - t0 >= 0.2
    finally:
        admin_request(emulator, "DELETE", f"faults/router/{blue_green}/blue-v1")


def test_provisioning_fault_fails_the_deployment(
    emulator: Connection, ml: Any, endpoint_name: str, assets: dict[str, str]
) -> None:
    create_endpoint(ml, endpoint_name)
    admin_request(
        emulator,
        "PUT",
        f"faults/provisioning/{endpoint_name}/doomed-v1",
        {"message": "quota exceeded (injected)"},
    )
    poller = ml.online_deployments.begin_create_or_update(
        make_deployment(endpoint_name, "doomed-v1", assets["good"])
    )
    with pytest.raises(HttpResponseError, match="quota exceeded"):
        poller.result()
    assert ml.online_deployments.get("doomed-v1", endpoint_name).provisioning_state == "Failed"


def test_arm_429_fault_is_retried_by_the_sdk(emulator: Connection, ml: Any) -> None:
    """One injected 429 with Retry-After: MLClient retries and succeeds; the fault is used up."""
    admin_request(
        emulator, "PUT", "faults/arm", {"kind": "429", "rate": 1.0, "count": 1, "retry_after": 0}
    )
    try:
        assert ml.workspaces.get(emulator.workspace).name == emulator.workspace
        faults = admin_request(emulator, "GET", "faults")
        assert faults["arm"][0]["remaining"] == 0
    finally:
        admin_request(emulator, "DELETE", "faults/arm")


def test_arm_500_fault_reaches_the_caller(emulator: Connection, ml: Any) -> None:
    admin_request(emulator, "PUT", "faults/arm", {"kind": "500", "rate": 1.0, "methods": ["PUT"]})
    try:
        with pytest.raises(HttpResponseError):
            create_endpoint(ml, "ep-fault-500")
    finally:
        admin_request(emulator, "DELETE", "faults/arm")


def test_bad_fault_is_refused_and_changes_nothing(emulator: Connection) -> None:
    before = admin_request(emulator, "GET", "faults")
    with pytest.raises(Exception, match="400"):
        admin_request(emulator, "PUT", "faults/arm", {"kind": "418", "rate": 2})
    assert admin_request(emulator, "GET", "faults") == before
