"""Event Grid: subscriptions on the workspace that receive ModelRegistered by webhook.

Admin API (admin key required, like every ``/_emulator/`` route):

* ``POST /_emulator/eventgrid/subscriptions`` creates one (409 if the name exists), 201;
* ``GET /_emulator/eventgrid/subscriptions`` lists them; ``GET .../{name}`` shows one with its
  recent deliveries; ``DELETE .../{name}`` removes one (404 if absent).

Subscriptions can also come from a JSON file (a list, or ``{"subscriptions": [...]}``) named by
``ctx.extras["eventgrid_subscriptions_file"]``, or ``eventgrid-subscriptions.json`` in the state
directory. A subscription (property names follow ARM's ``Microsoft.EventGrid/
eventSubscriptions``; the ARM form ``{"name", "properties": {"destination": {"endpointType":
"WebHook", "properties": {"endpointUrl"}}, "filter", "retryPolicy", "deadLetterDestination"}}``
is accepted too)::

    {"name": "autocanary", "endpointUrl": "http://127.0.0.1:7071/runtime/webhooks/EventGrid?functionName=on_model_registered",
     "filter": {"subjectBeginsWith": "models/fraud-", "subjectEndsWith": "",
                "includedEventTypes": ["Microsoft.MachineLearningServices.ModelRegistered"],
                "isSubjectCaseSensitive": false},
     "retryPolicy": {"maxDeliveryAttempts": 30, "eventTimeToLiveInMinutes": 1440},
     "deadLetterDestination": {"endpointType": "StorageBlob",
                               "properties": {"resourceId": "<storage account id>",
                                              "blobContainerName": "deadletter"}},
     "deliverTwice": false}

Delivery (https://learn.microsoft.com/azure/event-grid/delivery-and-retry, MicrosoftDocs/
azure-docs ``articles/event-grid/delivery-and-retry.md``): each event is POSTed as a
one-element JSON array in the Event Grid schema with the headers ``aeg-event-type:
Notification``, ``aeg-subscription-name``, ``aeg-delivery-count``, ``aeg-data-version`` and
``aeg-metadata-version``; the call times out after 30 s. Only 200-204 count as delivered. 400,
413, 401 and 403 are not retried (dead-lettered at once when dead-lettering is configured,
dropped otherwise); every other failure is retried on Azure's schedule: after 10 s, 30 s,
1 min, 5 min, 10 min, 30 min, 1 h, 3 h, 6 h, then every 12 h, until ``maxDeliveryAttempts``
or the event's time to live (``eventTimeToLiveInMinutes``) runs out, whichever comes first;
then the event is dead-lettered, or dropped. ``ctx.extras["eventgrid_retry_time_scale"]`` (1
by default; CLI ``--eventgrid-time-scale``) multiplies every duration of that schedule (and
the time to live and the dead-letter delay) so that tests can run it in seconds.

Dead-lettering: Azure writes a dead-lettered event to the subscription's blob container about
five minutes after the last attempt, as the event with ``deadLetterReason``
(``MaxDeliveryAttemptsExceeded``, ``TimeToLiveExceeded``, ``UndeliverableDueToHttpBadRequest``,
...), ``deliveryAttempts``, ``lastDeliveryOutcome``, ``lastHttpStatusCode``, ``publishTime`` and
``lastDeliveryAttemptTime`` added (delivery-and-retry.md, "Dead-letter event"). Here the
container is a directory: ``<dead-letter dir>/<blobContainerName>/<TOPIC>/<SUBSCRIPTION>/
yyyy/mm/dd/hh/<uuid>.json`` holding a JSON array with that event; the dead-letter dir is
``ctx.extras["eventgrid_dead_letter_dir"]`` (CLI ``--eventgrid-dead-letter-dir``), by default
``<state_dir>/deadletter``. ``deliverTwice`` (or ``ctx.extras["eventgrid_deliver_twice"]``)
delivers every event a second time after the first success, with the same id, to test
idempotency.

The event: topic = the workspace resource id, subject ``models/{name}:{version}``,
``dataVersion`` "", ``metadataVersion`` "1" (https://learn.microsoft.com/azure/event-grid/
event-schema-machine-learning). Its data follows the schema of azure-rest-api-specs
``specification/eventgrid/data-plane/Microsoft.MachineLearningServices/stable/2018-01-01/
MachineLearningServices.json`` (``ModelRegisteredEventData``): camelCase ``modelName``,
``modelVersion``, ``modelTags``, ``modelProperties``. ``ctx.extras["eventgrid_data_casing"] =
"pascal"`` (CLI ``--eventgrid-data-casing pascal``) sends Microsoft's documented sample's
PascalCase (``ModelName``, ...) instead. ``modelVersion`` is a string (Azure ML versions are
strings; the SDKs' typed models); ``ctx.extras["eventgrid_model_version_as_number"]`` (CLI
``--eventgrid-numeric-version``) sends a number, as the sample and the spec's ``integer`` do.

Not emulated: the subscription validation handshake (``SubscriptionValidationEvent``), which the
Functions host answers by itself for Event Grid triggers; advanced filters; the small random
jitter Azure adds to the schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from emulator.addon_http import (
    admin_route,
    error_response,
    iso_time,
    json_response,
    load_config_list,
    read_json,
    redact_url,
    ssl_for,
)
from emulator.context import Context
from emulator.eventgrid_subscriptions import (
    MODEL_REGISTERED,
    Subscription,
    model_registered_data,
    parse_subscription,
)

__all__ = [
    "MODEL_REGISTERED",
    "EventGrid",
    "Subscription",
    "model_registered_data",
    "parse_subscription",
    "retry_delay",
    "setup",
]

log = logging.getLogger("emulator.eventgrid")

CALL_TIMEOUT = 30.0
# Seconds to wait after attempt n (n = 1, 2, ...); after the last entry, every 12 hours.
RETRY_SCHEDULE = (10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 10800.0, 21600.0)
RETRY_EVERY_LATER = 43200.0
# Webhook answers Event Grid does not retry (delivery-and-retry.md, "Retry schedule").
NO_RETRY_STATUSES = frozenset({400, 401, 403, 413})
DEAD_LETTER_DELAY = 300.0  # "a five-minute delay between the last attempt and ... dead-letter"


def retry_delay(attempt: int) -> float:
    """Seconds Event Grid waits after failed attempt ``attempt`` (1-based), unscaled."""
    if attempt <= len(RETRY_SCHEDULE):
        return RETRY_SCHEDULE[attempt - 1]
    return RETRY_EVERY_LATER


def _outcome(status: int | None) -> str:
    """``lastDeliveryOutcome`` for an answer (``None``: no answer)."""
    if status is None:
        return "TimedOut"
    if status == 408:
        return "TimedOut"
    try:
        return HTTPStatus(status).phrase.replace(" ", "").replace("-", "")
    except ValueError:
        return "GenericError"


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
        data = model_registered_data(
            name,
            version,
            tags,
            properties,
            casing=str(self.ctx.extras.get("eventgrid_data_casing") or "camel"),
            numeric_version=bool(self.ctx.extras.get("eventgrid_model_version_as_number")),
        )
        event = {
            "topic": self.ctx.identity.workspace_id,
            "subject": f"models/{name}:{version}",
            "eventType": MODEL_REGISTERED,
            "eventTime": iso_time(time.time()),
            "id": str(uuid.uuid4()),
            "data": data,
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

    def _scale(self) -> float:
        return float(self.ctx.extras.get("eventgrid_retry_time_scale", 1.0))

    async def _deliver_once(self, sub: Subscription, event: dict[str, Any]) -> bool:
        assert self._session is not None
        scale = self._scale()
        published = time.time()
        expires = published + sub.ttl_minutes * 60.0 * scale
        entry: dict[str, Any] = {"id": event["id"], "subject": event["subject"], "attempts": []}
        sub.deliveries.append(entry)
        body = json.dumps([event]).encode()
        status: int | None = None
        reason = "MaxDeliveryAttemptsExceeded"
        attempt = 0
        for attempt in range(1, sub.max_attempts + 1):
            headers = {
                "Content-Type": "application/json",
                "aeg-event-type": "Notification",
                "aeg-subscription-name": sub.name.upper(),
                "aeg-delivery-count": str(attempt - 1),
                "aeg-data-version": str(event.get("dataVersion", "")),
                "aeg-metadata-version": str(event.get("metadataVersion", "1")),
            }
            status = None
            try:
                async with self._session.post(
                    sub.url,
                    data=body,
                    headers=headers,
                    ssl=ssl_for(sub.url),
                    timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT),
                ) as resp:
                    await resp.read()
                    status = resp.status
                    entry["attempts"].append({"at": iso_time(time.time()), "status": status})
                    if 200 <= status <= 204:
                        entry["delivered"] = True
                        return True
            except (aiohttp.ClientError, TimeoutError) as exc:
                entry["attempts"].append({"at": iso_time(time.time()), "error": repr(exc)})
            if status in NO_RETRY_STATUSES:
                reason = (
                    "UndeliverableDueToHttpBadRequest"
                    if status == 400
                    else "UndeliverableDueToClientError"
                )
                break
            delay = retry_delay(attempt) * scale
            if attempt == sub.max_attempts:
                break
            if time.time() + delay > expires:
                reason = "TimeToLiveExceeded"
                break
            await asyncio.sleep(delay)
        entry["delivered"] = False
        log.warning(
            "event %s to subscription %s (%s) was not delivered: %s",
            event["id"],
            sub.name,
            redact_url(sub.url),
            reason,
        )
        if sub.dead_letter is not None:
            entry["deadLettered"] = reason
            await asyncio.sleep(DEAD_LETTER_DELAY * scale)
            dead = {
                **event,
                "deadLetterReason": reason,
                "deliveryAttempts": attempt,
                "lastDeliveryOutcome": _outcome(status),
                "publishTime": iso_time(published),
                "lastDeliveryAttemptTime": entry["attempts"][-1]["at"],
            }
            if status is not None:
                dead["lastHttpStatusCode"] = status
            entry["deadLetterBlob"] = str(
                await asyncio.to_thread(self._write_dead_letter, sub, dead)
            )
        return False

    def dead_letter_root(self) -> Path:
        configured = self.ctx.extras.get("eventgrid_dead_letter_dir")
        return Path(configured) if configured else self.ctx.state_dir / "deadletter"

    def _write_dead_letter(self, sub: Subscription, dead: dict[str, Any]) -> Path:
        assert sub.dead_letter is not None
        container = str(sub.dead_letter["properties"]["blobContainerName"])
        topic = str(dead.get("topic", "")).rstrip("/").rsplit("/", 1)[-1].upper()
        now = datetime.now(UTC)
        folder = (
            self.dead_letter_root()
            / container
            / topic
            / sub.name.upper()
            / f"{now.year}/{now.month}/{now.day}/{now.hour}"
        )
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{uuid.uuid4()}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps([dead], indent=2))
        os.replace(tmp, path)
        return path

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

    admin = admin_route(ctx)

    @admin
    async def create(request: web.Request) -> web.Response:
        raw = await read_json(request)
        try:
            sub = parse_subscription(raw)
        except ValueError as exc:
            return error_response(400, "BadRequest", f"Invalid subscription: {exc}")
        if sub.name in grid.subscriptions:
            return error_response(409, "Conflict", f"Subscription {sub.name!r} already exists.")
        grid.subscriptions[sub.name] = sub
        return json_response(sub.view(), 201)

    @admin
    async def list_subs(request: web.Request) -> web.Response:
        return json_response({"value": [s.view() for s in grid.subscriptions.values()]})

    @admin
    async def get_sub(request: web.Request) -> web.Response:
        sub = grid.subscriptions.get(request.match_info["name"])
        if sub is None:
            return error_response(404, "ResourceNotFound", "No such subscription.")
        return json_response({**sub.view(), "deliveries": list(sub.deliveries)})

    @admin
    async def delete_sub(request: web.Request) -> web.Response:
        if grid.subscriptions.pop(request.match_info["name"], None) is None:
            return error_response(404, "ResourceNotFound", "No such subscription.")
        return web.Response(status=204)

    app.router.add_post("/_emulator/eventgrid/subscriptions", create)
    app.router.add_get("/_emulator/eventgrid/subscriptions", list_subs)
    app.router.add_get("/_emulator/eventgrid/subscriptions/{name}", get_sub)
    app.router.add_delete("/_emulator/eventgrid/subscriptions/{name}", delete_sub)
    app.on_startup.append(grid.start)
    app.on_cleanup.append(grid.stop)
