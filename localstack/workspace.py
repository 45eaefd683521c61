"""The emulated workspace the demo plays in: code, model versions, an endpoint, subscriptions.

Model versions are folders with the sample scoring script's ``model.json`` (the sample
model's weights with behaviour switches: ``error_rate``, ``latency_ms``; see
``emulator/samples/code/score.py``), so a "bad" version is registered like any other.
The endpoint and its first deployment are created with azure-ai-ml's MLClient against the
emulator, as an operator would in Azure; registrations go through the emulator's admin API,
which emits ModelRegistered to the Event Grid subscriptions, as Azure ML does.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import urllib.error
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator.samples import CODE_DIR, MODELS_DIR
from emulator.testing import set_traffic
from localstack.appclient import AppClient
from localstack.stack import Stack

CODE_NAME, CODE_VERSION = "score", "1"
# What the sample deployment runs on (the emulator runs score.py in a local worker process).
ENVIRONMENT = "azureml://registries/azureml/environments/sklearn-1.5/versions/1"
INSTANCE_TYPE = "Standard_DS3_v2"
# The router answers 429 past 2 x this x instances in flight; the slow scenario needs room.
MAX_CONCURRENT_REQUESTS = 16
MODEL_REGISTERED = "Microsoft.MachineLearningServices.ModelRegistered"
METRIC_NAMESPACE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"


@dataclass(frozen=True)
class ModelVersion:
    """One version of the demo model and its behaviour (model.json switches)."""

    name: str
    version: str
    error_rate: float = 0.0
    latency_ms: float = 0.0
    tags: Mapping[str, str] | None = None
    flip: bool = False  # the opposite answers (score.py's ``flip``), errors and latency alike

    @property
    def asset_id(self) -> str:
        return f"azureml:{self.name}:{self.version}"


def sample_weights() -> dict[str, Any]:
    """The sample model's parameters (weights, bias, threshold), without behaviour switches."""
    model = json.loads((MODELS_DIR / "fraud-v1" / "model.json").read_text(encoding="utf-8"))
    return {k: model[k] for k in ("weights", "bias", "threshold") if k in model}


def write_model(folder: Path, version: ModelVersion) -> Path:
    """A model folder for ``version``: the sample's weights plus its behaviour switches."""
    if not 0.0 <= version.error_rate <= 1.0:
        raise ValueError(f"error_rate must be within [0, 1], got {version.error_rate}")
    if version.latency_ms < 0:
        raise ValueError(f"latency_ms must not be negative, got {version.latency_ms}")
    target = folder / f"{version.name}-{version.version}"
    target.mkdir(parents=True, exist_ok=True)
    model = {
        **sample_weights(),
        "error_rate": version.error_rate,
        "latency_ms": version.latency_ms,
        **({"flip": True} if version.flip else {}),
    }
    (target / "model.json").write_text(json.dumps(model), encoding="utf-8")
    return target


def register_code(stack: Stack) -> str:
    """Register the sample scoring code once; returns its ``azureml:`` reference."""
    try:
        stack.emulator_admin(
            "POST", "codes", {"name": CODE_NAME, "version": CODE_VERSION, "path": str(CODE_DIR)}
        )
    except urllib.error.HTTPError as exc:
        if exc.code != 409:  # already registered
            raise
    return f"azureml:{CODE_NAME}:{CODE_VERSION}"


def register_model(stack: Stack, version: ModelVersion) -> str:
    """Register a model version (the emulator emits ModelRegistered); returns its asset id."""
    folder = write_model(stack.state_dir / "models", version)
    stack.emulator_admin(
        "POST",
        "models",
        {
            "name": version.name,
            "version": version.version,
            "path": str(folder),
            "tags": dict(version.tags or {}),
        },
    )
    return version.asset_id


