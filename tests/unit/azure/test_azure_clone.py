"""The clone of a deployment (shared/azure/clone.py) as MLEndpointControl.create_deployment
sends it: what azure-ai-ml reads back differently from what it must be given (against the
stand-in MLClient of test_azure_endpoints)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from test_azure_endpoints import V2, WS, FakeML, control, endpoint, source_deployment

from shared.effects import CreateDeployment
from shared.errors import AzureRuleViolation


def _collected_source(data_ids: dict[str, str]) -> Any:
    """A source deployment as azure-ai-ml reads it back: each collection's data is a string."""
    from azure.ai.ml.entities import DataCollector, DeploymentCollection, RequestLogging

    collector = DataCollector(
        collections={
            name: DeploymentCollection(enabled="true", data=data_id)
            for name, data_id in data_ids.items()
        },
        rolling_rate="Hour",
        sampling_rate=0.25,
        request_logging=RequestLogging(capture_headers=["x-request-id"]),
    )
    return source_deployment(data_collector=collector)


def test_clone_turns_read_back_data_ids_into_what_the_sdk_registers() -> None:
    """Defect: a data_collector read back holds ARM id strings, and the SDK's
    _register_collection_data_assets reads .data.name (AttributeError on every tick)."""
    src = _collected_source(
        {
            "model_inputs": f"{WS}/data/ep-blue-model_inputs/versions/1",
            "model_outputs": f"{WS}/data/shared-outputs/versions/4",
        }
    )
    ml = FakeML(endpoint=endpoint({"blue": 100}), deployments={"blue": src})
    ml.data_paths[("shared-outputs", "4")] = "azureml://datastores/workspaceblobstore/paths/o"
    control(ml).create_deployment("ep", CreateDeployment("fraud-v2", "blue", V2))
    [(dep, _)] = [c[1] for c in ml.calls if c[0] == "put_deployment"]
    colls = dep.data_collector.collections
    assert not any(isinstance(c.data, str) for c in colls.values())
    assert colls["model_inputs"].data is None  # the SDK registers ep-fraud-v2-model_inputs
    out = colls["model_outputs"].data
    assert (out.name, out.version, out.path) == (
        "shared-outputs",
        "4",
        "azureml://datastores/workspaceblobstore/paths/o",
    )
    assert all(c.enabled == "true" for c in colls.values())
    assert dep.data_collector.sampling_rate == 0.25
    assert dep.data_collector.rolling_rate == "Hour"
    assert dep.data_collector.request_logging.capture_headers == ["x-request-id"]
    assert dep.data_collector is not src.data_collector  # the SDK mutates what it sends


def test_clone_refuses_a_collection_naming_no_data_asset() -> None:
    src = _collected_source({"model_inputs": "https://example.invalid/somewhere"})
    ml = FakeML(endpoint=endpoint({"blue": 100}), deployments={"blue": src})
    with pytest.raises(AzureRuleViolation):
        control(ml).create_deployment("ep", CreateDeployment("fraud-v2", "blue", V2))
    assert "put_deployment" not in ml.kinds()


def test_clone_carries_model_mount_path_and_properties_the_sdk_does_not_read_back() -> None:
    src = source_deployment(properties={"owner": "risk"}, model_mount_path="/var/models")
    ml = FakeML(endpoint=endpoint({"blue": 100}), deployments={"blue": src})
    ml.rest["blue"] = copy.deepcopy(src)._to_rest_object(location="westeurope")
    src.model_mount_path = None  # what ManagedOnlineDeployment._from_rest_object gives
    control(ml).create_deployment("ep", CreateDeployment("fraud-v2", "blue", V2))
    [(dep, _)] = [c[1] for c in ml.calls if c[0] == "put_deployment"]
    assert dep.model_mount_path == "/var/models"
    assert dep.properties == {"owner": "risk"}


def test_clone_leaves_out_the_status_url_of_the_sources_last_operation() -> None:
    """Azure ML writes it into the deployment's properties; the clone's own create has its
    own, and a copy would name the source's operation (shared/azure/operation_status.py)."""
    uri = "https://management.azure.com/subscriptions/s/providers/x/mfeOperationsStatus/o"
    src = source_deployment(properties={"owner": "risk", "AzureAsyncOperationUri": uri})
    ml = FakeML(endpoint=endpoint({"blue": 100}), deployments={"blue": src})
    control(ml).create_deployment("ep", CreateDeployment("fraud-v2", "blue", V2))
    [(dep, _)] = [c[1] for c in ml.calls if c[0] == "put_deployment"]
    assert dep.properties == {"owner": "risk"}


def test_clone_keeps_request_durations_to_the_millisecond() -> None:
    """The SDK reads PT0.7S back as 0 s (and then sends nothing); the REST value is used."""
    from azure.ai.ml.entities import OnlineRequestSettings

    settings_in = OnlineRequestSettings(
        request_timeout_ms=1500, max_queue_wait_ms=700, max_concurrent_requests_per_instance=3
    )
    src = source_deployment(request_settings=settings_in)
    ml = FakeML(endpoint=endpoint({"blue": 100}), deployments={"blue": src})
    ml.rest["blue"] = copy.deepcopy(src)._to_rest_object(location="westeurope")
    # As ManagedOnlineDeployment._from_rest_object reads it back: whole seconds.
    src.request_settings = OnlineRequestSettings._from_rest_object(
        ml.rest["blue"].properties.request_settings
    )
    assert src.request_settings.max_queue_wait_ms == 0
    control(ml).create_deployment("ep", CreateDeployment("fraud-v2", "blue", V2))
    [(dep, _)] = [c[1] for c in ml.calls if c[0] == "put_deployment"]
    rs = dep.request_settings
    assert (rs.request_timeout_ms, rs.max_queue_wait_ms) == (1500, 700)
    assert rs.max_concurrent_requests_per_instance == 3
