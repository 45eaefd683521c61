"""Azure Resource Manager surface of the emulated workspace: the calls azure-ai-ml's MLClient makes.

Paths and property names follow the ``Microsoft.MachineLearningServices`` REST API
(azure-rest-api-specs: ``specification/machinelearningservices/resource-manager``, and the
generated client in azure-sdk-for-python ``sdk/ml/azure-ai-ml/azure/ai/ml/_restclient/
arm_ml_service/operations/_operations.py``). Every ``api-version`` is accepted.

Long-running operations follow the ARM async pattern: PUT answers 201 with
``Azure-AsyncOperation`` (and ``Retry-After``), DELETE and POST actions answer 202 with
``Location`` and ``Azure-AsyncOperation``; the operation status resource reports
``InProgress``/``Succeeded``/``Failed`` (and an ``error`` when failed).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import math
import re
import secrets
import shutil
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from aiohttp import web

from emulator.context import Context
from emulator.errors import ArmError, bad_request, conflict, not_found
from emulator.runtime import DeploymentRuntime, InitFailed, WorkerSpec

PROVIDER = "Microsoft.MachineLearningServices"
WS_PREFIX = (
    "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices"
    "/workspaces/{ws}"
)
# Deployment and endpoint names: 3-32 characters, a letter first, letters/digits/hyphens, an
# alphanumeric last (Azure ML naming rules for online endpoints and deployments).
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,30}[A-Za-z0-9]$")
ASSET_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$")
VERSION_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _system_data(created: str, modified: str) -> dict[str, str]:
    return {
        "createdAt": created,
        "createdBy": "emulator",
        "createdByType": "User",
        "lastModifiedAt": modified,
        "lastModifiedBy": "emulator",
        "lastModifiedByType": "User",
    }


@dataclass
class Operation:
    id: str
    status: str = "InProgress"
    start: str = field(default_factory=now_iso)
    end: str | None = None
    error: dict[str, Any] | None = None

    def body(self, location: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": f"/providers/{PROVIDER}/locations/{location}/mfeOperationsStatus/{self.id}",
            "name": self.id,
            "status": self.status,
            "startTime": self.start,
        }
        if self.end:
            body["endTime"] = self.end
        if self.error:
            body["error"] = self.error
        return body

    def finish(self, error: dict[str, Any] | None = None) -> None:
        self.status = "Failed" if error else "Succeeded"
        self.error = error
        self.end = now_iso()


@dataclass
class Asset:
    """A registered asset version (model, environment or code)."""

    name: str
    version: str
    body: dict[str, Any]
    created: str = field(default_factory=now_iso)


@dataclass
class Endpoint:
    name: str
    location: str
    tags: dict[str, str]
    identity: dict[str, Any] | None
    properties: dict[str, Any]
    keys: dict[str, str]
    state: str = "Creating"
    created: str = field(default_factory=now_iso)
    modified: str = field(default_factory=now_iso)
    busy: bool = False

    @property
    def traffic(self) -> dict[str, int]:
        return dict(self.properties.get("traffic") or {})

    @property
    def mirror_traffic(self) -> dict[str, int]:
        return dict(self.properties.get("mirrorTraffic") or {})


@dataclass
class Deployment:
    endpoint: str
    name: str
    location: str
    tags: dict[str, str]
    kind: str
    sku: dict[str, Any]
    properties: dict[str, Any]
    state: str = "Creating"
    created: str = field(default_factory=now_iso)
    modified: str = field(default_factory=now_iso)
    runtime: DeploymentRuntime | None = None
    busy: bool = False
    failure: str = ""

    @property
    def instance_count(self) -> int:
        try:
            return max(1, int(self.sku.get("capacity") or 1))
        except (TypeError, ValueError):
            return 1

    @property
    def request_settings(self) -> dict[str, Any]:
        return dict(self.properties.get("requestSettings") or {})


def iso_duration_ms(value: Any, default: float) -> float:
    """Milliseconds of an ISO 8601 duration such as ``PT5S`` (``default`` when unset)."""
    if value in (None, ""):
        return default
    if isinstance(value, int | float):
        return float(value)
    m = re.fullmatch(
        r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?", str(value).strip()
    )
    if not m:
        raise bad_request(f"invalid ISO 8601 duration {value!r}")
    d, h, mi, s = m.groups()
    seconds = int(d or 0) * 86400 + int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0)
    return seconds * 1000.0


def _int_map(value: Any, what: str) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_request(f"{what} must be an object of deployment name to percent")
    out: dict[str, int] = {}
    for k, v in value.items():
        if isinstance(v, bool) or not isinstance(v, int | float) or int(v) != v:
            raise bad_request(f"{what}[{k!r}] must be an integer percent, got {v!r}")
        if not 0 <= int(v) <= 100:
            raise bad_request(f"{what}[{k!r}] must be between 0 and 100, got {v}")
        out[str(k).lower()] = int(v)
    return out


class ArmState:
    """Resources of the emulated workspace and their provisioning."""

    def __init__(
        self,
        ctx: Context,
        provisioning_delay: float = 0.5,
        retry_after: float = 0.25,
        on_model_registered: Callable[[Asset], None] | None = None,
    ) -> None:
        self.ctx = ctx
        self.provisioning_delay = provisioning_delay
        self.retry_after = retry_after
        self.models: dict[str, dict[str, Asset]] = {}
        self.environments: dict[str, dict[str, Asset]] = {}
        self.codes: dict[str, dict[str, Asset]] = {}
        self.endpoints: dict[str, Endpoint] = {}
        self.deployments: dict[tuple[str, str], Deployment] = {}
        self.operations: dict[str, Operation] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.provisioning_faults: dict[tuple[str, str], str] = {}
        self.scoring_base = ""
        self.arm_base = ""
        self._on_model_registered = on_model_registered

    # -- EndpointDirectory (for the add-ons) --------------------------------------------------

    def endpoint_names(self) -> list[str]:
        return sorted(self.endpoints)

    def deployment_names(self, endpoint: str) -> list[str]:
        return sorted(d for (e, d) in self.deployments if e == endpoint.lower())

    # -- helpers ------------------------------------------------------------------------------

    @property
    def identity(self) -> Any:
        return self.ctx.identity

    def spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def new_operation(self) -> Operation:
        op = Operation(id=uuid.uuid4().hex)
        self.operations[op.id] = op
        return op

    def lro_headers(self, request: web.Request, op: Operation, location: bool) -> dict[str, str]:
        api = request.query.get("api-version", "2025-12-01")
        base = (
            f"{self.arm_base}subscriptions/{self.identity.subscription}/providers/{PROVIDER}"
            f"/locations/{self.identity.location}"
        )
        headers = {
            "Azure-AsyncOperation": f"{base}/mfeOperationsStatus/{op.id}?api-version={api}",
            # The generated client reads Retry-After of the initial response as an integer;
            # the status resource below carries the (possibly fractional) polling interval.
            "Retry-After": str(max(1, math.ceil(self.retry_after))),
            "x-ms-async-operation-timeout": "PT1H",
        }
        if location:
            headers["Location"] = f"{base}/mfeOperationResults/{op.id}?api-version={api}"
        return headers

    # -- workspace ----------------------------------------------------------------------------

    def workspace_body(self) -> dict[str, Any]:
        ident = self.identity
        return {
            "id": ident.workspace_id,
            "name": ident.workspace,
            "type": f"{PROVIDER}/workspaces",
            "location": ident.location,
            "kind": "Default",
            "tags": {},
            "identity": {"type": "SystemAssigned", "principalId": str(uuid.UUID(int=1))},
            "sku": {"name": "Basic", "tier": "Basic"},
            "properties": {
                "friendlyName": ident.workspace,
                "workspaceId": str(uuid.uuid5(uuid.NAMESPACE_URL, ident.workspace_id)),
                "provisioningState": "Succeeded",
                "publicNetworkAccess": "Enabled",
                "v1LegacyMode": False,
                "discoveryUrl": f"{self.arm_base}discovery",
                "mlFlowTrackingUri": "",
                "storageAccount": (
                    f"/subscriptions/{ident.subscription}/resourceGroups/{ident.resource_group}"
                    "/providers/Microsoft.Storage/storageAccounts/emulatorstorage"
                ),
            },
            "systemData": _system_data(now_iso(), now_iso()),
        }

    # -- assets -------------------------------------------------------------------------------

    def _asset_store(self, kind: str) -> dict[str, dict[str, Asset]]:
        return {"models": self.models, "environments": self.environments, "codes": self.codes}[kind]

    def asset_body(self, kind: str, asset: Asset) -> dict[str, Any]:
        rid = f"{self.identity.workspace_id}/{kind}/{asset.name}/versions/{asset.version}"
        props = dict(asset.body.get("properties") or {})
        props.setdefault("isArchived", False)
        props.setdefault("isAnonymous", False)
        props.setdefault("tags", {})
        props.setdefault("properties", {})
        if kind == "models":
            props.setdefault("flavors", {})
            props.setdefault("modelType", "custom_model")
        props["provisioningState"] = "Succeeded"
        return {
            "id": rid,
            "name": asset.version,
            "type": f"{PROVIDER}/workspaces/{kind}/versions",
            "properties": props,
            "systemData": _system_data(asset.created, asset.created),
        }

    def container_body(self, kind: str, name: str) -> dict[str, Any]:
        versions = self._asset_store(kind).get(name, {})
        latest = _latest_version(list(versions))
        return {
            "id": f"{self.identity.workspace_id}/{kind}/{name}",
            "name": name,
            "type": f"{PROVIDER}/workspaces/{kind}",
            "properties": {
                "isArchived": False,
                "latestVersion": latest,
                "nextVersion": _next_version(list(versions)),
                "tags": {},
                "properties": {},
                "provisioningState": "Succeeded",
            },
            "systemData": _system_data(now_iso(), now_iso()),
        }

    def get_asset(self, kind: str, name: str, version: str) -> Asset:
        asset = self._asset_store(kind).get(name, {}).get(version)
        if asset is None:
            singular = {"models": "Model", "environments": "Environment", "codes": "Code"}[kind]
            raise not_found(f"{singular} version", f"{name}:{version}")
        return asset

    def put_asset(self, kind: str, name: str, version: str, body: Any) -> tuple[Asset, bool]:
        if not ASSET_NAME_RE.match(name):
            raise bad_request(f"invalid asset name {name!r}")
        if not VERSION_RE.match(version):
            raise bad_request(f"invalid asset version {version!r}")
        if not isinstance(body, dict) or not isinstance(body.get("properties", {}), dict):
            raise bad_request("the request body must be an object with 'properties'")
        props = body.get("properties") or {}
        if kind == "models" and not props.get("modelUri"):
            raise bad_request("properties.modelUri is required")
        if kind == "codes" and not props.get("codeUri"):
            raise bad_request("properties.codeUri is required")
        store = self._asset_store(kind).setdefault(name, {})
        existing = store.get(version)
        if existing is not None and kind in ("models", "codes"):
            old = existing.body.get("properties", {})
            key = "modelUri" if kind == "models" else "codeUri"
            if old.get(key) != props.get(key):
                raise conflict(
                    f"{kind[:-1]} {name}:{version} already exists with different content; "
                    "asset versions are immutable"
                )
        asset = Asset(name=name, version=version, body={"properties": dict(props)})
        if existing is not None:
            asset.created = existing.created
        store[version] = asset
        if kind == "models" and existing is None and self._on_model_registered is not None:
            self._on_model_registered(asset)
        return asset, existing is None

    def resolve_asset_id(self, kind: str, ref: str) -> Asset:
        """An asset from an ARM id (``.../models/NAME/versions/V``) or ``azureml:NAME:V``."""
        m = re.search(rf"/{kind}/([^/]+)/versions/([^/]+)$", ref, re.IGNORECASE)
        if m:
            return self.get_asset(kind, m.group(1), m.group(2))
        if ref.startswith("azureml:"):
            parts = ref[len("azureml:") :].split(":")
            if len(parts) == 2:
                return self.get_asset(kind, parts[0], parts[1])
        raise bad_request(f"cannot resolve {kind[:-1]} reference {ref!r}")

    def local_path(self, uri: str) -> Path:
        """Where the files of a model or code URI live on this machine."""
        m = re.match(r"^azureml://(?:.*/)?datastores/([^/]+)/paths/(.*)$", uri)
        if m:
            return self.ctx.state_dir / "datastores" / m.group(1) / unquote(m.group(2))
        parsed = urlparse(uri)
        if parsed.scheme == "file":
            return Path(unquote(parsed.path))
        if parsed.scheme == "" and Path(uri).is_absolute():
            return Path(uri)
        raise bad_request(
            f"the emulator cannot read files at {uri!r}: use an azureml:// datastore path "
            "inside the emulator's datastore, a file:// URI or register the folder with "
            "'python -m emulator register-model'"
        )

    # -- endpoints ----------------------------------------------------------------------------

    def scoring_uri(self, name: str) -> str:
        return f"{self.scoring_base}{name}/score"

    def endpoint_body(self, ep: Endpoint) -> dict[str, Any]:
        props = dict(ep.properties)
        props["traffic"] = {k: v for k, v in ep.traffic.items()}
        props["mirrorTraffic"] = {k: v for k, v in ep.mirror_traffic.items()}
        props["provisioningState"] = ep.state
        props["scoringUri"] = self.scoring_uri(ep.name)
        props["swaggerUri"] = f"{self.scoring_base}{ep.name}/swagger.json"
        props.setdefault("authMode", "Key")
        props.setdefault("publicNetworkAccess", "Enabled")
        props.pop("keys", None)
        body: dict[str, Any] = {
            "id": self.identity.endpoint_id(ep.name),
            "name": ep.name,
            "type": f"{PROVIDER}/workspaces/onlineEndpoints",
            "location": ep.location,
            "tags": ep.tags,
            "kind": "Managed",
            "properties": props,
            "systemData": _system_data(ep.created, ep.modified),
        }
        if ep.identity is not None:
            body["identity"] = ep.identity
        return body

    def get_endpoint(self, name: str) -> Endpoint:
        ep = self.endpoints.get(name.lower())
        if ep is None:
            raise not_found("Online endpoint", name)
        return ep

    def validate_traffic(
        self, endpoint: str, traffic: dict[str, int], mirror: dict[str, int]
    ) -> None:
        """Azure's traffic rules; raises a 400 ArmError when one is broken."""
        names = set(self.deployment_names(endpoint))
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
            raise bad_request(
                f"traffic must sum to 0 or 100, got {total}", "InvalidTrafficAllocation"
            )
        live_mirror = {d: v for d, v in mirror.items() if v > 0}
        if len(live_mirror) > 1:
            raise bad_request(
                "mirrorTraffic can name at most one deployment", "InvalidMirrorTraffic"
            )
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

    async def put_endpoint(self, request: web.Request, name: str) -> web.Response:
        body = await _json_body(request)
        if not NAME_RE.match(name):
            raise bad_request(
                f"invalid endpoint name {name!r}: 3-32 characters, a letter first, then "
                "letters, digits or hyphens, ending with a letter or digit",
                "InvalidEndpointName",
            )
        props = body.get("properties")
        if not isinstance(props, dict):
            raise bad_request("properties is required")
        auth = str(props.get("authMode") or "Key")
        if auth.lower() not in ("key", "amltoken", "aadtoken"):
            raise bad_request(f"unknown authMode {auth!r}")
        traffic = _int_map(props.get("traffic"), "traffic")
        mirror = _int_map(props.get("mirrorTraffic"), "mirrorTraffic")
        key = name.lower()
        ep = self.endpoints.get(key)
        if ep is not None and ep.busy:
            raise conflict(f"an operation is already in progress on endpoint {name}")
        if ep is not None and ep.state == "Deleting":
            raise conflict(f"endpoint {name} is being deleted")
        self.validate_traffic(key, traffic, mirror)
        new_props = {
            k: v
            for k, v in props.items()
            if k not in ("traffic", "mirrorTraffic", "provisioningState", "scoringUri", "keys")
        }
        new_props["authMode"] = auth
        op = self.new_operation()
        if ep is None:
            keys_in = props.get("keys") or {}
            ep = Endpoint(
                name=key,
                location=str(body.get("location") or self.identity.location),
                tags=dict(body.get("tags") or {}),
                identity=body.get("identity") or {"type": "SystemAssigned"},
                properties={**new_props, "traffic": {}, "mirrorTraffic": {}},
                keys={
                    "primaryKey": keys_in.get("primaryKey") or secrets.token_urlsafe(24),
                    "secondaryKey": keys_in.get("secondaryKey") or secrets.token_urlsafe(24),
                },
                state="Creating",
            )
            self.endpoints[key] = ep
        else:
            ep.tags = dict(body.get("tags") or ep.tags)
            if body.get("identity"):
                ep.identity = body["identity"]
            ep.properties = {
                **new_props,
                "traffic": ep.traffic,
                "mirrorTraffic": ep.mirror_traffic,
            }
            ep.state = "Updating"
        ep.busy = True
        ep.modified = now_iso()
        self.spawn(self._finish_endpoint(ep, op, traffic, mirror))
        # ARM async PUT: 201 with Azure-AsyncOperation for creates and updates alike.
        return _json(self.endpoint_body(ep), 201, self.lro_headers(request, op, False))

    async def _finish_endpoint(
        self, ep: Endpoint, op: Operation, traffic: dict[str, int], mirror: dict[str, int]
    ) -> None:
        try:
            await asyncio.sleep(self.provisioning_delay)
            # The deployments may have changed while the update was in flight.
            try:
                self.validate_traffic(ep.name, traffic, mirror)
            except ArmError as exc:
                ep.state = "Failed"
                op.finish({"code": exc.code, "message": exc.message})
                return
            ep.properties["traffic"] = {k: v for k, v in traffic.items() if v > 0}
            ep.properties["mirrorTraffic"] = {k: v for k, v in mirror.items() if v > 0}
            ep.state = "Succeeded"
            ep.modified = now_iso()
            op.finish()
        finally:
            ep.busy = False

    async def delete_endpoint(self, request: web.Request, name: str) -> web.Response:
        ep = self.endpoints.get(name.lower())
        if ep is None:
            return web.Response(status=204)
        if ep.busy:
            raise conflict(f"an operation is already in progress on endpoint {name}")
        op = self.new_operation()
        ep.state = "Deleting"
        ep.busy = True
        self.spawn(self._delete_endpoint(ep, op))
        return web.Response(status=202, headers=self.lro_headers(request, op, True))

    async def _delete_endpoint(self, ep: Endpoint, op: Operation) -> None:
        await asyncio.sleep(self.provisioning_delay)
        for key in [k for k in self.deployments if k[0] == ep.name]:
            dep = self.deployments.pop(key)
            if dep.runtime is not None:
                await dep.runtime.stop()
        self.endpoints.pop(ep.name, None)
        op.finish()

    # -- deployments --------------------------------------------------------------------------

    def deployment_body(self, dep: Deployment) -> dict[str, Any]:
        props = dict(dep.properties)
        props["provisioningState"] = dep.state
        props.setdefault("endpointComputeType", "Managed")
        props.setdefault("scaleSettings", {"scaleType": "Default"})
        props.setdefault("appInsightsEnabled", False)
        props.setdefault("egressPublicNetworkAccess", "Enabled")
        return {
            "id": self.identity.deployment_id(dep.endpoint, dep.name),
            "name": dep.name,
            "type": f"{PROVIDER}/workspaces/onlineEndpoints/deployments",
            "location": dep.location,
            "tags": dep.tags,
            "kind": dep.kind,
            "sku": dep.sku,
            "properties": props,
            "systemData": _system_data(dep.created, dep.modified),
        }

    def get_deployment(self, endpoint: str, name: str) -> Deployment:
        self.get_endpoint(endpoint)
        dep = self.deployments.get((endpoint.lower(), name.lower()))
        if dep is None:
            raise not_found("Online deployment", f"{endpoint}/{name}")
        return dep

    def _worker_spec(self, props: Mapping[str, Any]) -> tuple[WorkerSpec, Path]:
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
        code = self.resolve_asset_id("codes", str(code_cfg["codeId"]))
        code_dir = self.local_path(str(code.body["properties"]["codeUri"]))
        if not (code_dir / script).is_file():
            raise bad_request(
                f"scoring script {script!r} not found in code {code.name}:{code.version}",
                "ScoringScriptNotFound",
            )
        model_ref = props.get("model")
        if not model_ref:
            raise bad_request("properties.model is required")
        model = self.resolve_asset_id("models", str(model_ref))
        model_path = self.local_path(str(model.body["properties"]["modelUri"]))
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

    async def put_deployment(self, request: web.Request, endpoint: str, name: str) -> web.Response:
        body = await _json_body(request)
        ep = self.get_endpoint(endpoint)
        if ep.state == "Deleting":
            raise conflict(f"endpoint {endpoint} is being deleted")
        if not NAME_RE.match(name):
            raise bad_request(
                f"invalid deployment name {name!r}: 3-32 characters, a letter first, then "
                "letters, digits or hyphens, ending with a letter or digit",
                "InvalidDeploymentName",
            )
        props = body.get("properties")
        if not isinstance(props, dict):
            raise bad_request("properties is required")
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
        sku = dict(body.get("sku") or {"name": "Default", "capacity": 1})
        cap = sku.get("capacity", 1)
        if not isinstance(cap, int) or not 1 <= cap <= 20:
            raise bad_request("sku.capacity (instance count) must be an integer from 1 to 20")
        spec, model_path = self._worker_spec(props)
        key = (ep.name, name.lower())
        dep = self.deployments.get(key)
        if dep is not None and dep.busy:
            raise conflict(f"an operation is already in progress on deployment {name}")
        stored = {k: v for k, v in props.items() if k != "provisioningState"}
        stored["scaleSettings"] = scale
        if dep is None:
            dep = Deployment(
                endpoint=ep.name,
                name=name.lower(),
                location=str(body.get("location") or ep.location),
                tags=dict(body.get("tags") or {}),
                kind=str(body.get("kind") or "Managed"),
                sku=sku,
                properties=stored,
                state="Creating",
            )
            self.deployments[key] = dep
        else:
            dep.tags = dict(body.get("tags") or dep.tags)
            dep.sku = sku
            dep.properties = stored
            dep.state = "Updating"
        dep.busy = True
        dep.failure = ""
        dep.modified = now_iso()
        op = self.new_operation()
        self.spawn(self._provision(dep, op, spec, model_path))
        return _json(self.deployment_body(dep), 201, self.lro_headers(request, op, False))

    async def _provision(
        self, dep: Deployment, op: Operation, spec: WorkerSpec, model_path: Path
    ) -> None:
        try:
            await asyncio.sleep(self.provisioning_delay)
            fault = self.provisioning_faults.pop((dep.endpoint, dep.name), None)
            if fault is not None:
                dep.state = "Failed"
                dep.failure = fault
                op.finish({"code": "DeploymentFailed", "message": fault})
                return
            base = self.ctx.state_dir / "deployments" / dep.endpoint / dep.name
            gen = base / uuid.uuid4().hex[:8]
            model_root = gen / "azureml-models"
            await asyncio.to_thread(_copy_model, model_path, model_root)
            spec.model_dir = model_root
            runtime = DeploymentRuntime(
                dep.endpoint, dep.name, spec, dep.instance_count, log_dir=base
            )
            if dep.runtime is not None:
                # Keep the old log so that getLogs shows the history of the deployment.
                runtime.log.extend(dep.runtime.log)
            try:
                await runtime.start()
            except InitFailed as exc:
                dep.state = "Failed"
                dep.failure = str(exc)
                old = dep.runtime
                if old is None:
                    dep.runtime = runtime
                else:
                    old.log.extend(list(runtime.log)[len(old.log) :])
                op.finish(
                    {
                        "code": "ResourceNotReady",
                        "message": (
                            f"User container has crashed or terminated: {exc}. "
                            "Look at the deployment logs (getLogs) for the traceback."
                        ),
                    }
                )
                return
            if self.deployments.get((dep.endpoint, dep.name)) is not dep:
                # The endpoint was deleted while this deployment was provisioning.
                await runtime.stop()
                op.finish({"code": "ResourceNotFound", "message": "the endpoint was deleted"})
                return
            old = dep.runtime
            dep.runtime = runtime
            if old is not None:
                await old.stop()
            dep.state = "Succeeded"
            dep.modified = now_iso()
            op.finish()
        except Exception as exc:
            dep.state = "Failed"
            dep.failure = repr(exc)
            op.finish({"code": "InternalServerError", "message": repr(exc)})
        finally:
            dep.busy = False

    async def delete_deployment(
        self, request: web.Request, endpoint: str, name: str
    ) -> web.Response:
        ep = self.get_endpoint(endpoint)
        dep = self.deployments.get((ep.name, name.lower()))
        if dep is None:
            return web.Response(status=204)
        if ep.traffic.get(dep.name, 0) > 0 or ep.mirror_traffic.get(dep.name, 0) > 0:
            raise bad_request(
                f"deployment {dep.name} still receives traffic in endpoint {ep.name}; set its "
                "traffic (and mirror traffic) to 0 before deleting it",
                "DeploymentHasTraffic",
            )
        if dep.busy:
            raise conflict(f"an operation is already in progress on deployment {name}")
        op = self.new_operation()
        dep.state = "Deleting"
        dep.busy = True
        self.spawn(self._delete_deployment(dep, op))
        return web.Response(status=202, headers=self.lro_headers(request, op, True))

    async def _delete_deployment(self, dep: Deployment, op: Operation) -> None:
        await asyncio.sleep(self.provisioning_delay)
        if dep.runtime is not None:
            await dep.runtime.stop()
        self.deployments.pop((dep.endpoint, dep.name), None)
        op.finish()

    async def stop_all(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        for dep in list(self.deployments.values()):
            if dep.runtime is not None:
                with contextlib.suppress(Exception):
                    await dep.runtime.stop()


def _copy_model(src: Path, dest_root: Path) -> None:
    """Lay out model files as Azure does: AZUREML_MODEL_DIR holds the registered folder/file."""
    dest_root.mkdir(parents=True, exist_ok=True)
    target = dest_root / src.name
    if src.is_dir():
        shutil.copytree(src, target, dirs_exist_ok=True)
    else:
        shutil.copy2(src, target)


def _version_key(v: str) -> tuple[int, int | str]:
    return (0, int(v)) if v.isdigit() else (1, v)


def _latest_version(versions: list[str]) -> str | None:
    if not versions:
        return None
    return sorted(versions, key=_version_key)[-1]


def _next_version(versions: list[str]) -> str:
    nums = [int(v) for v in versions if v.isdigit()]
    return str(max(nums) + 1 if nums else 1)


async def _json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise bad_request(f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise bad_request("the request body must be a JSON object")
    return data


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        content_type="application/json",
        headers=dict(headers or {}),
    )


Handler = Callable[[web.Request], Any]


# -- routes -------------------------------------------------------------------------------------


def add_routes(app: web.Application, state: ArmState) -> None:
    ws = (
        "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices"
        "/workspaces/{ws}"
    )
    ops = "/subscriptions/{sub}/providers/Microsoft.MachineLearningServices/locations/{loc}"

    def check_scope(request: web.Request) -> None:
        ident = state.identity
        info = request.match_info
        if info.get("sub", ident.subscription).lower() != ident.subscription.lower():
            raise ArmError(
                404, "SubscriptionNotFound", f"subscription {info['sub']} was not found."
            )
        if info.get("rg", ident.resource_group).lower() != ident.resource_group.lower():
            raise ArmError(
                404, "ResourceGroupNotFound", f"resource group {info['rg']} was not found."
            )
        if info.get("ws", ident.workspace).lower() != ident.workspace.lower():
            raise ArmError(
                404,
                "ResourceNotFound",
                f"workspace {info['ws']} was not found in resource group {ident.resource_group}.",
            )

    def route(method: str, path: str) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            async def wrapped(request: web.Request) -> web.StreamResponse:
                try:
                    if not request.headers.get("Authorization", "").lower().startswith("bearer "):
                        raise ArmError(
                            401,
                            "AuthenticationFailed",
                            "Authentication failed. The 'Authorization' header is missing.",
                        )
                    check_scope(request)
                    result = fn(request)
                    if asyncio.iscoroutine(result):
                        result = await result
                    assert isinstance(result, web.StreamResponse)
                    return result
                except ArmError as exc:
                    return exc.response()

            app.router.add_route(method, path, wrapped)
            return fn

        return deco

    # Workspace
    @route("GET", ws)
    def get_workspace(request: web.Request) -> web.Response:
        return _json(state.workspace_body())

    # Operation status and results
    @route("GET", ops + "/mfeOperationsStatus/{op}")
    def get_operation(request: web.Request) -> web.Response:
        op = state.operations.get(request.match_info["op"])
        if op is None:
            raise not_found("Operation", request.match_info["op"])
        headers = {"Retry-After": f"{state.retry_after:g}"} if op.status == "InProgress" else {}
        return _json(op.body(state.identity.location), 200, headers)

    @route("GET", ops + "/mfeOperationResults/{op}")
    def get_operation_result(request: web.Request) -> web.Response:
        op = state.operations.get(request.match_info["op"])
        if op is None:
            raise not_found("Operation", request.match_info["op"])
        if op.status == "InProgress":
            return web.Response(
                status=202,
                headers={
                    "Retry-After": f"{state.retry_after:g}",
                    "Location": str(request.url),
                },
            )
        if op.status == "Failed":
            err = op.error or {"code": "Failed", "message": "the operation failed"}
            return _json({"error": err}, 400)
        return web.Response(status=204)

    # Assets: models, environments, codes (containers and versions)
    for kind in ("models", "environments", "codes"):
        _add_asset_routes(route, state, ws, kind)

    # Online endpoints
    @route("GET", ws + "/onlineEndpoints")
    def list_endpoints(request: web.Request) -> web.Response:
        items = [state.endpoint_body(e) for e in state.endpoints.values()]
        return _json({"value": items})

    @route("GET", ws + "/onlineEndpoints/{ep}")
    def get_endpoint(request: web.Request) -> web.Response:
        return _json(state.endpoint_body(state.get_endpoint(request.match_info["ep"])))

    @route("PUT", ws + "/onlineEndpoints/{ep}")
    async def put_endpoint(request: web.Request) -> web.Response:
        return await state.put_endpoint(request, request.match_info["ep"])

    @route("PATCH", ws + "/onlineEndpoints/{ep}")
    async def patch_endpoint(request: web.Request) -> web.Response:
        ep = state.get_endpoint(request.match_info["ep"])
        body = await _json_body(request)
        if "tags" in body:
            ep.tags = dict(body["tags"] or {})
        ep.modified = now_iso()
        return _json(state.endpoint_body(ep))

    @route("DELETE", ws + "/onlineEndpoints/{ep}")
    async def delete_endpoint(request: web.Request) -> web.Response:
        return await state.delete_endpoint(request, request.match_info["ep"])

    @route("POST", ws + "/onlineEndpoints/{ep}/listKeys")
    def list_keys(request: web.Request) -> web.Response:
        ep = state.get_endpoint(request.match_info["ep"])
        return _json(ep.keys)

    @route("POST", ws + "/onlineEndpoints/{ep}/regenerateKeys")
    async def regenerate_keys(request: web.Request) -> web.Response:
        ep = state.get_endpoint(request.match_info["ep"])
        body = await _json_body(request)
        key_type = str(body.get("keyType") or "")
        if key_type.lower() not in ("primary", "secondary"):
            raise bad_request("keyType must be Primary or Secondary")
        slot = f"{key_type.lower()}Key"
        # MLClient sends the current key as keyValue and expects a new key: a keyValue equal
        # to the current key (or none) regenerates; a different one sets that value.
        value = body.get("keyValue")
        if not value or value == ep.keys[slot]:
            value = secrets.token_urlsafe(24)
        ep.keys[slot] = str(value)
        op = state.new_operation()
        op.finish()
        return web.Response(status=202, headers=state.lro_headers(request, op, True))

    @route("POST", ws + "/onlineEndpoints/{ep}/token")
    def get_token(request: web.Request) -> web.Response:
        state.get_endpoint(request.match_info["ep"])
        now = int(time.time())
        return _json(
            {
                "accessToken": secrets.token_urlsafe(32),
                "tokenType": "Bearer",
                "expiryTimeUtc": now + 3600,
                "refreshAfterTimeUtc": now + 1800,
            }
        )

    # Deployments
    @route("GET", ws + "/onlineEndpoints/{ep}/deployments")
    def list_deployments(request: web.Request) -> web.Response:
        ep = state.get_endpoint(request.match_info["ep"])
        items = [
            state.deployment_body(d) for (e, _), d in state.deployments.items() if e == ep.name
        ]
        return _json({"value": items})

    @route("GET", ws + "/onlineEndpoints/{ep}/deployments/{dep}")
    def get_deployment(request: web.Request) -> web.Response:
        info = request.match_info
        return _json(state.deployment_body(state.get_deployment(info["ep"], info["dep"])))

    @route("PUT", ws + "/onlineEndpoints/{ep}/deployments/{dep}")
    async def put_deployment(request: web.Request) -> web.Response:
        info = request.match_info
        return await state.put_deployment(request, info["ep"], info["dep"])

    @route("DELETE", ws + "/onlineEndpoints/{ep}/deployments/{dep}")
    async def delete_deployment(request: web.Request) -> web.Response:
        info = request.match_info
        return await state.delete_deployment(request, info["ep"], info["dep"])

    @route("POST", ws + "/onlineEndpoints/{ep}/deployments/{dep}/getLogs")
    async def get_logs(request: web.Request) -> web.Response:
        info = request.match_info
        dep = state.get_deployment(info["ep"], info["dep"])
        body = await _json_body(request)
        container = str(body.get("containerType") or "InferenceServer")
        if container not in ("InferenceServer", "StorageInitializer"):
            raise bad_request("containerType must be InferenceServer or StorageInitializer")
        tail = body.get("tail")
        if tail is not None and (not isinstance(tail, int) or tail < 0):
            raise bad_request("tail must be a non-negative integer")
        content = dep.runtime.tail(int(tail or 0), container) if dep.runtime else ""
        if dep.failure and container == "InferenceServer" and dep.failure not in content:
            content += f"Deployment failed: {dep.failure}\n"
        return _json({"content": content})

    @route("GET", ws + "/onlineEndpoints/{ep}/deployments/{dep}/skus")
    def list_skus(request: web.Request) -> web.Response:
        state.get_deployment(request.match_info["ep"], request.match_info["dep"])
        return _json({"value": []})


def _add_asset_routes(
    route: Callable[[str, str], Callable[[Handler], Handler]], state: ArmState, ws: str, kind: str
) -> None:
    base = f"{ws}/{kind}"

    @route("GET", base)
    def list_containers(request: web.Request) -> web.Response:
        store = state._asset_store(kind)
        return _json({"value": [state.container_body(kind, n) for n in sorted(store)]})

    @route("GET", base + "/{name}")
    def get_container(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in state._asset_store(kind):
            raise not_found(kind[:-1].capitalize(), name)
        return _json(state.container_body(kind, name))

    @route("PUT", base + "/{name}")
    async def put_container(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if not ASSET_NAME_RE.match(name):
            raise bad_request(f"invalid asset name {name!r}")
        await _json_body(request)
        state._asset_store(kind).setdefault(name, {})
        return _json(state.container_body(kind, name))

    @route("GET", base + "/{name}/versions")
    def list_versions(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        versions = state._asset_store(kind).get(name, {})
        items = [
            state.asset_body(kind, versions[v])
            for v in sorted(versions, key=_version_key, reverse=True)
        ]
        return _json({"value": items})

    @route("GET", base + "/{name}/versions/{version}")
    def get_version(request: web.Request) -> web.Response:
        info = request.match_info
        return _json(state.asset_body(kind, state.get_asset(kind, info["name"], info["version"])))

    @route("PUT", base + "/{name}/versions/{version}")
    async def put_version(request: web.Request) -> web.Response:
        info = request.match_info
        body = await _json_body(request)
        asset, created = state.put_asset(kind, info["name"], info["version"], body)
        return _json(state.asset_body(kind, asset), 201 if created else 200)
