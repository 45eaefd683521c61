"""ARM surface of the emulator, driven by azure-ai-ml's MLClient over HTTPS."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from emulator_helpers import create_endpoint, make_deployment, set_traffic

from emulator.connection import Connection
from emulator.samples import MODELS_DIR
from emulator.testing import admin_request


def test_workspace_get_returns_location(ml: Any, emulator: Connection) -> None:
    ws = ml.workspaces.get(emulator.workspace)
    assert ws.name == emulator.workspace
    assert ws.location == emulator.location


def test_endpoint_create_then_get(ml: Any, endpoint_name: str) -> None:
    """The priority-one path: begin_create_or_update(...).result() and get."""
    created = create_endpoint(ml, endpoint_name, tags={"team": "fraud"})
    assert created.provisioning_state.lower() == "succeeded"
    got = ml.online_endpoints.get(endpoint_name)
    assert got.name == endpoint_name
    assert got.auth_mode == "key"
    assert got.tags == {"team": "fraud"}
    assert got.scoring_uri.endswith(f"/endpoints/{endpoint_name}/score")
    assert got.scoring_uri.startswith("https://127.0.0.1:")


def test_endpoint_list_contains_created(ml: Any, endpoint_name: str) -> None:
    create_endpoint(ml, endpoint_name)
    assert endpoint_name in [e.name for e in ml.online_endpoints.list()]


def test_endpoint_delete_then_get_is_404(ml: Any, endpoint_name: str) -> None:
    create_endpoint(ml, endpoint_name)
    ml.online_endpoints.begin_delete(endpoint_name).result()
    with pytest.raises(ResourceNotFoundError):
        ml.online_endpoints.get(endpoint_name)


def test_unknown_endpoint_is_404(ml: Any) -> None:
    with pytest.raises(ResourceNotFoundError):
        ml.online_endpoints.get("no-such-endpoint")


def test_regenerate_keys_changes_primary_only(ml: Any, endpoint_name: str) -> None:
    create_endpoint(ml, endpoint_name)
    before = ml.online_endpoints.get_keys(endpoint_name)
    ml.online_endpoints.begin_regenerate_keys(endpoint_name, key_type="primary").result()
    after = ml.online_endpoints.get_keys(endpoint_name)
    assert after.primary_key != before.primary_key
    assert after.secondary_key == before.secondary_key


def test_deployment_create_serves_and_logs_init(
    ml: Any, endpoint_name: str, assets: dict[str, str]
) -> None:
    create_endpoint(ml, endpoint_name)
    dep = ml.online_deployments.begin_create_or_update(
        make_deployment(endpoint_name, "blue-v1", assets["good"])
    ).result()
    assert dep.provisioning_state.lower() == "succeeded"
    listed = [d.name for d in ml.online_deployments.list(endpoint_name)]
    assert listed == ["blue-v1"]
    got = ml.online_deployments.get("blue-v1", endpoint_name)
    assert got.instance_count == 1
    assert got.code_configuration.scoring_script == "score.py"
    logs = ml.online_deployments.get_logs("blue-v1", endpoint_name, lines=50)
    assert "init() completed" in logs
    storage = ml.online_deployments.get_logs(
        "blue-v1", endpoint_name, lines=50, container_type="storage-initializer"
    )
    assert "AZUREML_MODEL_DIR" in storage


def test_deployment_cloned_from_get_with_new_model(
    ml: Any, endpoint_name: str, assets: dict[str, str]
) -> None:
    """A deployment read back with get(), renamed and given another model, provisions."""
    create_endpoint(ml, endpoint_name)
    ml.online_deployments.begin_create_or_update(
        make_deployment(endpoint_name, "fraud-v1", assets["good"])
    ).result()
    clone = ml.online_deployments.get("fraud-v1", endpoint_name)
    clone.name = "fraud-v2"
    clone.model = assets["slow"]
    done = ml.online_deployments.begin_create_or_update(clone, skip_script_validation=True)
    assert done.result().provisioning_state.lower() == "succeeded"
    got = ml.online_deployments.get("fraud-v2", endpoint_name)
    assert got.model.endswith("/models/fraud/versions/2")


def test_failed_init_makes_provisioning_failed_with_traceback(
    ml: Any, endpoint_name: str, assets: dict[str, str]
) -> None:
    create_endpoint(ml, endpoint_name)
    poller = ml.online_deployments.begin_create_or_update(
        make_deployment(endpoint_name, "broken-v3", assets["broken"])
    )
    with pytest.raises(HttpResponseError, match=r"ResourceNotReady|crashed"):
        poller.result()
    dep = ml.online_deployments.get("broken-v3", endpoint_name)
    assert dep.provisioning_state.lower() == "failed"
    logs = ml.online_deployments.get_logs("broken-v3", endpoint_name, lines=100)
    assert "Traceback" in logs
    assert "model weights are corrupt" in logs


def test_a_deployment_names_its_last_operation_in_its_properties_over_what_was_sent(
    ml: Any, endpoint_name: str, assets: dict[str, str]
) -> None:
    """As ``az ml online-deployment show`` prints Azure's: "properties":
    {"AzureAsyncOperationUri": ".../mfeOperationsStatus/..."} (ansible-collections/azure
    azure_rm_ml_online_deployment.py RETURN sample); a clone sending its source's is
    overwritten by its own."""
    create_endpoint(ml, endpoint_name)
    dep = make_deployment(endpoint_name, "fraud-v1", assets["good"])
    dep.properties = {"owner": "risk", "AzureAsyncOperationUri": "https://elsewhere/op"}
    poller = ml.online_deployments.begin_create_or_update(dep)
    poller.result()
    got = ml.online_deployments.get("fraud-v1", endpoint_name)
    uri = got.properties["AzureAsyncOperationUri"]
    assert got.properties["owner"] == "risk"
    assert "/providers/Microsoft.MachineLearningServices/locations/" in uri
    assert "/mfeOperationsStatus/" in uri and "api-version=" in uri
    assert (
        uri
        == poller.polling_method()._initial_response.http_response.headers["Azure-AsyncOperation"]
    )


def test_deployment_on_unknown_endpoint_is_404(ml: Any, assets: dict[str, str]) -> None:
    with pytest.raises(ResourceNotFoundError):
        ml.online_deployments.begin_create_or_update(
            make_deployment("no-such-endpoint", "blue-v1", assets["good"])
        )


def test_deployment_name_rules(emulator: Connection, ml: Any, endpoint_name: str) -> None:
    """3-32 characters, a letter first: 'v1' is refused with an Azure-shaped 400."""
    create_endpoint(ml, endpoint_name)
    url = (
        f"{emulator.arm_url}subscriptions/{emulator.subscription}/resourceGroups/"
        f"{emulator.resource_group}/providers/Microsoft.MachineLearningServices/workspaces/"
        f"{emulator.workspace}/onlineEndpoints/{endpoint_name}/deployments/v1"
        "?api-version=2025-12-01"
    )
    resp = requests.put(
        url,
        json={"properties": {"endpointComputeType": "Managed"}},
        headers={"Authorization": "Bearer any"},
        verify=emulator.cert_path,
        timeout=10,
    )
    assert resp.status_code == 400
    assert "3-32 characters" in resp.json()["error"]["message"]


def test_a_registry_model_deploys_and_reads_back_as_its_registry_id(
    ml: Any, emulator: Connection, endpoint_name: str, assets: dict[str, str]
) -> None:
    """A deployment may name a registry's model (azureml://registries/R/models/N/versions/V):
    it serves from that model's files and reads back with the id as sent."""
    body = {"name": "fraud-shared", "version": "4", "path": str(MODELS_DIR / "fraud-v1")}
    created = admin_request(emulator, "POST", "models", {**body, "registry": "mlops-reg"})
    ref = "azureml://registries/mlops-reg/models/fraud-shared/versions/4"
    assert created["id"] == ref
    create_endpoint(ml, endpoint_name)
    dep = ml.online_deployments.begin_create_or_update(
        make_deployment(endpoint_name, "blue", ref)
    ).result()
    assert dep.provisioning_state.lower() == "succeeded"
    assert ml.online_deployments.get("blue", endpoint_name).model == ref
    with pytest.raises(Exception, match="409"):  # registry versions are immutable too
        admin_request(emulator, "POST", "models", {**body, "registry": "mlops-reg"})


