"""A one-route app for host.json routePrefix, generated keys and --no-timers."""

from __future__ import annotations

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.route(route="hello", methods=["GET"])
def hello(req: func.HttpRequest) -> str:
    return "hello"


@app.timer_trigger(arg_name="timer", schedule="*/1 * * * * *", run_on_startup=True)
def ticker(timer: func.TimerRequest) -> None:
    raise RuntimeError("a timer that fails when run")
