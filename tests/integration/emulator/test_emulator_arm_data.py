"""The emulator's ARM data assets: collections read back as data ids, versions are immutable."""

from __future__ import annotations

import uuid
from typing import Any

from arm_requests import arm, arm_url
from emulator_helpers import create_endpoint, make_deployment

from emulator.connection import Connection
from emulator.testing import arm_deployment_body as deployment_body

# ---------------------------------------------------------------- data collection


def _collector() -> Any:
    from azure.ai.ml.entities import DataCollector, DeploymentCollection

    return DataCollector(
        collections={
            "model_inputs": DeploymentCollection(enabled="true"),
            "model_outputs": DeploymentCollection(enabled="false"),
        },
        sampling_rate=0.5,
        rolling_rate="hour",
    )


def test_data_collection_reads_back_as_arm_ids_of_the_data_assets_the_sdk_registered(
    emulator: Connection, ml: Any, endpoint_name: str, assets: dict[str, str]
) -> None:
    create_endpoint(ml, endpoint_name)
    ml.online_deployments.begin_create_or_update(
        make_deployment(endpoint_name, "blue", assets["good"], data_collector=_collector())
    ).result()
    body = arm(emulator, "GET", f"/onlineEndpoints/{endpoint_name}/deployments/blue").json()
    colls = body["properties"]["dataCollector"]["collections"]
    data_name = f"{endpoint_name}-blue-model_inputs"
    assert (
        colls["model_inputs"]["dataId"]
        == arm_url(emulator, f"/data/{data_name}/versions/1", None).split(
            emulator.arm_url.rstrip("/")
        )[1]
    )
    assert colls["model_inputs"]["dataCollectionMode"] == "Enabled"
    assert colls["model_outputs"]["dataCollectionMode"] == "Disabled"
    assert body["properties"]["dataCollector"]["rollingRate"] == "Hour"
    data = arm(emulator, "GET", f"/data/{data_name}/versions/1").json()
    assert data["properties"]["dataUri"].endswith(
        f"/paths/modelDataCollector/{endpoint_name}/blue/model_inputs"
    )
    got = ml.online_deployments.get("blue", endpoint_name).data_collector.collections
    assert isinstance(got["model_inputs"].data, str)  # what azure-ai-ml gives back
    assert got["model_inputs"].enabled == "true"


def test_data_versions_are_immutable_as_the_sdk_expects(emulator: Connection) -> None:
    """Same content again: accepted; other content: 409 whose message says 'already exists'
    (azure-ai-ml then GETs the existing version)."""
    name = "d" + uuid.uuid4().hex[:8]
    body = {"properties": {"dataType": "uri_folder", "dataUri": "azureml://datastores/x/paths/a"}}
    assert arm(emulator, "PUT", f"/data/{name}/versions/1", body).status_code == 201
    assert arm(emulator, "PUT", f"/data/{name}/versions/1", body).status_code == 200
    other = {"properties": {"dataType": "uri_folder", "dataUri": "azureml://datastores/x/paths/b"}}
    resp = arm(emulator, "PUT", f"/data/{name}/versions/1", other)
    assert resp.status_code == 409
    assert "already exists" in resp.json()["error"]["message"]
    stored = arm(emulator, "GET", f"/data/{name}/versions/1").json()
    assert stored["properties"]["dataUri"].endswith("/paths/a")


def test_a_collection_naming_unknown_data_is_refused_and_creates_nothing(
    emulator: Connection, ml: Any, endpoint_name: str, assets: dict[str, str]
) -> None:
    create_endpoint(ml, endpoint_name)
    ws = arm_url(emulator, "", None).split(emulator.arm_url.rstrip("/"))[1]
    collector = {
        "collections": {
            "model_inputs": {
                "dataCollectionMode": "Enabled",
                "dataId": f"{ws}/data/no-such-data/versions/1",
            }
        }
    }
    body = deployment_body(emulator, dataCollector=collector)
    resp = arm(emulator, "PUT", f"/onlineEndpoints/{endpoint_name}/deployments/blue", body)
    assert resp.status_code == 404
    assert (
        arm(emulator, "GET", f"/onlineEndpoints/{endpoint_name}/deployments/blue").status_code
        == 404
    )
