"""The emulator's ARM strictness and its off switches: api-versions, 409, 404, quota, throttling."""

# Sources are cited next to each behaviour in emulator/arm_versions.py and emulator/arm_model.py.

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from arm_requests import arm, arm_url
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from emulator_helpers import admin_request, create_endpoint, make_deployment

from emulator.arm_model import MAX_DEPLOYMENTS_PER_ENDPOINT, Strictness
from emulator.connection import Connection
from emulator.samples import CODE_DIR, MODELS_DIR
from emulator.testing import arm_deployment_body as deployment_body
from emulator.testing import running_emulator


def _register(conn: Connection) -> None:
    admin_request(conn, "POST", "codes", {"name": "score", "version": "1", "path": str(CODE_DIR)})
    admin_request(
        conn,
        "POST",
        "models",
        {"name": "fraud", "version": "1", "path": str(MODELS_DIR / "fraud-v1")},
    )


def _start(tmp: Path, *args: str) -> Iterator[Connection]:
    # A slow provisioning delay keeps an endpoint Updating long enough to race it.
    with running_emulator(tmp, provisioning_delay=1.5, retry_after=0.1, extra_args=list(args)) as c:
        _register(c)
        yield c


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Connection]:
    """Defaults, except a small deployment quota (so that reaching it stays cheap)."""
    yield from _start(
        tmp_path_factory.mktemp("arm-strict"),
        "--hidden-after-create",
        "1.0",
        "--traffic-read-lag",
        "1.0",
        "--max-deployments",
        "2",
    )


@pytest.fixture(scope="module")
def lenient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Connection]:
    """Every strict ARM behaviour turned off."""
    yield from _start(
        tmp_path_factory.mktemp("arm-lenient"),
        "--no-api-version-check",
        "--no-busy-conflicts",
        "--hidden-after-create",
        "0",
        "--traffic-read-lag",
        "0",
        "--max-deployments",
        "0",
    )


def _ml(conn: Connection) -> Any:
    from emulator.client import ml_client

    return ml_client(conn)


def _endpoint(ml: Any) -> str:
    name = "ep-" + uuid.uuid4().hex[:10]
    create_endpoint(ml, name)
    return name


def _eventually(fn: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s")
        time.sleep(0.05)


# ---------------------------------------------------------------- api-version


def test_stock_client_api_versions_are_accepted(strict: Connection) -> None:
    ml = _ml(strict)
    assert ml.workspaces.get(strict.workspace).location == strict.location
    name = _endpoint(ml)
    assert ml.online_endpoints.get(name).provisioning_state.lower() == "succeeded"
    assert list(ml.online_deployments.list(name)) == []


def test_api_version_unknown_to_the_resource_type_is_refused_as_arm_does(
    strict: Connection,
) -> None:
    """2019-05-01 has workspaces but no onlineEndpoints (no mfe.json in that api-version)."""
    assert arm(strict, "GET", "", api="2019-05-01").status_code == 200
    resp = arm(strict, "GET", "/onlineEndpoints", api="2019-05-01")
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["code"] == "NoRegisteredProviderFound"
    assert "'2019-05-01' for type 'workspaces/onlineEndpoints'" in error["message"]
    assert "2023-04-01-preview" in error["message"]


def test_missing_or_malformed_api_version_is_refused(strict: Connection) -> None:
    missing = arm(strict, "GET", "/onlineEndpoints", api=None)
    assert (missing.status_code, missing.json()["error"]["code"]) == (
        400,
        "MissingApiVersionParameter",
    )
    bad = arm(strict, "GET", "/onlineEndpoints", api="latest")
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "InvalidApiVersionParameter")


def test_a_write_with_a_refused_api_version_changes_nothing(strict: Connection) -> None:
    name = "ep-" + uuid.uuid4().hex[:10]
    body = {"location": strict.location, "properties": {"authMode": "Key"}}
    assert arm(strict, "PUT", f"/onlineEndpoints/{name}", body, api="2020-01-01").status_code == 400
    assert arm(strict, "GET", f"/onlineEndpoints/{name}").status_code == 404


def test_api_version_check_can_be_turned_off(lenient: Connection) -> None:
    assert arm(lenient, "GET", "/onlineEndpoints", api="2019-05-01").status_code == 200


# ---------------------------------------------------------------- busy endpoint: 409


def _start_endpoint_update(ml: Any, name: str) -> None:
    ep = ml.online_endpoints.get(name)
    ep.tags = {"changed": "yes"}
    ml.online_endpoints.begin_create_or_update(ep)  # not waited for: Updating for 1.5 s