def test_a_registry_model_id_never_resolves_to_the_workspace_model_of_that_name(
    ml: Any, endpoint_name: str, assets: dict[str, str]
) -> None:
    """fraud:1 is a workspace model; the same name and version in a registry that does not
    hold it is refused, and so is a label."""
    create_endpoint(ml, endpoint_name)
    for ref in (
        "azureml://registries/elsewhere/models/fraud/versions/1",
        "azureml://registries/elsewhere/models/fraud/labels/latest",
    ):
        with pytest.raises((HttpResponseError, ResourceNotFoundError)):
            ml.online_deployments.begin_create_or_update(
                make_deployment(endpoint_name, "ghost", ref)
            ).result()


def test_unregistered_model_is_refused(ml: Any, endpoint_name: str) -> None:
    create_endpoint(ml, endpoint_name)
    with pytest.raises((HttpResponseError, ResourceNotFoundError)):
        ml.online_deployments.begin_create_or_update(
            make_deployment(endpoint_name, "ghost-v1", "azureml:ghost:9")
        ).result()


@pytest.fixture
def two_deployments(ml: Any, endpoint_name: str, assets: dict[str, str]) -> str:
    create_endpoint(ml, endpoint_name)
    for name in ("blue-v1", "green-v2"):
        ml.online_deployments.begin_create_or_update(
            make_deployment(endpoint_name, name, assets["good"])
        ).result()
    return endpoint_name


