"""The devhost server: an aiohttp app that serves discovered functions like the Functions host.

Endpoints:

* ``{METHOD} /{routePrefix}/{route}``: HTTP-triggered functions. ``ANONYMOUS`` functions are
  open; ``FUNCTION`` and ``ADMIN`` ones need the key in ``x-functions-key`` or ``?code=``
  (401 otherwise). No route for the path and method: 404, as the host answers
  (Azure/azure-functions-host issue 10098). An exception in the function: 500, empty body.
* ``POST /runtime/webhooks/EventGrid?functionName=NAME``: Event Grid delivery, handled as
  the Event Grid extension does (Azure/azure-sdk-for-net,
  sdk/eventgrid/Microsoft.Azure.WebJobs.Extensions.EventGrid/src/TriggerBinding/
  HttpRequestProcessor.cs and src/Config/EventGridExtensionConfigProvider.cs): header
  ``aeg-event-type`` ``SubscriptionValidation`` answers ``{"validationResponse": code}``,
  ``Notification`` invokes the function once per event (concurrently, like the extension's
  single dispatch), ``Unsubscribe`` answers 202. Needs the key like the host's system key.
* ``POST /admin/functions/NAME`` with ``{"input": "..."}``: run a non-HTTP function once
  ("Manually run a non HTTP-triggered function", learn.microsoft.com/azure/azure-functions/
  functions-manually-run-non-http). 202 when started. Needs the key.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from azure.functions.timer import TimerRequest

from devhost.bindings import (
    Discovery,
    EventGridFunction,
    FunctionSpec,
    HttpFunction,
    TimerFunction,
)
from devhost.codec import (
    BadEvent,
    build_http_request,
    encode_http_response,
    parse_event_body,
    to_function_event,
    validation_code,
)
from devhost.cron import TimerRunner
from devhost.invoke import InvocationFailed, Invoker
from devhost.routes import precedence_key

log = logging.getLogger("devhost")

KEY_SETTING = "DEVHOST_FUNCTION_KEY"
EVENT_GRID_PATH = "/runtime/webhooks/eventgrid"
ADMIN_PREFIX = "/admin/functions/"
MAX_BODY_BYTES = 100 * 1024 * 1024  # the host's default request body limit
SHUTDOWN_GRACE_SECONDS = 10.0


@dataclass
class HostOptions:
    host: str = "127.0.0.1"
    port: int = 0
    run_timers: bool = True
    ready_file: Path | None = None
    app_directory: str = "."


@dataclass
class FunctionKey:
    value: str
    source: str  # "local settings" or "generated"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> FunctionKey:
        configured = environ.get(KEY_SETTING, "")
        if configured:
            return cls(configured, "local settings")
        return cls(secrets.token_urlsafe(32), "generated")

    def accepts(self, request: web.Request) -> bool:
        supplied = request.headers.get("x-functions-key") or request.query.get("code")
        return supplied is not None and hmac.compare_digest(
            supplied.encode("utf-8"), self.value.encode("utf-8")
        )


def _text(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message)


@dataclass
class DevHost:
    """Serves one app's discovered functions; build it, then ``await start()``."""

    discovery: Discovery
    key: FunctionKey
    route_prefix: str
    options: HostOptions
    invoker: Invoker = field(init=False)
    timers: dict[str, TimerRunner] = field(init=False, default_factory=dict)
    base_url: str = field(init=False, default="")
    _http: list[HttpFunction] = field(init=False, default_factory=list)
    _runner: web.AppRunner | None = field(init=False, default=None)
    _loops: list[asyncio.Task[None]] = field(init=False, default_factory=list)
    _background: set[asyncio.Task[Any]] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        self.invoker = Invoker(self.options.app_directory)
        self._http = sorted(
            (s for s in self.discovery.functions if isinstance(s, HttpFunction)),
            key=lambda s: precedence_key(s.route),
        )
        for spec in self.discovery.functions:
            if isinstance(spec, TimerFunction):
                self.timers[spec.name.lower()] = TimerRunner(
                    spec.name,
                    spec.schedule,
                    self._timer_invoker(spec),
                    run_on_startup=spec.run_on_startup,
                )

    # ----------------------------------------------------------------- lifecycle
    def web_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_route("*", "/{tail:.*}", self.dispatch)
        return app

    async def start(self) -> str:
        """Listen, start the timers, write the ready file; returns the base URL."""
        # aiohttp waits this long for running handlers, then as long again after cancelling
        # them: half the grace period each.
        self._runner = web.AppRunner(
            self.web_app(), access_log=None, shutdown_timeout=SHUTDOWN_GRACE_SECONDS / 2
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.options.host, self.options.port)
        await site.start()
        address = self._runner.addresses[0]
        host, port = address[0], address[1]
        shown = f"[{host}]" if ":" in host else host
        self.base_url = f"http://{shown}:{port}"
        if self.options.run_timers:
            for runner in self.timers.values():
                self._loops.append(
                    asyncio.create_task(runner.run_forever(), name=f"devhost-loop-{runner.name}")
                )
        elif self.timers:
            log.info("Timers are not scheduled (--no-timers); /admin/functions/NAME runs them")
        self._announce()
        if self.options.ready_file is not None:
            write_ready_file(self.options.ready_file, self.ready_document())
        return self.base_url

    async def stop(self) -> None:
        """Stop timers, let running invocations finish (bounded), close the server."""
        for loop_task in self._loops:
            loop_task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        await asyncio.gather(self._drain_timers(), self._drain_background(), self._close_server())
        self.invoker.shutdown()
        if self.options.ready_file is not None:
            with contextlib.suppress(FileNotFoundError):
                self.options.ready_file.unlink()

    async def _drain_timers(self) -> None:
        idle = await asyncio.gather(
            *(r.wait_idle(SHUTDOWN_GRACE_SECONDS) for r in self.timers.values())
        )
        if not all(idle):
            log.warning("A timer run was still going after %ss; stopping", SHUTDOWN_GRACE_SECONDS)

    async def _drain_background(self) -> None:
        if self._background:
            _, pending = await asyncio.wait(self._background, timeout=SHUTDOWN_GRACE_SECONDS)
            for task in pending:
                task.cancel()

    async def _close_server(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # ----------------------------------------------------------------- description
    def ready_document(self) -> dict[str, Any]:
        functions: list[dict[str, Any]] = []
        for spec in self.discovery.functions:
            entry = spec.describe()
            if isinstance(spec, HttpFunction):
                entry["url"] = self.base_url + spec.route.path
            elif isinstance(spec, EventGridFunction):
                entry["webhook_url"] = (
                    f"{self.base_url}/runtime/webhooks/EventGrid?functionName={spec.name}"
                )
                entry["admin_url"] = f"{self.base_url}/admin/functions/{spec.name}"
            else:
                entry["admin_url"] = f"{self.base_url}/admin/functions/{spec.name}"
                entry["scheduled"] = self.options.run_timers
            functions.append(entry)
        return {
            "base_url": self.base_url,
            "function_key": self.key.value,
            "key_source": self.key.source,
            "pid": os.getpid(),
            "route_prefix": self.route_prefix,
            "functions": functions,
            "skipped": [s.describe() for s in self.discovery.skipped],
        }

    def _announce(self) -> None:
        lines = [f"devhost listening on {self.base_url} (function key: {self.key.source})"]
        for entry in self.ready_document()["functions"]:
            if entry["trigger"] == "httpTrigger":
                methods = ",".join(entry["methods"] or ["*"])
                where = f"[{methods}] {entry['url']} ({entry['auth_level']})"
            elif entry["trigger"] == "eventGridTrigger":
                where = entry["webhook_url"]
            else:
                where = f"schedule '{entry['schedule']}'"
            lines.append(f"  {entry['name']}: {entry['trigger']} {where}")
        for skipped in self.discovery.skipped:
            lines.append(f"  {skipped.name}: skipped ({skipped.reason})")
        log.info("\n".join(lines))

    # ----------------------------------------------------------------- dispatch
    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        lowered = path.lower().rstrip("/")
        if lowered == EVENT_GRID_PATH:
            return await self._event_grid(request)
        if lowered.startswith(ADMIN_PREFIX):
            return await self._admin(request, path[len(ADMIN_PREFIX) :].strip("/"))
        return await self._http_function(request)

    def _find_http(self, request: web.Request) -> tuple[HttpFunction, dict[str, str]] | None:
        raw_path = request.rel_url.raw_path
        for spec in self._http:
            found = spec.route.match(raw_path)
            if found is not None and spec.allows(request.method):
                return spec, found.params
        return None

    async def _http_function(self, request: web.Request) -> web.StreamResponse:
        found = self._find_http(request)
        if found is None:
            return web.Response(status=404)
        spec, route_params = found
        if spec.auth_level != "ANONYMOUS" and not self.key.accepts(request):
            return web.Response(status=401)
        body = await request.read()
        http_request = build_http_request(request, body, route_params)
        try:
            response: web.Response = await self.invoker.call(
                spec, http_request, "HTTP", encode_http_response
            )
        except InvocationFailed:
            return web.Response(status=500)
        return response

    async def _event_grid(self, request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            return web.Response(status=405, headers={"Allow": "POST"})
        if not self.key.accepts(request):
            return web.Response(status=401)
        name = request.query.get("functionName", "")
        spec = self.discovery.by_name(name) if name else None
        if not isinstance(spec, EventGridFunction):
            return _text(404, f"cannot find function: '{name}'")
        kind = request.headers.get("aeg-event-type", "").lower()
        body = await request.read()
        try:
            if kind == "subscriptionvalidation":
                try:
                    document = json.loads(body.decode("utf-8"))
                except (UnicodeDecodeError, ValueError, RecursionError) as exc:
                    raise BadEvent(f"body is not valid JSON: {exc}") from exc
                code = validation_code(document)
                log.info("Event Grid handshake for function '%s'", spec.name)
                return web.json_response({"validationResponse": code})
            if kind == "notification":
                events = [to_function_event(e) for e in parse_event_body(body)]
                return await self._deliver(spec, events)
        except BadEvent as exc:
            log.warning("Event Grid request for '%s' refused: %s", spec.name, exc)
            return _text(400, str(exc))
        if kind == "unsubscribe":
            return web.Response(status=202)
        return _text(
            400, "aeg-event-type must be SubscriptionValidation, Notification or Unsubscribe"
        )

    async def _deliver(self, spec: FunctionSpec, events: Iterable[Any]) -> web.Response:
        results = await asyncio.gather(
            *(self.invoker.call(spec, event, "EventGrid") for event in events),
            return_exceptions=True,
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        for failure in failures:
            if not isinstance(failure, InvocationFailed):
                raise failure
        if failures:
            # 500 makes Event Grid retry the whole batch, as the extension does.
            return _text(500, f"{len(failures)} of {len(results)} event(s) failed")
        return web.Response(status=200)

    async def _admin(self, request: web.Request, name: str) -> web.StreamResponse:
        if request.method != "POST":
            return web.Response(status=405, headers={"Allow": "POST"})
        if not self.key.accepts(request):
            return web.Response(status=401)
        spec = self.discovery.by_name(name) if name else None
        if spec is None:
            return _text(404, f"cannot find function: '{name}'")
        body = await request.read()
        try:
            payload = json.loads(body.decode("utf-8")) if body.strip() else {}
        except (UnicodeDecodeError, ValueError, RecursionError):
            return _text(400, 'body must be JSON: {"input": "..."}')
        if not isinstance(payload, dict):
            return _text(400, 'body must be a JSON object: {"input": "..."}')
        given = payload.get("input", "")
        if given is not None and not isinstance(given, (str, int, float, bool)):
            return _text(400, "input must be a string, number or boolean")
        if isinstance(spec, HttpFunction):
            return _text(400, f"'{spec.name}' is an HTTP function: call {spec.route.path}")
        if isinstance(spec, TimerFunction):
            runner = self.timers[spec.name.lower()]
            if not runner.try_start(past_due=False, reason="Manual"):
                return _text(409, f"'{spec.name}' is still running")
            return web.Response(status=202)
        try:
            if not isinstance(given, str):
                raise BadEvent("input must be the event as a JSON string")
            events = parse_event_body(given.encode("utf-8"))
            if len(events) != 1:
                raise BadEvent("input must hold exactly one event")
            event = to_function_event(events[0])
        except BadEvent as exc:
            return _text(400, str(exc))
        task = asyncio.create_task(self._invoke_quietly(spec, event, "Manual"))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return web.Response(status=202)

    async def _invoke_quietly(self, spec: FunctionSpec, value: Any, reason: str) -> None:
        with contextlib.suppress(InvocationFailed):  # already logged by the invoker
            await self.invoker.call(spec, value, reason)

    def _timer_invoker(self, spec: TimerFunction) -> Any:
        async def run(past_due: bool, reason: str) -> None:
            if past_due:
                log.warning("Timer '%s' is past due", spec.name)
            await self._invoke_quietly(spec, TimerRequest(past_due=past_due), reason)

        return run


def write_ready_file(path: Path, document: dict[str, Any]) -> None:
    """Atomically, readable by the owner only (it holds the function key)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")
    os.replace(tmp, path)
