"""The emulator server: one aiohttp application over HTTPS on loopback.

Routes:

- ARM (``/subscriptions/...``): :mod:`emulator.arm`;
- scoring (``/endpoints/{endpoint}/score``): :mod:`emulator.router`;
- add-ons wired through ``setup(app, ctx)``: ``emulator.monitor``, ``emulator.logs``,
  ``emulator.alerts``, ``emulator.eventgrid``;
- admin API (``/_emulator/...``, the admin key from the connection file as a bearer token
  or in ``x-emulator-admin-key``):
  ``GET /_emulator/health``, ``GET /_emulator/state``, ``GET /_emulator/records/summary``,
  ``GET /_emulator/records/overheads``, ``POST /_emulator/models`` and
  ``POST /_emulator/codes`` (register a local folder), and the faults API (``GET/DELETE
  /_emulator/faults``, ``PUT/DELETE /_emulator/faults/arm``,
  ``PUT/DELETE /_emulator/faults/provisioning/{endpoint}/{deployment}``,
  ``PUT/DELETE /_emulator/faults/router/{endpoint}/{deployment}``).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import random
import secrets
import shutil
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from emulator.addon_http import admin_problem
from emulator.arm import ASSET_NAME_RE, VERSION_RE, ArmState, Asset, Strictness
from emulator.arm import add_routes as add_arm_routes
from emulator.autoscale import add_routes as add_autoscale_routes
from emulator.autoscale_engine import setup as setup_autoscale_engine
from emulator.certs import make_self_signed
from emulator.connection import CONNECTION_FILE, Connection
from emulator.context import Context, Identity
from emulator.errors import ArmError, bad_request
from emulator.records import RequestLog
from emulator.router import RouterFault, ScoringRouter
from emulator.router import add_routes as add_scoring_routes

log = logging.getLogger("emulator")

ADDONS = ("emulator.monitor", "emulator.logs", "emulator.alerts", "emulator.eventgrid")
SCORING_PREFIX = "/endpoints/"
ADMIN_PREFIX = "/_emulator/"


@dataclass
class ArmFault:
    """ARM calls answered with an error (429, 500) or held then timed out, at a rate."""

    kind: str  # "429" | "500" | "timeout"
    rate: float
    remaining: int | None = None
    retry_after: float = 1.0
    hang_seconds: float = 10.0
    methods: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["methods"] = list(self.methods)
        return out


@dataclass
class Options:
    host: str = "127.0.0.1"
    port: int = 0
    state_dir: Path = Path(".emulator-state")
    bucket_seconds: float = 60.0
    provisioning_delay: float = 0.5
    retry_after: float = 0.25
    identity: Identity = field(default_factory=Identity)
    strict: Strictness = field(default_factory=Strictness)
    # Settings of the add-ons, copied into ``ctx.extras`` (see each add-on's docstring).
    extras: dict[str, Any] = field(default_factory=dict)


class _NoEndpoints:
    def endpoint_names(self) -> list[str]:
        return []

    def deployment_names(self, endpoint: str) -> list[str]:
        return []


class Emulator:
    """Everything one emulator process holds."""

    def __init__(self, options: Options) -> None:
        self.options = options
        state_dir = options.state_dir.resolve()
        state_dir.mkdir(parents=True, exist_ok=True)
        self.admin_key = secrets.token_urlsafe(24)
        self.ctx = Context(
            identity=options.identity,
            records=RequestLog(),
            endpoints=_NoEndpoints(),
            state_dir=state_dir,
            bucket_seconds=options.bucket_seconds,
        )
        self.state = ArmState(
            self.ctx,
            provisioning_delay=options.provisioning_delay,
            retry_after=options.retry_after,
            on_model_registered=self._model_registered,
            strict=options.strict,
        )
        self.ctx.endpoints = self.state
        self.ctx.extras.update(options.extras)
        self.ctx.extras["admin_key"] = self.admin_key
        self.ctx.extras["log_analytics_workspace_id"] = _la_workspace_id(options.identity)
        self.router = ScoringRouter(self.state, self.ctx.records)
        blob = options.extras.get("data_collection_blob")
        if blob:
            from emulator.datacollection import DataCollectionWriter

            self.router.collector = DataCollectionWriter(
                str(blob), options.identity, str(options.extras.get("data_collection_container"))
            )
        self.arm_faults: list[ArmFault] = []
        self._rng = random.Random()
        self.addons: list[str] = []
        self.started = time.time()
        self.app = self._build_app()

    # -- events ---------------------------------------------------------------------------------

    def _model_registered(self, asset: Asset) -> None:
        props = asset.body.get("properties") or {}
        tags = {str(k): str(v) for k, v in (props.get("tags") or {}).items()}
        extra = {str(k): str(v) for k, v in (props.get("properties") or {}).items()}
        try:
            self.ctx.events.model_registered(asset.name, asset.version, tags, extra)
        except Exception:
            log.exception("event sink failed for model %s:%s", asset.name, asset.version)

    # -- app ------------------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application(
            middlewares=[self._admin_middleware, self._arm_fault_middleware],
            client_max_size=64 * 1024 * 1024,
        )
        app["emulator"] = self
        add_arm_routes(app, self.state)
        self.autoscale = add_autoscale_routes(app, self.state)
        self.autoscale_engine = setup_autoscale_engine(app, self.state, self.autoscale)
        add_scoring_routes(app, self.router, SCORING_PREFIX)
        self._add_admin_routes(app)
        for name in ADDONS:
            try:
                module = importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if exc.name == name:
                    continue
                raise
            setup = getattr(module, "setup", None)
            if callable(setup):
                setup(app, self.ctx)
                self.addons.append(name)
        app.on_cleanup.append(self._cleanup)
        return app

    async def _cleanup(self, app: web.Application) -> None:
        await self.state.stop_all()

    @web.middleware
    async def _admin_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.startswith(ADMIN_PREFIX):
            problem = admin_problem(request, self.ctx)  # the one admin-key check
            if problem is not None:
                return problem
            try:
                return await handler(request)
            except ArmError as exc:
                return exc.response()
        return await handler(request)

    @web.middleware
    async def _arm_fault_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if self.arm_faults and "/providers/Microsoft.MachineLearningServices/" in request.path:
            for fault in self.arm_faults:
                if fault.methods and request.method not in fault.methods:
                    continue
                if fault.remaining is not None and fault.remaining <= 0:
                    continue
                if self._rng.random() >= fault.rate:
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                if fault.kind == "429":
                    return ArmError(
                        429, "TooManyRequests", "injected throttling (emulator fault)"
                    ).response({"Retry-After": f"{fault.retry_after:g}"})
                if fault.kind == "500":
                    return ArmError(
                        500, "InternalServerError", "injected server error (emulator fault)"
                    ).response()
                await asyncio.sleep(fault.hang_seconds)
                return ArmError(
                    504, "GatewayTimeout", "injected timeout (emulator fault)"
                ).response()
        return await handler(request)

    # -- admin API ------------------------------------------------------------------------------

    def _add_admin_routes(self, app: web.Application) -> None:
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
        r.add_put(ADMIN_PREFIX + "faults/provisioning/{ep}/{dep}", self._put_provisioning_fault)
        r.add_delete(
            ADMIN_PREFIX + "faults/provisioning/{ep}/{dep}", self._delete_provisioning_fault
        )
        r.add_put(ADMIN_PREFIX + "faults/router/{ep}/{dep}", self._put_router_fault)
        r.add_delete(ADMIN_PREFIX + "faults/router/{ep}/{dep}", self._delete_router_fault)

    async def _health(self, request: web.Request) -> web.Response:
        uptime = time.time() - self.started
        return _json({"status": "ok", "uptime_s": uptime, "addons": self.addons})

    async def _state(self, request: web.Request) -> web.Response:
        st = self.state
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
                "records": len(self.ctx.records),
                "bucket_seconds": self.ctx.bucket_seconds,
                "addons": self.addons,
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
        for rec in self.ctx.records.between(start, float("inf")):
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
            for r in self.ctx.records.between(start, float("inf"))
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
        store = self.state.models if kind == "models" else self.state.codes
        if version in store.get(name, {}):
            raise ArmError(
                409, "Conflict", f"{kind[:-1]} {name}:{version} already exists (immutable)"
            )
        rel = f"{kind}/{name}/{version}/{src.name}"
        dest = self.ctx.state_dir / "datastores" / "workspaceblobstore" / rel
        if dest.exists():
            await asyncio.to_thread(shutil.rmtree, dest) if dest.is_dir() else dest.unlink()
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            await asyncio.to_thread(shutil.copytree, src, dest)
        else:
            await asyncio.to_thread(shutil.copy2, src, dest)
        ident = self.ctx.identity
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
        asset, _ = self.state.put_asset(kind, name, version, {"properties": properties})
        return _json(self.state.asset_body(kind, asset), 201)

    async def _register_model(self, request: web.Request) -> web.Response:
        return await self._register_folder(request, "models")

    async def _register_code(self, request: web.Request) -> web.Response:
        return await self._register_folder(request, "codes")

    def _faults_json(self) -> dict[str, Any]:
        return {
            "arm": [f.to_json() for f in self.arm_faults],
            "provisioning": [
                {"endpoint": e, "deployment": d, "message": m}
                for (e, d), m in self.state.provisioning_faults.items()
            ],
            "router": [
                {"endpoint": e, "deployment": d, **f.to_json()}
                for (e, d), f in self.router.faults.items()
            ],
        }

    async def _faults(self, request: web.Request) -> web.Response:
        return _json(self._faults_json())

    async def _clear_faults(self, request: web.Request) -> web.Response:
        self.arm_faults.clear()
        self.state.provisioning_faults.clear()
        self.router.faults.clear()
        return _json(self._faults_json())

    async def _put_arm_fault(self, request: web.Request) -> web.Response:
        body = await _body(request)
        kind = str(body.get("kind") or "")
        if kind not in ("429", "500", "timeout"):
            raise bad_request("kind must be '429', '500' or 'timeout'")
        rate = _number(body.get("rate", 1.0), "rate", 0.0, 1.0)
        count = body.get("count")
        if count is not None and (not isinstance(count, int) or count < 1):
            raise bad_request("count must be a positive integer when given")
        methods = body.get("methods") or []
        if not isinstance(methods, list) or not all(
            m in ("GET", "PUT", "POST", "DELETE", "PATCH") for m in methods
        ):
            raise bad_request("methods must be a list of HTTP methods")
        fault = ArmFault(
            kind=kind,
            rate=rate,
            remaining=count,
            retry_after=_number(body.get("retry_after", 1.0), "retry_after", 0.0, 3600.0),
            hang_seconds=_number(body.get("hang_seconds", 10.0), "hang_seconds", 0.0, 600.0),
            methods=tuple(methods),
        )
        self.arm_faults.append(fault)
        return _json(self._faults_json())

    async def _delete_arm_faults(self, request: web.Request) -> web.Response:
        self.arm_faults.clear()
        return _json(self._faults_json())

    async def _put_provisioning_fault(self, request: web.Request) -> web.Response:
        body = await _body(request)
        key = (request.match_info["ep"].lower(), request.match_info["dep"].lower())
        message = str(body.get("message") or "injected provisioning failure (emulator fault)")
        self.state.provisioning_faults[key] = message
        return _json(self._faults_json())

    async def _delete_provisioning_fault(self, request: web.Request) -> web.Response:
        key = (request.match_info["ep"].lower(), request.match_info["dep"].lower())
        self.state.provisioning_faults.pop(key, None)
        return _json(self._faults_json())

    async def _put_router_fault(self, request: web.Request) -> web.Response:
        body = await _body(request)
        key = (request.match_info["ep"].lower(), request.match_info["dep"].lower())
        status = body.get("error_status", 500)
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise bad_request("error_status must be an HTTP error status (400-599)")
        self.router.faults[key] = RouterFault(
            latency_ms=_number(body.get("latency_ms", 0.0), "latency_ms", 0.0, 600_000.0),
            error_rate=_number(body.get("error_rate", 0.0), "error_rate", 0.0, 1.0),
            error_status=status,
        )
        return _json(self._faults_json())

    async def _delete_router_fault(self, request: web.Request) -> web.Response:
        key = (request.match_info["ep"].lower(), request.match_info["dep"].lower())
        self.router.faults.pop(key, None)
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


async def serve(options: Options, ready: Callable[[Connection], None] | None = None) -> None:
    """Run the emulator until cancelled; write the connection file once listening."""
    emu = Emulator(options)
    state_dir = emu.ctx.state_dir
    cert, key = make_self_signed(state_dir / "tls", options.host)
    ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ssl_ctx.load_cert_chain(str(cert), str(key))
    runner = web.AppRunner(emu.app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, options.host, options.port, ssl_context=ssl_ctx)
    await site.start()
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    port = sockets[0].getsockname()[1] if sockets else options.port
    host = "127.0.0.1" if options.host in ("0.0.0.0", "") else options.host
    base = f"https://{host}:{port}/"
    emu.state.arm_base = base
    emu.state.scoring_base = f"{base}{SCORING_PREFIX.strip('/')}/"
    ident = options.identity
    conn = Connection(
        arm_url=base,
        scoring_url=emu.state.scoring_base,
        metrics_url=base,
        logs_url=base,
        cert_path=str(cert),
        subscription=ident.subscription,
        resource_group=ident.resource_group,
        workspace=ident.workspace,
        location=ident.location,
        admin_key=emu.admin_key,
        log_analytics_workspace_id=str(emu.ctx.extras["log_analytics_workspace_id"]),
        bucket_seconds=options.bucket_seconds,
        pid=os.getpid(),
        state_dir=str(state_dir),
    )
    emu.ctx.extras["connection"] = conn
    conn.write(state_dir / CONNECTION_FILE)
    if ready is not None:
        ready(conn)
    log.info("emulator listening on %s (state in %s)", base, state_dir)
    try:
        await asyncio.Event().wait()
    finally:
        (state_dir / CONNECTION_FILE).unlink(missing_ok=True)
        await runner.cleanup()


def _la_workspace_id(ident: Identity) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, ident.workspace_id + "/loganalytics"))
