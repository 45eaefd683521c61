"""Event Grid: subscriptions on the workspace that receive ModelRegistered by webhook.

Admin API (admin key required, like every ``/_emulator/`` route):

* ``POST /_emulator/eventgrid/subscriptions`` creates one (409 if the name exists), 201;
* ``GET /_emulator/eventgrid/subscriptions`` lists them; ``GET .../{name}`` shows one with its
  recent deliveries; ``DELETE .../{name}`` removes one (404 if absent).

Subscriptions can also come from a JSON file (a list, or ``{"subscriptions": [...]}``) named by
``ctx.extras["eventgrid_subscriptions_file"]``, or ``eventgrid-subscriptions.json`` in the state
directory. A subscription (property names follow ARM's ``Microsoft.EventGrid/
eventSubscriptions``)::

    {"name": "autocanary", "endpointUrl": "http://127.0.0.1:7071/runtime/webhooks/EventGrid?functionName=on_model_registered",
     "filter": {"subjectBeginsWith": "models/fraud-", "subjectEndsWith": "",
                "includedEventTypes": ["Microsoft.MachineLearningServices.ModelRegistered"],
                "isSubjectCaseSensitive": false},
     "retryPolicy": {"maxDeliveryAttempts": 30, "eventTimeToLiveInMinutes": 1440},
     "deliverTwice": false}

Delivery: each event is POSTed as a one-element JSON array in the Event Grid schema with the
headers ``aeg-event-type: Notification``, ``aeg-subscription-name``, ``aeg-delivery-count``,
``aeg-data-version`` and ``aeg-metadata-version``. Only 200-204 count as delivered; otherwise
the delivery is retried with exponential backoff (``ctx.extras["eventgrid_retry_base_seconds"]``,
default 1 s, doubling up to ``eventgrid_retry_max_seconds``, default 60 s; an emulator
extension: Event Grid's own schedule starts at 10 s) until ``maxDeliveryAttempts`` or the event
time-to-live runs out. ``deliverTwice`` (or ``ctx.extras["eventgrid_deliver_twice"]``) delivers
every event a second time after the first success, with the same id, to test idempotency.

The event follows Azure ML's documented sample
(https://learn.microsoft.com/azure/event-grid/event-schema-machine-learning): topic = the
workspace resource id, subject ``models/{name}:{version}``, data ``{ModelName, ModelVersion,
ModelTags, ModelProperties}``, ``dataVersion`` "", ``metadataVersion`` "1". ``ModelVersion`` is
a string (the SDKs' typed schema); set ``ctx.extras["eventgrid_model_version_as_number"]`` to send
a number, as the documented sample does.

Not emulated: the subscription validation handshake (``SubscriptionValidationEvent``), which the
Functions host answers by itself for Event Grid triggers; dead-lettering; advanced filters.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from emulator.addon_http import (
    admin_problem,
    check_webhook_url,
    error_response,
    iso_time,
    json_response,
    load_config_list,
    read_json,
    ssl_for,
)
from emulator.context import Context

log = logging.getLogger("emulator.eventgrid")

MODEL_REGISTERED = "Microsoft.MachineLearningServices.ModelRegistered"
CALL_TIMEOUT = 30.0


@dataclass
class Subscription:
    name: str
    url: str
    subject_begins_with: str = ""
    subject_ends_with: str = ""
    event_types: list[str] | None = None
    case_sensitive: bool = False
    max_attempts: int = 30
    ttl_minutes: float = 1440.0
    deliver_twice: bool = False
    deliveries: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=100))

    def matches(self, event: Mapping[str, Any]) -> bool:
        if self.event_types is not None and event["eventType"].lower() not in {
            t.lower() for t in self.event_types
        }:
            return False
        subject = str(event["subject"])
        begins, ends = self.subject_begins_with, self.subject_ends_with
        if not self.case_sensitive:
            subject, begins, ends = subject.lower(), begins.lower(), ends.lower()
        return subject.startswith(begins) and subject.endswith(ends)

    def spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "endpointUrl": self.url,
            "filter": {
                "subjectBeginsWith": self.subject_begins_with,
                "subjectEndsWith": self.subject_ends_with,
                "includedEventTypes": self.event_types,
                "isSubjectCaseSensitive": self.case_sensitive,
            },
            "retryPolicy": {
                "maxDeliveryAttempts": self.max_attempts,
                "eventTimeToLiveInMinutes": self.ttl_minutes,
            },
            "deliverTwice": self.deliver_twice,
        }


def parse_subscription(raw: Any) -> Subscription:
    """A subscription from its JSON form; ValueError naming the problem when it is invalid."""
    if not isinstance(raw, dict):
        raise ValueError("a subscription must be a JSON object")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or "/" in name:
        raise ValueError("'name' must be a non-empty string without '/'")
    url = check_webhook_url(raw.get("endpointUrl"))
    flt = raw.get("filter") or {}
    if not isinstance(flt, dict):
        raise ValueError("filter must be an object")
    types = flt.get("includedEventTypes")
    if types is not None and (
        not isinstance(types, list) or not all(isinstance(t, str) and t for t in types)
    ):
        raise ValueError("includedEventTypes must be a list of event type names")
    for key in ("subjectBeginsWith", "subjectEndsWith"):
        if not isinstance(flt.get(key, ""), str):
            raise ValueError(f"{key} must be a string")
    retry = raw.get("retryPolicy") or {}
    if not isinstance(retry, dict):
        raise ValueError("retryPolicy must be an object")
    attempts = retry.get("maxDeliveryAttempts", 30)
    ttl = retry.get("eventTimeToLiveInMinutes", 1440)
    # Event Grid's limits: 1-30 attempts, 1-1440 minutes.
    if not isinstance(attempts, int) or isinstance(attempts, bool) or not 1 <= attempts <= 30:
        raise ValueError("maxDeliveryAttempts must be an integer 1..30")
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl <= 1440:
        raise ValueError("eventTimeToLiveInMinutes must be in (0, 1440]")
    return Subscription(
        name=name,
        url=url,
        subject_begins_with=str(flt.get("subjectBeginsWith") or ""),
        subject_ends_with=str(flt.get("subjectEndsWith") or ""),
        event_types=list(types) if types is not None else None,
        case_sensitive=bool(flt.get("isSubjectCaseSensitive", False)),
        max_attempts=attempts,
        ttl_minutes=float(ttl),
        deliver_twice=bool(raw.get("deliverTwice", False)),
    )


class EventGrid:
    """Subscriptions and delivery; installed as ``ctx.events`` (an ``EventSink``)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.subscriptions: dict[str, Subscription] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending: list[dict[str, Any]] = []

    # -- EventSink
    def model_registered(
        self,
        name: str,
        version: str,
        tags: Mapping[str, str],
        properties: Mapping[str, str],
    ) -> None:
        """Emit ModelRegistered to every matching subscription (callable from any thread)."""
        model_version: Any = str(version)
        if self.ctx.extras.get("eventgrid_model_version_as_number"):
            with contextlib.suppress(ValueError):
                model_version = int(version)
        event = {
            "topic": self.ctx.identity.workspace_id,
            "subject": f"models/{name}:{version}",
            "eventType": MODEL_REGISTERED,
            "eventTime": iso_time(time.time()),
            "id": str(uuid.uuid4()),
            "data": {
                "ModelName": name,
                "ModelVersion": model_version,
                "ModelTags": dict(tags),
                "ModelProperties": dict(properties),
            },
            "dataVersion": "",
            "metadataVersion": "1",
        }
        self.publish(event)

    def publish(self, event: dict[str, Any]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            self._pending.append(event)
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._dispatch(event)
        else:
            loop.call_soon_threadsafe(self._dispatch, event)

    def _dispatch(self, event: dict[str, Any]) -> None:
        assert self._loop is not None
        for sub in list(self.subscriptions.values()):
            if sub.matches(event):
                task = self._loop.create_task(self._deliver(sub, event))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    # -- delivery
    async def _deliver(self, sub: Subscription, event: dict[str, Any]) -> None:
        copies = 2 if sub.deliver_twice or self.ctx.extras.get("eventgrid_deliver_twice") else 1
        for _ in range(copies):
            if not await self._deliver_once(sub, event):
                return

    async def _deliver_once(self, sub: Subscription, event: dict[str, Any]) -> bool:
        assert self._session is not None
        base = float(self.ctx.extras.get("eventgrid_retry_base_seconds", 1.0))
        cap = float(self.ctx.extras.get("eventgrid_retry_max_seconds", 60.0))
        expires = time.time() + sub.ttl_minutes * 60.0
        entry: dict[str, Any] = {"id": event["id"], "subject": event["subject"], "attempts": []}
        sub.deliveries.append(entry)
        body = json.dumps([event]).encode()
        for attempt in range(1, sub.max_attempts + 1):
            headers = {
                "Content-Type": "application/json",
                "aeg-event-type": "Notification",
                "aeg-subscription-name": sub.name.upper(),
                "aeg-delivery-count": str(attempt - 1),
                "aeg-data-version": str(event.get("dataVersion", "")),
                "aeg-metadata-version": str(event.get("metadataVersion", "1")),
            }
            try:
                async with self._session.post(
                    sub.url,
                    data=body,
                    headers=headers,
                    ssl=ssl_for(sub.url),
                    timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT),
                ) as resp:
                    await resp.read()
                    entry["attempts"].append({"at": iso_time(time.time()), "status": resp.status})
                    if 200 <= resp.status <= 204:
                        entry["delivered"] = True
                        return True
            except (aiohttp.ClientError, TimeoutError) as exc:
                entry["attempts"].append({"at": iso_time(time.time()), "error": repr(exc)})
            delay = min(cap, base * 2 ** (attempt - 1))
            if attempt == sub.max_attempts or time.time() + delay > expires:
                break
            await asyncio.sleep(delay)
        entry["delivered"] = False
        log.warning("event %s to %s was not delivered", event["id"], sub.name)
        return False

    async def start(self, app: web.Application) -> None:
        self._loop = asyncio.get_running_loop()
        self._session = aiohttp.ClientSession()
        pending, self._pending = self._pending, []
        for event in pending:
            self._dispatch(event)

    async def stop(self, app: web.Application) -> None:
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._loop = None
        if self._session is not None:
            await self._session.close()


