"""Discovering functions from a FunctionApp's own declared bindings."""

from __future__ import annotations

from typing import Any

import azure.functions as func
import pytest

from devhost.bindings import (
    AppLoadError,
    Discovery,
    EventGridFunction,
    HttpFunction,
    TimerFunction,
    discover,
)


def build_app() -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
    bp = func.Blueprint()

    @app.route(route="items/{id:int}", methods=["GET", "post"])
    def items(req: func.HttpRequest) -> str:
        return "x"

    @app.function_name("renamed")
    @app.route(auth_level=func.AuthLevel.ANONYMOUS)
    def original_name(req: func.HttpRequest) -> str:
        return "x"

    @bp.event_grid_trigger(arg_name="event")
    async def on_event(event: func.EventGridEvent) -> None:
        return None

    @bp.timer_trigger(arg_name="timer", schedule="%SCHEDULE%", run_on_startup=True)
    def tick(timer: func.TimerRequest, context: func.Context) -> None:
        return None

    @bp.queue_trigger(arg_name="msg", queue_name="q", connection="AzureWebJobsStorage")
    def on_queue(msg: func.QueueMessage) -> None:
        return None

    @bp.route(route="with-blob")
    @bp.blob_output(arg_name="out", path="c/b.txt", connection="AzureWebJobsStorage")
    def with_blob(req: func.HttpRequest, out: func.Out[str]) -> str:
        return "x"

    @bp.timer_trigger(arg_name="timer", schedule="not a schedule")
    def bad_schedule(timer: func.TimerRequest) -> None:
        return None

    app.register_functions(bp)
    return app


@pytest.fixture
def found() -> Discovery:
    return discover(build_app(), "api", environ={"SCHEDULE": "*/5 * * * * *"})


def spec(found: Discovery, name: str) -> Any:
    result = found.by_name(name)
    assert result is not None, name
    return result


def test_http_function_route_methods_and_auth(found: Discovery) -> None:
    """Route under the prefix, upper-cased methods and the app's default auth level."""
    items = spec(found, "items")
    assert isinstance(items, HttpFunction)
    assert items.route.path == "/api/items/{id:int}"
    assert items.methods == frozenset({"GET", "POST"})
    assert items.auth_level == "FUNCTION"
    assert items.trigger_arg == "req"


def test_function_name_decorator_and_default_route(found: Discovery) -> None:
    """@function_name renames; a route-less function is served at its name."""
    renamed = spec(found, "renamed")
    assert renamed.route.path == "/api/renamed"
    assert renamed.methods is None and renamed.auth_level == "ANONYMOUS"


def test_event_grid_function_is_async(found: Discovery) -> None:
    """Coroutine functions are recognised as async."""
    on_event = spec(found, "on_event")
    assert isinstance(on_event, EventGridFunction) and on_event.is_async


def test_timer_schedule_from_setting_and_context(found: Discovery) -> None:
    """%SCHEDULE% is resolved; run_on_startup and a context parameter are noticed."""
    tick = spec(found, "tick")
    assert isinstance(tick, TimerFunction)
    assert tick.schedule.expression == "*/5 * * * * *"
    assert tick.run_on_startup and tick.wants_context


def test_unsupported_functions_are_skipped_with_reasons(found: Discovery) -> None:
    """Queue triggers, extra bindings and bad schedules are skipped, not fatal."""
    reasons = {s.name: s.reason for s in found.skipped}
    assert "not supported by devhost" in reasons["on_queue"]
    assert "'out'" in reasons["with_blob"] and "not supported by devhost" in reasons["with_blob"]
    assert "bad_schedule" in reasons
    served = {s.name for s in found.functions}
    assert served == {"items", "renamed", "on_event", "tick"}


def test_lookup_by_name_ignores_case(found: Discovery) -> None:
    """Function names are case-insensitive, as in the host."""
    assert found.by_name("ITEMS") is spec(found, "items")


def test_get_functions_is_called_once() -> None:
    """discover() calls get_functions() exactly once (a second call raises)."""
    calls = 0

    class OnceApp:
        def get_functions(self) -> list[Any]:
            nonlocal calls
            calls += 1
            return []

    result = discover(OnceApp(), "api", environ={})
    assert calls == 1 and result.functions == []


def test_object_without_get_functions_is_refused() -> None:
    """Something that is not a FunctionApp raises AppLoadError."""
    with pytest.raises(AppLoadError, match="get_functions"):
        discover(object(), "api", environ={})


def test_get_functions_failure_is_reported() -> None:
    """A failing get_functions() (e.g. duplicate names) becomes AppLoadError."""
    app = build_app()
    app.get_functions()  # the library refuses a second call
    with pytest.raises(AppLoadError, match="get_functions"):
        discover(app, "api", environ={"SCHEDULE": "* * * * * *"})


def test_parameter_without_binding_is_skipped() -> None:
    """A parameter that is no binding (the worker refuses to load it) skips the function."""
    app = func.FunctionApp()

    @app.route(route="odd")
    def odd(req: func.HttpRequest, extra: int = 1) -> str:
        return "x"

    found = discover(app, "api", environ={})
    assert found.functions == []
    assert "extra" in found.skipped[0].reason
