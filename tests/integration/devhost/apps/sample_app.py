"""A small function app exercising every trigger devhost serves (and one it does not).

Every invocation appends one JSON line to the file named by the DEVHOST_TEST_RECORD app
setting. The setting is read at import time, so the app only loads when devhost has put
local.settings.json into the environment before importing it.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from typing import Any

import azure.functions as func

RECORD = os.environ["DEVHOST_TEST_RECORD"]
_lock = threading.Lock()

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
bp = func.Blueprint()


def record(function: str, **fields: Any) -> None:
    line = json.dumps({"function": function, "at": time.time(), **fields})
    with _lock, open(RECORD, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def _json(payload: Any, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(payload), status_code=status, mimetype="application/json")


@app.route(
    route="echo/{id:int}/{name:alpha?}",
    methods=["GET", "POST"],
    auth_level=func.AuthLevel.ANONYMOUS,
)
def echo(req: func.HttpRequest) -> func.HttpResponse:
    return _json(
        {
            "method": req.method,
            "route_params": dict(req.route_params),
            "params": dict(req.params),
            "body": req.get_body().decode("utf-8"),
            "header": req.headers.get("x-test"),
            "url": req.url,
        }
    )


@app.route(route="echo/special", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def echo_special(req: func.HttpRequest) -> str:
    return "special"


@app.route(route="secure", methods=["GET"])
def secure(req: func.HttpRequest) -> str:
    return "secret"


@app.route(route="admin-only", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
def admin_only(req: func.HttpRequest) -> str:
    return "admin"


@app.route(route="made", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def made(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        "<p>made</p>",
        status_code=201,
        headers={"X-Custom": "yes", "Location": "/api/made/1"},
        mimetype="text/html",
        charset="latin-1",
    )


@app.route(route="boom", auth_level=func.AuthLevel.ANONYMOUS)
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("kaboom-secret-detail")


@app.route(route="nothing", auth_level=func.AuthLevel.ANONYMOUS)
def nothing(req: func.HttpRequest) -> func.HttpResponse:
    # Annotated as the worker requires (it refuses `-> None` on an http return); returns no
    # response at run time, which is a failed invocation (500).
    return None  # type: ignore[return-value]


@app.route(route="async", auth_level=func.AuthLevel.ANONYMOUS)
async def async_hello(req: func.HttpRequest) -> func.HttpResponse:
    await asyncio.sleep(0)
    return func.HttpResponse(f"async {req.params.get('who', 'nobody')}")


@app.route(route="context", auth_level=func.AuthLevel.ANONYMOUS)
def with_context(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return _json({"function_name": context.function_name, "invocation_id": context.invocation_id})


@app.route(route="setting/{name}", auth_level=func.AuthLevel.ANONYMOUS)
def setting(req: func.HttpRequest) -> str:
    return os.environ.get(req.route_params["name"], "<unset>")


@bp.event_grid_trigger(arg_name="event")
def on_event(event: func.EventGridEvent) -> None:
    if isinstance(event, func.CloudEvent):
        record("on_event", id=event.id, kind="cloud", type=event.type, data=event.get_json())
        return
    record(
        "on_event",
        id=event.id,
        kind="eventgrid",
        type=event.event_type,
        subject=event.subject,
        data=event.get_json(),
        time=event.event_time.isoformat() if event.event_time else None,
    )
    if event.subject == "fail":
        raise ValueError("subject says fail")


@bp.timer_trigger(arg_name="timer", schedule="*/1 * * * * *", run_on_startup=False)
def every_second(timer: func.TimerRequest) -> None:
    record("every_second", past_due=timer.past_due)


@bp.timer_trigger(arg_name="timer", schedule="0 0 0 1 1 *", run_on_startup=True)
def yearly_on_startup(timer: func.TimerRequest) -> None:
    record("yearly_on_startup", past_due=timer.past_due)


@bp.timer_trigger(arg_name="timer", schedule="*/1 * * * * *")
def slow_tick(timer: func.TimerRequest) -> None:
    record("slow_tick", phase="start")
    time.sleep(1.5)
    record("slow_tick", phase="end")


@bp.timer_trigger(arg_name="timer", schedule="0 0 0 1 1 *")
def slow_manual(timer: func.TimerRequest) -> None:
    record("slow_manual", phase="start")
    time.sleep(1.5)
    record("slow_manual", phase="end")


@bp.timer_trigger(arg_name="timer", schedule="%DEVHOST_TEST_SCHEDULE%")
def from_setting(timer: func.TimerRequest) -> None:
    record("from_setting")


@bp.queue_trigger(arg_name="msg", queue_name="work", connection="AzureWebJobsStorage")
def on_queue(msg: func.QueueMessage) -> None:
    record("on_queue")


app.register_functions(bp)