EVENTGRID_KEY = web.AppKey("emulator.eventgrid", EventGrid)


def setup(app: web.Application, ctx: Context) -> None:
    """Install the Event Grid sink as ``ctx.events`` and add its admin API."""
    grid = EventGrid(ctx)
    for raw in load_config_list(
        ctx, "eventgrid_subscriptions_file", "eventgrid-subscriptions.json", "subscriptions"
    ):
        sub = parse_subscription(raw)
        if sub.name in grid.subscriptions:
            raise ValueError(f"Event Grid subscriptions file names {sub.name!r} twice")
        grid.subscriptions[sub.name] = sub
    ctx.events = grid
    app[EVENTGRID_KEY] = grid

    async def create(request: web.Request) -> web.Response:
        problem = admin_problem(request, ctx)
        if problem is not None:
            return problem
        raw = await read_json(request)
        try:
            sub = parse_subscription(raw)
        except ValueError as exc:
            return error_response(400, "BadRequest", f"Invalid subscription: {exc}")
        if sub.name in grid.subscriptions:
            return error_response(409, "Conflict", f"Subscription {sub.name!r} already exists.")
        grid.subscriptions[sub.name] = sub
        return json_response(sub.spec(), 201)

    async def list_subs(request: web.Request) -> web.Response:
        problem = admin_problem(request, ctx)
        if problem is not None:
            return problem
        return json_response({"value": [s.spec() for s in grid.subscriptions.values()]})

    async def get_sub(request: web.Request) -> web.Response:
        problem = admin_problem(request, ctx)
        if problem is not None:
            return problem
        sub = grid.subscriptions.get(request.match_info["name"])
        if sub is None:
            return error_response(404, "ResourceNotFound", "No such subscription.")
        return json_response({**sub.spec(), "deliveries": list(sub.deliveries)})

    async def delete_sub(request: web.Request) -> web.Response:
        problem = admin_problem(request, ctx)
        if problem is not None:
            return problem
        if grid.subscriptions.pop(request.match_info["name"], None) is None:
            return error_response(404, "ResourceNotFound", "No such subscription.")
        return web.Response(status=204)

    app.router.add_post("/_emulator/eventgrid/subscriptions", create)
    app.router.add_get("/_emulator/eventgrid/subscriptions", list_subs)
    app.router.add_get("/_emulator/eventgrid/subscriptions/{name}", get_sub)
    app.router.add_delete("/_emulator/eventgrid/subscriptions/{name}", delete_sub)
    app.on_startup.append(grid.start)
    app.on_cleanup.append(grid.stop)
