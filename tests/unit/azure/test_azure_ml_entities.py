"""azure-ai-ml's entities read as autocanary's: model refs, provisioning states, EndpointInfo."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from shared.azure.ml_entities import (
    endpoint_info,
    model_ref,
    provisioning_state,
    same_model,
    workspace_model,
)
from shared.model import ModelRef

WS = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws"


def test_model_refs_are_normalised() -> None:
    assert model_ref(f"{WS}/models/fraud/versions/7") == "azureml:fraud:7"
    assert model_ref("azureml:fraud:7") == "azureml:fraud:7"
    registry = "azureml://registries/r/models/m/versions/1"
    assert model_ref(registry) == registry
    assert model_ref(None) is None


def test_workspace_models_compare_and_parse_whatever_their_spelling() -> None:
    assert same_model(f"{WS}/models/Fraud/versions/7", "azureml:fraud:7")
    assert not same_model(None, None)
    assert workspace_model(f"{WS}/models/fraud/versions/7") == ModelRef("fraud", "7")
    assert workspace_model("azureml://registries/r/models/m/versions/1") is None
    assert workspace_model(None) is None


def test_provisioning_states_are_azure_words_with_a_default() -> None:
    assert provisioning_state(SimpleNamespace(value="Creating"), "Unknown") == "Creating"
    assert provisioning_state("Succeeded", "Unknown") == "Succeeded"
    assert provisioning_state("", "Unknown") == provisioning_state(None, "Unknown") == "Unknown"


def test_traffic_to_a_deployment_the_list_missed_is_kept() -> None:
    """A race with a delete: the split names a deployment the list no longer returns."""
    ep = SimpleNamespace(
        name=None,
        traffic={"blue": 90, "gone": 10},
        mirror_traffic={"blue": 0},
        provisioning_state=None,
    )
    blue = SimpleNamespace(name="blue", model="azureml:fraud:1", instance_count="2")
    info = endpoint_info("ep", ep, [blue])
    assert info.name == "ep" and info.provisioning_state == "Succeeded"
    assert info.traffic == {"blue": 90, "gone": 10} and info.mirror == {}
    assert info.deployments["blue"].provisioning_state == "Unknown"
    assert info.deployments["blue"].instance_count == 2


def test_the_endpoints_last_change_is_read_from_what_azure_ai_ml_keeps_of_system_data() -> None:
    """azure-ai-ml's OnlineEndpoint._from_rest_object puts systemData.lastModifiedAt into the
    entity's properties, formatted %Y-%m-%dT%H:%M:%S.%f%z."""
    from azure.ai.ml._restclient.arm_ml_service.models import OnlineEndpoint as OnlineEndpointData
    from azure.ai.ml.entities import OnlineEndpoint

    from shared.azure.ml_entities import modified_at

    rest = {
        "name": "ep",
        "location": "westeurope",
        "properties": {"authMode": "Key", "traffic": {"blue": 100}, "properties": {}},
        "systemData": {
            "createdAt": "2026-12-04T10:00:00.5Z",
            "lastModifiedAt": "2026-12-04T10:05:30.25Z",
            "createdBy": "x",
        },
    }
    entity = OnlineEndpoint._from_rest_object(OnlineEndpointData(rest))
    assert modified_at(entity) == datetime(2026, 12, 4, 10, 5, 30, 250000, tzinfo=UTC)
    assert modified_at(SimpleNamespace(properties={})) is None
    assert modified_at(SimpleNamespace(properties={"lastModifiedAt": "yesterday"})) is None
    assert modified_at(SimpleNamespace()) is None


def test_traffic_keys_name_deployments_whatever_their_letter_case() -> None:
    """azure-ai-ml lower-cases the traffic and mirror keys it sends (_strip_zeroes_from_traffic
    in operations/_online_endpoint_operations.py) and Azure resource names are case-
    insensitive: a deployment named 'Blue' is the one the split's 'blue' means."""
    ep = SimpleNamespace(
        name="ep",
        traffic={"blue": 90, "fraud-v2": 10},
        mirror_traffic={"green": 20},
        provisioning_state="Succeeded",
    )
    deps = [
        SimpleNamespace(name="Blue", model="azureml:fraud:1", instance_count=2),
        SimpleNamespace(name="fraud-v2", model="azureml:fraud:2", instance_count=1),
        SimpleNamespace(name="Green", model="azureml:fraud:3", instance_count=1),
    ]
    info = endpoint_info("ep", ep, deps)
    assert info.traffic == {"Blue": 90, "fraud-v2": 10, "Green": 0}
    assert info.mirror == {"Green": 20}
