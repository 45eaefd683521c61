"""MLEndpointControl.create_deployment clones a fully configured deployment faithfully, read
back as Azure returns it (the emulator, strict behaviours on; stock azure-ai-ml).

The comparison is on the ARM resource bodies (``GET .../deployments/{name}``), property by
property, so a setting azure-ai-ml drops on its way in or out (``modelMountPath`` is not read
back by ``ManagedOnlineDeployment._from_rest_object``) is caught too.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from emulator.testing import workspace_path
from shared.azure import retry
from shared.azure.operation_status import ASYNC_URI_PROPERTY
from shared.effects import CreateDeployment
from shared.model import ModelRef

pytestmark = pytest.mark.integration

GOOD = ModelRef("fraud", "1")
NEW = ModelRef("fraud", "2")
FAST = retry.RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, budget=1.0)
CUSTOM_DATA = "fraud-inputs"
CUSTOM_PATH = "azureml://datastores/workspaceblobstore/paths/custom/fraud-inputs"


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from emulator.samples import CODE_DIR, MODELS_DIR
    from emulator.testing import admin_request, running_emulator

    state = tmp_path_factory.mktemp("endpoints-clone")
    with running_emulator(state, provisioning_delay=0.05, retry_after=0.05) as c:
        admin_request(c, "POST", "codes", {"name": "score", "version": "1", "path": str(CODE_DIR)})
        for model, folder in ((GOOD, "fraud-v1"), (NEW, "fraud-v2-slow")):
            admin_request(
                c,
                "POST",
                "models",
                {"name": model.name, "version": model.version, "path": str(MODELS_DIR / folder)},
            )
        yield c


def _control(conn: Any) -> Any:
    from emulator.testing import app_settings
    from shared.azure.credentials import build_credential
    from shared.azure.endpoints import MLEndpointControl

    settings = app_settings(conn)
    return MLEndpointControl(settings, build_credential(settings), retry_policy=FAST)


def _source(endpoint: str) -> Any:
    """A deployment with every setting a rollout must carry over."""
    from azure.ai.ml.entities import (
        DataAsset,
        DataCollector,
        DefaultScaleSettings,
        DeploymentCollection,
        OnlineRequestSettings,
        ProbeSettings,
        RequestLogging,
    )

    from emulator.testing import make_deployment

    collector = DataCollector(
        collections={
            "model_inputs": DeploymentCollection(enabled="true"),
            "model_outputs": DeploymentCollection(
                enabled="true", data=DataAsset(name=CUSTOM_DATA, version="1", path=CUSTOM_PATH)
            ),
        },
        rolling_rate="hour",
        sampling_rate=0.5,
        request_logging=RequestLogging(capture_headers=["x-request-id"]),
    )
    return make_deployment(
        endpoint,
        "blue",
        GOOD.asset_id,
        instance_count=2,
        description="the live one",
        model_mount_path="/var/azureml-app/models",
        properties={"owner": "risk-team"},
        scale_settings=DefaultScaleSettings(),
        request_settings=OnlineRequestSettings(
            request_timeout_ms=3000, max_concurrent_requests_per_instance=2, max_queue_wait_ms=700
        ),
        liveness_probe=ProbeSettings(initial_delay=11, period=12, timeout=3, failure_threshold=4),
        readiness_probe=ProbeSettings(initial_delay=5, period=6, success_threshold=1),
        environment_variables={"MODE": "strict", "WORKERS": "2"},
        app_insights_enabled=True,
        egress_public_network_access="Disabled",
        data_collector=collector,
        tags={"team": "risk"},
    )


def _raw(conn: Any, endpoint: str, name: str) -> dict[str, Any]:
    url = (
        f"{conn.arm_url.rstrip('/')}{workspace_path(conn)}"
        f"/onlineEndpoints/{endpoint}/deployments/{name}?api-version=2023-04-01-preview"
    )
    deadline = time.monotonic() + 30
    while True:
        resp = requests.get(
            url, headers={"Authorization": "Bearer local"}, verify=conn.cert_path, timeout=10
        )
        body: dict[str, Any] = resp.json() if resp.status_code == 200 else {}
        state = body.get("properties", {}).get("provisioningState")
        if state in ("Succeeded", "Failed"):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{name}: {resp.status_code} {state} after 30 s")
        time.sleep(0.05)


def test_clone_of_a_deployment_with_data_collection_carries_every_setting(conn: Any) -> None:
    from emulator.testing import create_endpoint, set_traffic

    control = _control(conn)
    ml = control._ml()
    ep = "ep-" + uuid.uuid4().hex[:8]
    create_endpoint(ml, ep)
    ml.online_deployments.begin_create_or_update(_source(ep)).result()
    set_traffic(ml, ep, {"blue": 100})
    src = _raw(conn, ep, "blue")

    control.create_deployment(ep, CreateDeployment("fraud-v2", "blue", NEW))
    new = _raw(conn, ep, "fraud-v2")

    assert new["properties"]["provisioningState"] == "Succeeded"
    assert new["sku"] == src["sku"]
    assert new["properties"]["model"].endswith("/models/fraud/versions/2")
    ws = src["id"].split("/onlineEndpoints/")[0]
    src_dc = src["properties"]["dataCollector"]
    new_dc = new["properties"]["dataCollector"]
    # The collection that used the SDK's per-deployment default data asset gets the canary's
    # own default; the one that named a data asset keeps it.
    assert src_dc["collections"]["model_inputs"]["dataId"] == (
        f"{ws}/data/{ep}-blue-model_inputs/versions/1"
    )
    assert new_dc["collections"]["model_inputs"]["dataId"] == (
        f"{ws}/data/{ep}-fraud-v2-model_inputs/versions/1"
    )
    assert new_dc["collections"]["model_outputs"]["dataId"] == (
        f"{ws}/data/{CUSTOM_DATA}/versions/1"
    )
    for coll in ("model_inputs", "model_outputs"):
        for key in ("dataCollectionMode", "samplingRate", "clientId"):
            got = new_dc["collections"][coll].get(key)
            assert got == src_dc["collections"][coll].get(key), (coll, key)
    assert new_dc["collections"]["model_inputs"]["dataCollectionMode"] == "Enabled"
    assert {k: v for k, v in new_dc.items() if k != "collections"} == {
        k: v for k, v in src_dc.items() if k != "collections"
    }
    skip = {"model", "provisioningState", "dataCollector", "properties"}
    for key in sorted(set(src["properties"]) | set(new["properties"])):
        if key not in skip:
            assert new["properties"].get(key) == src["properties"].get(key), key
    assert new["properties"]["modelMountPath"] == "/var/azureml-app/models"
    # the free-form properties as the source's, but for the status URL of each one's own
    # last operation, which Azure ML writes there (shared/azure/operation_status.py)
    own, theirs = dict(new["properties"]["properties"]), dict(src["properties"]["properties"])
    own_op, their_op = own.pop(ASYNC_URI_PROPERTY), theirs.pop(ASYNC_URI_PROPERTY)
    assert own == theirs == {"owner": "risk-team"}
    assert own_op != their_op and "/mfeOperationsStatus/" in own_op
    assert new["tags"]["team"] == "risk"


def _put_raw(conn: Any, endpoint: str, name: str, body: dict[str, Any]) -> None:
    url = (
        f"{conn.arm_url.rstrip('/')}{workspace_path(conn)}"
        f"/onlineEndpoints/{endpoint}/deployments/{name}?api-version=2025-12-01"
    )
    resp = requests.put(
        url, json=body, headers={"Authorization": "Bearer local"}, verify=conn.cert_path, timeout=10
    )
    assert resp.status_code in (200, 201), resp.text


def test_a_startup_probe_is_carried_by_the_clone_and_the_scale(conn: Any) -> None:
    """A deployment given a startupProbe (REST and ARM templates can; the SDK entity neither
    reads nor sends one: azure-ai-ml 1.35 ManagedOnlineDeployment): the canary cloned from it
    and a scale of it keep the probe, so a slow-loading model is not killed while it loads."""
    from emulator.testing import create_endpoint, make_deployment, set_traffic

    control = _control(conn)
    ml = control._ml()
    ep = "ep-" + uuid.uuid4().hex[:8]
    create_endpoint(ml, ep)
    ml.online_deployments.begin_create_or_update(
        make_deployment(ep, "blue", GOOD.asset_id)
    ).result()
    set_traffic(ml, ep, {"blue": 100})
    body = _raw(conn, ep, "blue")
    probe = {"initialDelay": "PT10M", "period": "PT30S", "timeout": "PT5S", "failureThreshold": 40}
    props = {k: v for k, v in body["properties"].items() if k != "provisioningState"}
    _put_raw(conn, ep, "blue", {**body, "properties": {**props, "startupProbe": probe}})
    assert _raw(conn, ep, "blue")["properties"]["startupProbe"]["initialDelay"] == "PT10M"

    control.create_deployment(ep, CreateDeployment("fraud-v2", "blue", NEW))
    new = _raw(conn, ep, "fraud-v2")
    assert new["properties"]["startupProbe"] == _raw(conn, ep, "blue")["properties"]["startupProbe"]
    control.scale_deployment(ep, "blue", 2)
    time.sleep(0.2)
    scaled = _raw(conn, ep, "blue")
    assert scaled["sku"]["capacity"] == 2
    assert scaled["properties"]["startupProbe"]["initialDelay"] == "PT10M"
