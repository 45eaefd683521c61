"""The emulator server: one aiohttp application over HTTPS on loopback.

Routes:

- ARM (``/subscriptions/...``): :mod:`emulator.arm`;
- scoring (``/endpoints/{endpoint}/score``): :mod:`emulator.router`;
- add-ons wired through ``setup(app, ctx)``: ``emulator.monitor``, ``emulator.logs``,
  ``emulator.alerts``, ``emulator.eventgrid``;
- admin API (``/_emulator/...``, :mod:`emulator.admin`; the admin key from the connection
  file as a bearer token or in ``x-emulator-admin-key``):
  ``GET /_emulator/health``, ``GET /_emulator/state``, ``GET /_emulator/records/summary``,
  ``GET /_emulator/records/overheads``, ``POST /_emulator/models`` and
  ``POST /_emulator/codes`` (register a local folder), and the faults API (``GET/DELETE
  /_emulator/faults``, ``PUT/DELETE /_emulator/faults/arm`` (and ``/faults/metrics``),
  ``PUT/DELETE /_emulator/faults/provisioning/{endpoint}/{deployment}`` (and
  ``/faults/provisioning/{endpoint}``: the endpoint's next update, e.g. a traffic change),
  ``PUT/DELETE /_emulator/faults/router/{endpoint}/{deployment}``).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import random
import secrets
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from emulator.addon_http import admin_problem
from emulator.admin import ADMIN_PREFIX, AdminApi, ArmFault
from emulator.arm import ArmState, Asset, Strictness
from emulator.arm import add_routes as add_arm_routes
from emulator.autoscale import add_routes as add_autoscale_routes
from emulator.autoscale_engine import setup as setup_autoscale_engine
from emulator.certs import make_self_signed
from emulator.connection import CONNECTION_FILE, Connection
from emulator.context import Context, Identity
from emulator.errors import ArmError
from emulator.records import RequestLog
from emulator.router import ScoringRouter
from emulator.router import add_routes as add_scoring_routes

log = logging.getLogger("emulator")

ADDONS = ("emulator.monitor", "emulator.logs", "emulator.alerts", "emulator.eventgrid")
SCORING_PREFIX = "/endpoints/"


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
        AdminApi(self).add_routes(app)
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
        scope = (
            "arm"
            if "/providers/Microsoft.MachineLearningServices/" in request.path
            else "metrics"
            if request.path.endswith("/metrics:getBatch")
            else None
        )
        if self.arm_faults and scope is not None:
            for fault in self.arm_faults:
                if fault.scope != scope:
                    continue
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
                if fault.kind == "529":
                    return ArmError(
                        529, "Throttled", "injected metrics throttling (emulator fault)"
                    ).response()
                if fault.kind == "500":
                    return ArmError(
                        500, "InternalServerError", "injected server error (emulator fault)"
                    ).response()
                if fault.kind == "error":
                    detail = (
                        [{"code": fault.detail_code, "message": fault.message}]
                        if fault.detail_code
                        else None
                    )
                    return ArmError(fault.status, fault.code, fault.message, detail).response()
                await asyncio.sleep(fault.hang_seconds)
                return ArmError(
                    504, "GatewayTimeout", "injected timeout (emulator fault)"
                ).response()
        return await handler(request)


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