@pytest.mark.parametrize(
    ("traffic", "mirror", "fragment"),
    [
        ({"blue-v1": 60, "green-v2": 30}, {}, "sum to 0 or 100"),
        ({"blue-v1": 90, "nope-v9": 10}, {}, "do not exist"),
        ({"blue-v1": 100}, {"green-v2": 60}, "at most 50"),
        ({"blue-v1": 50, "green-v2": 50}, {"green-v2": 10}, "both live and mirrored"),
    ],
)
def test_traffic_rules_are_azure_400s(
    ml: Any,
    two_deployments: str,
    traffic: dict[str, int],
    mirror: dict[str, int],
    fragment: str,
) -> None:
    with pytest.raises(HttpResponseError) as info:
        set_traffic(ml, two_deployments, traffic, mirror)
    assert info.value.status_code == 400
    assert fragment in str(info.value)
    assert not any(ml.online_endpoints.get(two_deployments).traffic.values())


def test_traffic_and_mirror_are_applied(ml: Any, two_deployments: str) -> None:
    set_traffic(ml, two_deployments, {"blue-v1": 100}, {"green-v2": 20})
    got = ml.online_endpoints.get(two_deployments)
    assert {k: v for k, v in got.traffic.items() if v} == {"blue-v1": 100}
    assert got.mirror_traffic == {"green-v2": 20}


def test_deleting_deployment_with_traffic_is_refused(ml: Any, two_deployments: str) -> None:
    set_traffic(ml, two_deployments, {"blue-v1": 100})
    with pytest.raises(HttpResponseError) as info:
        ml.online_deployments.begin_delete("blue-v1", two_deployments).result()
    assert info.value.status_code == 400
    ml.online_deployments.begin_delete("green-v2", two_deployments).result()
    assert [d.name for d in ml.online_deployments.list(two_deployments)] == ["blue-v1"]