def create_endpoint(
    stack: Stack, endpoint: str, deployment: str, model: str, code: str
) -> dict[str, str]:
    """Create ``endpoint`` with one deployment of ``model`` taking 100 % of its traffic, with
    MLClient; returns the scoring URI and key."""
    from azure.ai.ml.entities import (
        CodeConfiguration,
        ManagedOnlineDeployment,
        ManagedOnlineEndpoint,
        OnlineRequestSettings,
    )

    from emulator.client import ml_client

    ml = ml_client(stack.emulator)
    ml.online_endpoints.begin_create_or_update(
        ManagedOnlineEndpoint(name=endpoint, auth_mode="key")
    ).result()
    spec = ManagedOnlineDeployment(
        name=deployment,
        endpoint_name=endpoint,
        model=model,
        environment=ENVIRONMENT,
        code_configuration=CodeConfiguration(code=code, scoring_script="score.py"),
        instance_type=INSTANCE_TYPE,
        instance_count=1,
        request_settings=OnlineRequestSettings(
            max_concurrent_requests_per_instance=MAX_CONCURRENT_REQUESTS,
            request_timeout_ms=5000,
        ),
    )
    # azure-ai-ml logs "Check: endpoint ... exists" to its own stderr handler, and prints
    # progress dots, while it deploys.
    chatty = logging.getLogger("azure.ai.ml.operations._online_deployment_operations")
    chatty.disabled = True
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            ml.online_deployments.begin_create_or_update(spec).result()
    finally:
        chatty.disabled = False
    # ... and read until the endpoint shows it (reads trail a traffic update, as Azure's can)
    set_traffic(ml, endpoint, {deployment: 100})
    return {
        "scoring_uri": stack.emulator.scoring_uri(endpoint),
        "key": str(ml.online_endpoints.get_keys(endpoint).primary_key),
    }


def subscribe_app(stack: Stack, name: str = "autocanary") -> dict[str, Any]:
    """An Event Grid subscription on the workspace delivering ModelRegistered to the app's
    ``on_model_registered`` (the URL carries the function key, as the host's system key)."""
    spec = {
        "name": name,
        "endpointUrl": stack.app.event_grid_url("on_model_registered"),
        "filter": {"includedEventTypes": [MODEL_REGISTERED]},
        "retryPolicy": {"maxDeliveryAttempts": 5, "eventTimeToLiveInMinutes": 10},
    }
    result: dict[str, Any] = stack.emulator_admin("POST", "eventgrid/subscriptions", spec)
    return result


def latency_alert_rule(
    app: AppClient,
    endpoint: str,
    *,
    name: str = "canary-latency",
    metric: str = "RequestLatency_P90",
    threshold_ms: float = 200.0,
) -> dict[str, Any]:
    """A metric alert rule: any deployment of ``endpoint`` whose ``metric`` exceeds
    ``threshold_ms`` notifies the app's ``/api/alerts`` in the common alert schema.

    Evaluated every metric minute over a two-minute window: the emulator aggregates the whole
    metric minutes inside the window, so two minutes always hold the last closed one."""
    return {
        "name": name,
        "description": f"{metric} of a deployment above {threshold_ms:g} ms",
        "severity": 2,
        "endpoint": endpoint,
        "metricNamespace": METRIC_NAMESPACE,
        "metricName": metric,
        "dimensions": [{"name": "deployment", "operator": "Include", "values": ["*"]}],
        "operator": "GreaterThan",
        "threshold": threshold_ms,
        "timeAggregation": "Average",
        "windowSize": "PT2M",
        "evaluationFrequency": "PT1M",
        "autoMitigate": True,
        "webhookUrls": [app.alerts_url],
    }


def add_alert_rule(stack: Stack, rule: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = stack.emulator_admin("POST", "alert-rules", dict(rule))
    return result


def endpoint_state(stack: Stack, endpoint: str) -> dict[str, Any] | None:
    """The emulator's own view of an endpoint: traffic, mirror, deployments (admin API)."""
    state = stack.emulator_admin("GET", "state")
    for ep in state.get("endpoints", []):
        if ep.get("name") == endpoint.lower():
            found: dict[str, Any] = ep
            return found
    return None
