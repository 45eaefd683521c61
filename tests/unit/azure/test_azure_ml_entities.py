"""azure-ai-ml's entities read as autocanary's: model refs, provisioning states, EndpointInfo."""

from __future__ import annotations

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