def test_lro_answers_azure_async_headers(emulator: Connection, endpoint_name: str) -> None:
    """PUT answers 201 with Azure-AsyncOperation; the status resource ends Succeeded."""
    url = (
        f"{emulator.arm_url}subscriptions/{emulator.subscription}/resourceGroups/"
        f"{emulator.resource_group}/providers/Microsoft.MachineLearningServices/workspaces/"
        f"{emulator.workspace}/onlineEndpoints/{endpoint_name}?api-version=2025-12-01"
    )
    auth = {"Authorization": "Bearer any"}
    body = {"location": emulator.location, "properties": {"authMode": "Key"}}
    resp = requests.put(url, json=body, headers=auth, verify=emulator.cert_path, timeout=10)
    assert resp.status_code == 201
    assert resp.json()["properties"]["provisioningState"] == "Creating"
    status_url = resp.headers["Azure-AsyncOperation"]
    for _ in range(100):
        status = requests.get(status_url, headers=auth, verify=emulator.cert_path, timeout=10)
        if status.json()["status"] != "InProgress":
            break
    assert status.json()["status"] == "Succeeded"


def test_model_create_or_update_with_datastore_uri(ml: Any, emulator: Connection) -> None:
    """ml_client.models.create_or_update for a path that is already a URI registers it."""
    from azure.ai.ml.entities import Model

    uri = (
        f"azureml://subscriptions/{emulator.subscription}/resourcegroups/"
        f"{emulator.resource_group}/workspaces/{emulator.workspace}/datastores/"
        "workspaceblobstore/paths/models/fraud/1/fraud-v1"
    )
    model = ml.models.create_or_update(
        Model(name="uri-model", version="4", path=uri, type="custom_model", tags={"k": "v"})
    )
    assert model.version == "4"
    got = ml.models.get("uri-model", version="4")
    assert got.tags == {"k": "v"}
    assert "4" in [m.version for m in ml.models.list("uri-model")]


def test_environment_register_and_get(ml: Any) -> None:
    from azure.ai.ml.entities import Environment

    image = "mcr.microsoft.com/azureml/minimal-ubuntu22.04-py39-cpu-inference:latest"
    ml.environments.create_or_update(Environment(name="sklearn-env", version="1", image=image))
    assert ml.environments.get("sklearn-env", version="1").image == image


def test_register_model_command(emulator: Connection, ml: Any, tmp_path: Any) -> None:
    state = emulator.state_dir
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "emulator",
            "register-model",
            "--connection",
            state,
            "--name",
            "cli-model",
            "--version",
            "7",
            "--path",
            str(MODELS_DIR / "fraud-v1"),
            "--tag",
            "stage=canary",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("/models/cli-model/versions/7")
    got = ml.models.get("cli-model", version="7")
    assert got.tags == {"stage": "canary"}


def test_register_model_twice_is_conflict(emulator: Connection) -> None:
    body = {"name": "twice", "version": "1", "path": str(MODELS_DIR / "fraud-v1")}
    admin_request(emulator, "POST", "models", body)
    with pytest.raises(Exception, match="409"):
        admin_request(emulator, "POST", "models", body)


def test_admin_api_requires_key(emulator: Connection) -> None:
    resp = requests.get(f"{emulator.arm_url}_emulator/state", verify=emulator.cert_path, timeout=10)
    assert resp.status_code == 401


def test_arm_without_bearer_token_is_401(emulator: Connection) -> None:
    url = (
        f"{emulator.arm_url}subscriptions/{emulator.subscription}/resourceGroups/"
        f"{emulator.resource_group}/providers/Microsoft.MachineLearningServices/workspaces/"
        f"{emulator.workspace}?api-version=2025-12-01"
    )
    resp = requests.get(url, verify=emulator.cert_path, timeout=10)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "AuthenticationFailed"


def test_plain_http_is_refused(emulator: Connection) -> None:
    """The listener speaks HTTPS only, as Azure does for bearer tokens."""
    url = emulator.arm_url.replace("https://", "http://") + "_emulator/health"
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url, timeout=5)