def test_deployment_create_while_the_endpoint_is_updating_is_409(strict: Connection) -> None:
    ml = _ml(strict)
    name = _endpoint(ml)
    _start_endpoint_update(ml, name)
    with pytest.raises(HttpResponseError) as info:
        ml.online_deployments.begin_create_or_update(
            make_deployment(name, "blue", "azureml:fraud:1"), skip_script_validation=True
        )
    assert info.value.status_code == 409
    assert "because it is in Updating provisioning state" in str(info.value)
    _eventually(lambda: ml.online_endpoints.get(name).provisioning_state == "Succeeded")
    with pytest.raises(ResourceNotFoundError):
        ml.online_deployments.get("blue", name)


def test_deployment_update_while_it_is_creating_is_409(strict: Connection) -> None:
    ml = _ml(strict)
    name = _endpoint(ml)
    first = arm(strict, "PUT", f"/onlineEndpoints/{name}/deployments/blue", deployment_body(strict))
    assert first.status_code == 201
    again = arm(strict, "PUT", f"/onlineEndpoints/{name}/deployments/blue", deployment_body(strict))
    assert again.status_code == 409
    assert "Creating provisioning state" in again.json()["error"]["message"]


def test_an_endpoint_update_while_another_runs_is_409_operation_duplication_conflict(
    strict: Connection,
) -> None:
    """Azure's wording (quoted in Azure/carnegie-mop's AmlEndpoint troubleshooting doc)."""
    ml = _ml(strict)
    name = _endpoint(ml)
    body = arm(strict, "GET", f"/onlineEndpoints/{name}").json()
    _start_endpoint_update(ml, name)
    again = arm(strict, "PUT", f"/onlineEndpoints/{name}", body)
    assert again.status_code == 409
    error = again.json()["error"]
    assert error["code"] == "Conflict"
    assert error["details"][0]["code"] == "OperationDuplicationConflict"
    assert "another operation on same entity is already running" in error["details"][0]["message"]


def test_the_adapters_traffic_update_waits_out_a_busy_endpoint(strict: Connection) -> None:
    """The endpoint is Updating (409 to another update) for 1.5 s: the adapter's set_traffic
    reads and tries again within its busy budget, and the split is live when it returns."""
    from emulator.testing import app_settings
    from shared.azure.credentials import build_credential
    from shared.azure.endpoints import MLEndpointControl

    ml = _ml(strict)
    name = _endpoint(ml)
    ml.online_deployments.begin_create_or_update(
        make_deployment(name, "blue", "azureml:fraud:1"), skip_script_validation=True
    ).result()
    settings = app_settings(strict)
    control = MLEndpointControl(settings, build_credential(settings), busy_wait_s=20)
    _start_endpoint_update(ml, name)
    control.set_traffic(name, {"blue": 100}, {})
    assert control.get_endpoint(name).live_traffic() == {"blue": 100}


def test_busy_conflicts_can_be_turned_off(lenient: Connection) -> None:
    ml = _ml(lenient)
    name = _endpoint(ml)
    _start_endpoint_update(ml, name)
    ml.online_deployments.begin_create_or_update(
        make_deployment(name, "blue", "azureml:fraud:1"), skip_script_validation=True
    ).result()
    assert ml.online_deployments.get("blue", name).provisioning_state == "Succeeded"


# ---------------------------------------------------------------- 404 right after create


def test_a_new_deployment_answers_404_briefly_after_its_create(strict: Connection) -> None:
    ml = _ml(strict)
    name = _endpoint(ml)
    resp = arm(strict, "PUT", f"/onlineEndpoints/{name}/deployments/blue", deployment_body(strict))
    assert resp.status_code == 201
    assert resp.json()["properties"]["provisioningState"] == "Creating"
    with pytest.raises(ResourceNotFoundError):
        ml.online_deployments.get("blue", name)
    assert [d.name for d in ml.online_deployments.list(name)] == []
    # ...and then it is there, still Creating or already Succeeded.
    dep = _eventually(lambda: arm(strict, "GET", f"/onlineEndpoints/{name}/deployments/blue").ok)
    assert dep
    assert [d.name for d in ml.online_deployments.list(name)] == ["blue"]


def test_hidden_after_create_can_be_turned_off(lenient: Connection) -> None:
    ml = _ml(lenient)
    name = _endpoint(ml)
    resp = arm(
        lenient, "PUT", f"/onlineEndpoints/{name}/deployments/blue", deployment_body(lenient)
    )
    assert resp.status_code == 201
    assert ml.online_deployments.get("blue", name).provisioning_state == "Creating"


# ---------------------------------------------------------------- reads trail a traffic update


def _blue_endpoint(conn: Connection) -> tuple[Any, str]:
    ml = _ml(conn)
    name = _endpoint(ml)
    ml.online_deployments.begin_create_or_update(
        make_deployment(name, "blue", "azureml:fraud:1"), skip_script_validation=True
    ).result()
    return ml, name


