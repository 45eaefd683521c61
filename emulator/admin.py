"""The emulator's admin API (``/_emulator/...``): health, state, recorded requests, local model
and code registration, and the faults API (ARM faults, provisioning failures, router faults).
The admin key guards every route (see :mod:`emulator.app`)."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from emulator.arm import ASSET_NAME_RE, VERSION_RE, ArmState
from emulator.arm_provision import ProvisioningFault
from emulator.context import Context
from emulator.errors import ArmError, bad_request
from emulator.router import RouterFault, ScoringRouter

ADMIN_PREFIX = "/_emulator/"


@dataclass
class ArmFault:
    """ARM calls (``scope`` "arm": Azure ML's) or metrics queries (``scope`` "metrics":
    ``metrics:getBatch``) answered with an error (429, 500; 529 for metrics) or held then
    timed out, at a rate."""

    kind: str  # "429" | "500" | "529" | "timeout" | "error" (status and code below)
    rate: float
    remaining: int | None = None
    retry_after: float = 1.0
    hang_seconds: float = 10.0
    methods: tuple[str, ...] = ()
    scope: str = "arm"
    # kind "error": an answer in Azure's error shape with this status and code (and a detail
    # code, as Azure ML nests its specific one: a 400 BadRequest whose detail says
    # InferencingClientCreateDeploymentFailed "Not enough quota", MicrosoftLearning/
    # mslearn-azure-ml issue 30; a 409 MissingSubscriptionRegistration)
    status: int = 400
    code: str = "BadRequest"
    message: str = "injected error (emulator fault)"
    detail_code: str = ""

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["methods"] = list(self.methods)
        return out


class Admitted(Protocol):
    """What the admin API reads and changes of the emulator (:class:`emulator.app.Emulator`)."""

    state: ArmState
    ctx: Context
    router: ScoringRouter
    arm_faults: list[ArmFault]
    addons: list[str]
    started: float


class AdminApi:
    """The admin routes over one emulator's state."""

    def __init__(self, emu: Admitted) -> None:
        self.emu = emu

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get(ADMIN_PREFIX + "health", self._health)
        r.add_get(ADMIN_PREFIX + "state", self._state)
        r.add_get(ADMIN_PREFIX + "records/summary", self._records_summary)
        r.add_get(ADMIN_PREFIX + "records/overheads", self._records_overheads)
        r.add_post(ADMIN_PREFIX + "models", self._register_model)
        r.add_post(ADMIN_PREFIX + "codes", self._register_code)
        r.add_get(ADMIN_PREFIX + "faults", self._faults)
        r.add_delete(ADMIN_PREFIX + "faults", self._clear_faults)
        r.add_put(ADMIN_PREFIX + "faults/arm", self._put_arm_fault)
        r.add_delete(ADMIN_PREFIX + "faults/arm", self._delete_arm_faults)
        r.add_put(ADMIN_PREFIX + "faults/metrics", self._put_metrics_fault)
        r.add_delete(ADMIN_PREFIX + "faults/metrics", self._delete_metrics_faults)
        for route in ("faults/provisioning/{ep}/{dep}", "faults/provisioning/{ep}"):
            r.add_put(ADMIN_PREFIX + route, self._put_provisioning_fault)
            r.add_delete(ADMIN_PREFIX + route, self._delete_provisioning_fault)
        r.add_put(ADMIN_PREFIX + "faults/router/{ep}/{dep}", self._put_router_fault)
        r.add_delete(ADMIN_PREFIX + "faults/router/{ep}/{dep}", self._delete_router_fault)

    async def _health(self, request: web.Request) -> web.Response:
        uptime = time.time() - self.emu.started
        return _json({"status": "ok", "uptime_s": uptime, "addons": self.emu.addons})

    async def _state(self, request: web.Request) -> web.Response:
        st = self.emu.state
        endpoints = []
        for ep in st.endpoints.values():
            deps = []
            for (e, _), dep in st.deployments.items():
                if e != ep.name:
                    continue
                rt = dep.runtime
                deps.append(
                    {
                        "name": dep.name,
                        "provisioning_state": dep.state,
                        "instance_count": dep.instance_count,
                        "ready_instances": len(rt.ready_instances()) if rt else 0,
                        "worker_pids": rt.pids() if rt else [],
                        "worker_ports": [i.port for i in rt.ready_instances()] if rt else [],
                        "restarts": sum(i.restarts for i in rt.instances) if rt else 0,
                        "failure": dep.failure,
                    }
                )
            endpoints.append(
                {
                    "name": ep.name,
                    "provisioning_state": ep.state,
                    "traffic": ep.traffic,
                    "mirror_traffic": ep.mirror_traffic,
                    "scoring_uri": st.scoring_uri(ep.name),
                    "deployments": deps,
                }
            )
        return _json(
            {
                "endpoints": endpoints,
                "models": {n: sorted(v) for n, v in st.models.items()},
                "codes": {n: sorted(v) for n, v in st.codes.items()},
                "records": len(self.emu.ctx.records),
                "bucket_seconds": self.emu.ctx.bucket_seconds,
                "addons": self.emu.addons,
            }
        )

    async def _records_summary(self, request: web.Request) -> web.Response:
        """Counts of recorded requests by endpoint, deployment, mirrored and status code."""
        since = request.query.get("since", "0")
        try:
            start = float(since)
        except ValueError as exc:
            raise bad_request("since must be epoch seconds") from exc
        counts: dict[tuple[str, str, bool, int], int] = {}
        for rec in self.emu.ctx.records.between(start, float("inf")):
            k = (rec.endpoint, rec.deployment, rec.mirrored, rec.status_code)
            counts[k] = counts.get(k, 0) + 1
        rows = [
            {"endpoint": e, "deployment": d, "mirrored": m, "status_code": c, "count": n}
            for (e, d, m, c), n in sorted(counts.items())
        ]
        return _json({"rows": rows})

    async def _records_overheads(self, request: web.Request) -> web.Response:
        """Router overhead (total minus time in the worker, ms) of live 200s since a time."""
        try:
            start = float(request.query.get("since", "0"))
        except ValueError as exc:
            raise bad_request("since must be epoch seconds") from exc
        values = [
            round(r.total_ms - r.request_ms, 3)
            for r in self.emu.ctx.records.between(start, float("inf"))
            if not r.mirrored and r.status_code == 200
        ]
        return _json({"overhead_ms": values})

    async def _register_folder(self, request: web.Request, kind: str) -> web.Response:
        body = await _body(request)
        name = str(body.get("name") or "")
        version = str(body.get("version") or "")
        src = Path(str(body.get("path") or ""))
        if not ASSET_NAME_RE.match(name):
            raise bad_request(f"invalid name {name!r}")
        if not VERSION_RE.match(version):
            raise bad_request(f"invalid version {version!r}")
        if not src.is_absolute() or not src.exists():
            raise bad_request(f"path {str(src)!r} must be an existing absolute path")
        tags = _str_map(body.get("tags"), "tags")
        props = _str_map(body.get("properties"), "properties")
        registry = str(body.get("registry") or "")
        if registry and kind != "models":
            raise bad_request("registry: only models are registered in a registry")
        assets = self.emu.state.assets
        if registry:
            if not ASSET_NAME_RE.match(registry):
                raise bad_request(f"invalid registry {registry!r}")
            store = assets.registry_models.get(registry.lower(), {})
        else:
            store = self.emu.state.models if kind == "models" else self.emu.state.codes
        if version in store.get(name, {}):
            raise ArmError(
                409, "Conflict", f"{kind[:-1]} {name}:{version} already exists (immutable)"
            )
        rel = f"{kind}/{name}/{version}/{src.name}"
        if registry:
            rel = f"registries/{registry.lower()}/{rel}"
        dest = self.emu.ctx.state_dir / "datastores" / "workspaceblobstore" / rel
        if dest.exists():
            await asyncio.to_thread(shutil.rmtree, dest) if dest.is_dir() else dest.unlink()
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            await asyncio.to_thread(shutil.copytree, src, dest)
        else:
            await asyncio.to_thread(shutil.copy2, src, dest)
        ident = self.emu.ctx.identity
        uri = (
            f"azureml://subscriptions/{ident.subscription}/resourcegroups/"
            f"{ident.resource_group}/workspaces/{ident.workspace}/datastores/"
            f"workspaceblobstore/paths/{rel}"
        )
        if kind == "models":
            properties: dict[str, Any] = {
                "modelUri": uri,
                "modelType": "custom_model",
                "tags": tags,
                "properties": props,
                "description": str(body.get("description") or ""),
            }
        else:
            properties = {"codeUri": uri, "tags": tags, "properties": props}
        if registry:
            asset = assets.put_registry_model(registry, name, version, {"properties": properties})
            ref = f"azureml://registries/{registry}/models/{name}/versions/{version}"
            return _json({"id": ref, "name": version, "properties": properties}, 201)
        asset, _ = self.emu.state.put_asset(kind, name, version, {"properties": properties})
        return _json(self.emu.state.asset_body(kind, asset), 201)

    async def _register_model(self, request: web.Request) -> web.Response:
        return await self._register_folder(request, "models")

    async def _register_code(self, request: web.Request) -> web.Response:
        return await self._register_folder(request, "codes")

    def _faults_json(self) -> dict[str, Any]:
        return {
            "arm": [f.to_json() for f in self.emu.arm_faults if f.scope == "arm"],
            "metrics": [f.to_json() for f in self.emu.arm_faults if f.scope == "metrics"],
            "provisioning": [
                {
                    "endpoint": e,
                    "deployment": d or None,
                    "message": f.message,
                    "state": f.state,
                    "code": f.code,
                }
                for (e, d), f in self.emu.state.provisioning_faults.items()
            ],
            "router": [
                {"endpoint": e, "deployment": d, **f.to_json()}
                for (e, d), f in self.emu.router.faults.items()
            ],
        }

    async def _faults(self, request: web.Request) -> web.Response:
        return _json(self._faults_json())

    async def _clear_faults(self, request: web.Request) -> web.Response:
        self.emu.arm_faults.clear()
        self.emu.state.provisioning_faults.clear()
        self.emu.router.faults.clear()
        return _json(self._faults_json())

    async def _put_arm_fault(self, request: web.Request) -> web.Response:
        return await self._put_fault(request, "arm", ("429", "500", "timeout", "error"))

    async def _put_metrics_fault(self, request: web.Request) -> web.Response:
        # 529: the metrics backend throttling (learn.microsoft.com/azure/azure-monitor/metrics/
        # migrate-to-batch-api, "529 throttling errors")
        return await self._put_fault(request, "metrics", ("529", "429", "500", "timeout"))

    async def _put_fault(
        self, request: web.Request, scope: str, kinds: tuple[str, ...]
    ) -> web.Response:
        body = await _body(request)
        kind = str(body.get("kind") or "")
        if kind not in kinds:
            raise bad_request("kind must be one of " + ", ".join(repr(k) for k in kinds))
        rate = _number(body.get("rate", 1.0), "rate", 0.0, 1.0)
        count = body.get("count")
        if count is not None and (not isinstance(count, int) or count < 1):
            raise bad_request("count must be a positive integer when given")
        methods = body.get("methods") or []
        if not isinstance(methods, list) or not all(
            m in ("GET", "PUT", "POST", "DELETE", "PATCH") for m in methods
        ):
            raise bad_request("methods must be a list of HTTP methods")
        status = body.get("status", 400)
        if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599:
            raise bad_request("status must be an HTTP error status (400-599)")
        texts = {
            k: body.get(k, d)
            for k, d in (("code", "BadRequest"), ("message", ""), ("detail_code", ""))
        }
        if not all(isinstance(v, str) and len(v) <= 500 for v in texts.values()):
            raise bad_request(
                "code, message and detail_code must be strings of at most 500 characters"
            )
        fault = ArmFault(
            kind=kind,
            rate=rate,
            remaining=count,
            retry_after=_number(body.get("retry_after", 1.0), "retry_after", 0.0, 3600.0),
            hang_seconds=_number(body.get("hang_seconds", 10.0), "hang_seconds", 0.0, 600.0),
            methods=tuple(methods),
            scope=scope,
            status=status,
            code=texts["code"] or "BadRequest",
            message=texts["message"] or "injected error (emulator fault)",
            detail_code=texts["detail_code"],
        )
        self.emu.arm_faults.append(fault)
        return _json(self._faults_json())

    async def _delete_arm_faults(self, request: web.Request) -> web.Response:
        self.emu.arm_faults[:] = [f for f in self.emu.arm_faults if f.scope != "arm"]
        return _json(self._faults_json())

    async def _delete_metrics_faults(self, request: web.Request) -> web.Response:
        self.emu.arm_faults[:] = [f for f in self.emu.arm_faults if f.scope != "metrics"]
        return _json(self._faults_json())

    async def _put_provisioning_fault(self, request: web.Request) -> web.Response:
        """The next operation of a deployment, or (no deployment in the path) the endpoint's
        next update, ends ``state`` with ``code`` (optional) and ``message``."""
        body = await _body(request)
        message = str(body.get("message") or "injected provisioning failure (emulator fault)")
        state = body.get("state", "Failed")
        if state not in ("Failed", "Canceled"):
            raise bad_request("state must be 'Failed' or 'Canceled'")
        code = body.get("code")
        if code is not None and (not isinstance(code, str) or not code.strip()):
            raise bad_request("code must be a non-empty string (an Azure error code)")
        fault = ProvisioningFault(message, state, code)
        self.emu.state.provisioning_faults[_fault_key(request)] = fault
        return _json(self._faults_json())

    async def _delete_provisioning_fault(self, request: web.Request) -> web.Response:
        self.emu.state.provisioning_faults.pop(_fault_key(request), None)
        return _json(self._faults_json())

    async def _put_router_fault(self, request: web.Request) -> web.Response:
        body = await _body(request)
        key = (request.match_info["ep"].lower(), request.match_info["dep"].lower())
        status = body.get("error_status", 500)
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise bad_request("error_status must be an HTTP error status (400-599)")
        self.emu.router.faults[key] = RouterFault(
            latency_ms=_number(body.get("latency_ms", 0.0), "latency_ms", 0.0, 600_000.0),
            error_rate=_number(body.get("error_rate", 0.0), "error_rate", 0.0, 1.0),
            error_status=status,
        )
        return _json(self._faults_json())

    async def _delete_router_fault(self, request: web.Request) -> web.Response:
        key = (request.match_info["ep"].lower(), request.match_info["dep"].lower())
        self.emu.router.faults.pop(key, None)
        return _json(self._faults_json())


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(body).encode(), content_type="application/json"
    )


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        data = json.loads(raw) if raw else {}
    except ValueError as exc:
        raise bad_request(f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise bad_request("the request body must be a JSON object")
    return data


def _number(value: Any, name: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise bad_request(f"{name} must be a number from {lo:g} to {hi:g}")
    return float(value)


def _str_map(value: Any, name: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise bad_request(f"{name} must be an object of strings")
    return {str(k): str(v) for k, v in value.items()}


def _fault_key(request: web.Request) -> tuple[str, str]:
    """(endpoint, deployment) of a provisioning fault's path; deployment "" for the endpoint."""
    return request.match_info["ep"].lower(), request.match_info.get("dep", "").lower()
