"""What a deployment PUT must hold, and how a deployment reads back.

REST shape: ``ManagedOnlineDeployment`` in azure-rest-api-specs ``mfe.json``
(``OnlineDeploymentProperties``: ``model``, ``modelMountPath``, ``codeConfiguration``,
``environmentId``, ``environmentVariables``, ``properties``, ``instanceType``,
``scaleSettings``, ``requestSettings``, ``livenessProbe``, ``readinessProbe``, ``startupProbe``,
``appInsightsEnabled``, ``egressPublicNetworkAccess``, ``dataCollector``; ``sku.capacity`` is
the instance count). ``DataCollector``: ``collections`` {name: ``Collection``
{``dataCollectionMode`` Enabled|Disabled, ``dataId`` (the data version's ARM id),
``samplingRate``, ``clientId``}}, ``requestLogging`` {``captureHeaders``}, ``rollingRate``
Year|Month|Day|Hour|Minute. The enums are case-insensitive on input (azure-ai-ml sends
``enabled``) and read back in their canonical spelling, which is what azure-ai-ml's
``DeploymentCollection._from_rest_object`` compares with (``== "Enabled"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from emulator.arm_assets import AssetStore
from emulator.arm_model import PROVIDER, Deployment, iso_duration_ms, system_data
from emulator.context import Identity
from emulator.errors import bad_request
from emulator.runtime import WorkerSpec

_MODES = {"enabled": "Enabled", "disabled": "Disabled"}
_ROLLING = {r.lower(): r for r in ("Year", "Month", "Day", "Hour", "Minute")}


def _canonical(value: Any, allowed: Mapping[str, str], what: str) -> str:
    key = str(value).lower()
    if key not in allowed:
        raise bad_request(f"{what} must be one of {', '.join(allowed.values())}, got {value!r}")
    return allowed[key]


def data_collector(value: Any, assets: AssetStore) -> dict[str, Any]:
    """A dataCollector as Azure stores it; each collection's dataId must name a data version
    of this workspace (the SDK registers it before it sends the deployment)."""
    if not isinstance(value, dict):
        raise bad_request("dataCollector must be an object")
    collections = value.get("collections")
    if not isinstance(collections, dict) or not collections:
        raise bad_request("dataCollector.collections must name at least one collection")
    out: dict[str, Any] = {}
    for name, coll in collections.items():
        if not isinstance(coll, dict):
            raise bad_request(f"dataCollector.collections[{name!r}] must be an object")
        item = dict(coll)
        item["dataCollectionMode"] = _canonical(
            coll.get("dataCollectionMode") or "Disabled",
            _MODES,
            f"dataCollector.collections[{name!r}].dataCollectionMode",
        )
        rate = coll.get("samplingRate")
        if rate is not None and (
            isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1
        ):
            raise bad_request(f"dataCollector.collections[{name!r}].samplingRate must be 0..1")
        data_id = coll.get("dataId")
        if data_id is not None:
            if not isinstance(data_id, str):
                raise bad_request(
                    f"dataCollector.collections[{name!r}].dataId must be the ARM id of a data "
                    f"version, got {type(data_id).__name__}"
                )
            assets.resolve("data", data_id)
        out[str(name)] = item
    result: dict[str, Any] = {"collections": out}
    if value.get("rollingRate") is not None:
        result["rollingRate"] = _canonical(
            value["rollingRate"], _ROLLING, "dataCollector.rollingRate"
        )
    logging_cfg = value.get("requestLogging")
    if logging_cfg is not None:
        headers = logging_cfg.get("captureHeaders") if isinstance(logging_cfg, dict) else None
        if headers is not None and not (
            isinstance(headers, list) and all(isinstance(h, str) for h in headers)
        ):
            raise bad_request("dataCollector.requestLogging.captureHeaders must be strings")
        result["requestLogging"] = dict(logging_cfg) if isinstance(logging_cfg, dict) else {}
    return result


def validate(props: dict[str, Any], body: Mapping[str, Any], assets: AssetStore) -> dict[str, Any]:
    """The properties to store for a deployment PUT (raises a 400 ArmError when invalid)."""
    compute = str(props.get("endpointComputeType") or "Managed")
    if compute != "Managed":
        raise bad_request(f"endpointComputeType {compute!r} is not supported; use Managed")
    scale = props.get("scaleSettings") or {"scaleType": "Default"}
    if scale.get("scaleType") != "Default":
        raise bad_request("managed deployments take scaleSettings.scaleType Default only")
    rs = props.get("requestSettings") or {}
    if rs:
        iso_duration_ms(rs.get("requestTimeout"), 5000)
        mc = rs.get("maxConcurrentRequestsPerInstance")
        if mc is not None and (not isinstance(mc, int) or mc < 1):
            raise bad_request("maxConcurrentRequestsPerInstance must be a positive integer")
    mount = props.get("modelMountPath")
    if mount is not None and (not isinstance(mount, str) or not mount.startswith("/")):
        raise bad_request(f"modelMountPath must be an absolute path, got {mount!r}")
    extra = props.get("properties")
    if extra is not None and not (
        isinstance(extra, dict) and all(isinstance(v, str) for v in extra.values())
    ):
        raise bad_request("properties must be an object of strings")
    stored = {k: v for k, v in props.items() if k != "provisioningState"}
    stored["scaleSettings"] = scale
    if props.get("dataCollector") is not None:
        stored["dataCollector"] = data_collector(props["dataCollector"], assets)
    return stored


def sku_of(body: Mapping[str, Any]) -> dict[str, Any]:
    sku = dict(body.get("sku") or {"name": "Default", "capacity": 1})
    cap = sku.get("capacity", 1)
    if not isinstance(cap, int) or not 1 <= cap <= 20:
        raise bad_request("sku.capacity (instance count) must be an integer from 1 to 20")
    return sku


def worker_spec(props: Mapping[str, Any], assets: AssetStore) -> tuple[WorkerSpec, Path]:
    """How to run the deployment's scoring script, and where its model's files are."""
    code_cfg = props.get("codeConfiguration")
    if not isinstance(code_cfg, dict) or not code_cfg.get("codeId"):
        raise bad_request(
            "codeConfiguration with codeId and scoringScript is required: the emulator "
            "runs the deployment's scoring script",
            "CodeConfigurationRequired",
        )
    script = str(code_cfg.get("scoringScript") or "")
    if not script:
        raise bad_request("codeConfiguration.scoringScript is required")
    code = assets.resolve("codes", str(code_cfg["codeId"]))
    code_dir = assets.local_path(str(code.body["properties"]["codeUri"]))
    if not (code_dir / script).is_file():
        raise bad_request(
            f"scoring script {script!r} not found in code {code.name}:{code.version}",
            "ScoringScriptNotFound",
        )
    model_ref = props.get("model")
    if not model_ref:
        raise bad_request("properties.model is required")
    model = assets.resolve("models", str(model_ref))
    model_path = assets.local_path(str(model.body["properties"]["modelUri"]))
    if not model_path.exists():
        raise bad_request(
            f"the files of model {model.name}:{model.version} are missing",
            "ModelFilesNotFound",
        )
    rs = props.get("requestSettings") or {}
    max_conc = int(rs.get("maxConcurrentRequestsPerInstance") or 1)
    env_vars = {str(k): str(v) for k, v in (props.get("environmentVariables") or {}).items()}
    spec = WorkerSpec(
        code_dir=code_dir.resolve(),
        scoring_script=script,
        model_dir=Path(),
        environment_variables=env_vars,
        threads=max(1, max_conc),
    )
    return spec, model_path


def check_traffic(
    endpoint: str, names: set[str], traffic: dict[str, int], mirror: dict[str, int]
) -> None:
    """Azure's traffic rules over the endpoint's deployment ``names``; raises a 400 ArmError
    when one is broken."""
    for what, rules in (("traffic", traffic), ("mirrorTraffic", mirror)):
        unknown = sorted(d for d, v in rules.items() if d not in names and v > 0)
        unknown += sorted(d for d, v in rules.items() if d not in names and v == 0)
        if unknown:
            raise bad_request(
                f"{what} names deployment(s) {', '.join(unknown)} that do not exist in "
                f"endpoint {endpoint}",
                "InvalidTrafficDeployment",
            )
    total = sum(traffic.values())
    if total not in (0, 100):
        raise bad_request(f"traffic must sum to 0 or 100, got {total}", "InvalidTrafficAllocation")
    live_mirror = {d: v for d, v in mirror.items() if v > 0}
    if len(live_mirror) > 1:
        raise bad_request("mirrorTraffic can name at most one deployment", "InvalidMirrorTraffic")
    for d, v in live_mirror.items():
        if v > 50:
            raise bad_request(
                f"mirrorTraffic for {d} is {v}%; at most 50% can be mirrored",
                "InvalidMirrorTraffic",
            )
        if traffic.get(d, 0) > 0:
            raise bad_request(
                f"deployment {d} cannot receive both live and mirrored traffic",
                "InvalidMirrorTraffic",
            )


def deployment_body(dep: Deployment, identity: Identity) -> dict[str, Any]:
    props = dict(dep.properties)
    props["provisioningState"] = dep.state
    props.setdefault("endpointComputeType", "Managed")
    props.setdefault("scaleSettings", {"scaleType": "Default"})
    props.setdefault("appInsightsEnabled", False)
    props.setdefault("egressPublicNetworkAccess", "Enabled")
    return {
        "id": identity.deployment_id(dep.endpoint, dep.name),
        "name": dep.name,
        "type": f"{PROVIDER}/workspaces/onlineEndpoints/deployments",
        "location": dep.location,
        "tags": dep.tags,
        "kind": dep.kind,
        "sku": dep.sku,
        "properties": props,
        "systemData": system_data(dep.created, dep.modified),
    }