def _live(ml: Any, name: str) -> dict[str, int]:
    return {k: v for k, v in (ml.online_endpoints.get(name).traffic or {}).items() if v}


def _served_split(conn: Connection, name: str) -> dict[str, int]:
    state = admin_request(conn, "GET", "state")
    return next(e["traffic"] for e in state["endpoints"] if e["name"] == name)


def test_reads_show_the_split_before_a_traffic_update_for_a_while_after_it_is_done(
    strict: Connection,
) -> None:
    """azure-dev PR 3881: azd reads the endpoint after UpdateTraffic until it shows the new
    split. The strict fixture runs with --traffic-read-lag 1.0: scoring routes by the new
    split as soon as the update is done, reads show it 1 s later."""
    ml, name = _blue_endpoint(strict)
    ep = ml.online_endpoints.get(name)
    ep.traffic = {"blue": 100}
    ml.online_endpoints.begin_create_or_update(ep).result()
    assert _served_split(strict, name) == {"blue": 100}
    assert _live(ml, name) == {}
    assert _eventually(lambda: _live(ml, name) == {"blue": 100}, timeout=5.0)


def test_the_adapter_says_a_split_is_live_once_reads_show_it(strict: Connection) -> None:
    from emulator.testing import app_settings
    from shared.azure.credentials import build_credential
    from shared.azure.endpoints import MLEndpointControl

    _, name = _blue_endpoint(strict)
    settings = app_settings(strict)
    control = MLEndpointControl(settings, build_credential(settings))
    assert control.set_traffic(name, {"blue": 100}, {}) is True
    info = control.get_endpoint(name)
    assert info.live_traffic() == {"blue": 100}
    # and when Azure last changed it (systemData.lastModifiedAt, through azure-ai-ml)
    assert info.modified_at is not None
    assert abs((datetime.now(UTC) - info.modified_at).total_seconds()) < 60


def test_traffic_read_lag_can_be_turned_off(lenient: Connection) -> None:
    ml, name = _blue_endpoint(lenient)
    ep = ml.online_endpoints.get(name)
    ep.traffic = {"blue": 100}
    ml.online_endpoints.begin_create_or_update(ep).result()
    assert _live(ml, name) == {"blue": 100}


# ---------------------------------------------------------------- deployments per endpoint


def test_the_default_quota_is_twenty_deployments_per_endpoint() -> None:
    assert MAX_DEPLOYMENTS_PER_ENDPOINT == 20
    assert Strictness().max_deployments == 20


def test_a_deployment_past_the_quota_is_refused_and_not_created(strict: Connection) -> None:
    """The strict fixture runs with --max-deployments 2 (Azure: 20)."""
    ml = _ml(strict)
    name = _endpoint(ml)
    for dep in ("blue", "green"):
        path = f"/onlineEndpoints/{name}/deployments/{dep}"
        assert arm(strict, "PUT", path, deployment_body(strict)).status_code == 201
    third = arm(strict, "PUT", f"/onlineEndpoints/{name}/deployments/red", deployment_body(strict))
    assert third.status_code == 400
    assert third.json()["error"]["details"][0]["code"] == "QuotaExceeded"
    time.sleep(1.1)  # past the 404 window of the two others
    names = sorted(d.name for d in ml.online_deployments.list(name))
    assert names == ["blue", "green"]


# ---------------------------------------------------------------- ARM read throttling


def test_arm_reads_carry_the_reads_left_and_an_empty_bucket_answers_429(
    tmp_path: Path,
) -> None:
    """ARM's read bucket (250, refilled at 25 a second): the header counts down; with
    --arm-read-throttle an empty bucket is a 429 with Retry-After. The refill is lowered to 1
    a second so that the bucket empties however slowly a loaded machine sends the reads
    (at 25 a second, 400 reads sent slower than that never emptied it)."""
    with running_emulator(
        tmp_path, extra_args=["--arm-read-throttle", "--arm-read-refill", "1"]
    ) as conn:
        session = requests.Session()
        session.headers["Authorization"] = "Bearer test"
        url = arm_url(conn, "/onlineEndpoints", "2024-04-01")
        first = session.get(url, timeout=30, verify=conn.cert_path)
        left = [int(first.headers["x-ms-ratelimit-remaining-subscription-reads"])]
        assert first.status_code == 200 and left[0] < 250
        throttled = None
        for _ in range(400):
            answer = session.get(url, timeout=30, verify=conn.cert_path)
            if answer.status_code == 429:
                throttled = answer
                break
            left.append(int(answer.headers["x-ms-ratelimit-remaining-subscription-reads"]))
        assert throttled is not None
        assert int(throttled.headers["Retry-After"]) >= 1
        assert throttled.json()["error"]["code"] == "TooManyRequests"
        assert left[-1] < left[0]
