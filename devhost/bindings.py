"""Discover an app's functions from their own declared bindings.

``FunctionApp.get_functions()`` builds the function list (and may be called once only: a
second call raises), so :func:`discover` calls it once and keeps the result. Each
``Function`` gives ``get_function_name()``, ``get_trigger()``, ``get_user_function()`` and
``get_function_json()``, the function.json the host would index (Azure/
azure-functions-python-library, azure/functions/decorators/function_app.py).

devhost serves ``httpTrigger`` (with the ``http`` ``$return`` output), ``eventGridTrigger``
and ``timerTrigger`` functions. Anything else, and any function with further input/output
bindings that devhost cannot provide, is skipped with a "not supported by devhost" line.

Parameters are matched as the Python worker matches them: every parameter must be a binding
name, except an optional ``context`` that receives ``azure.functions.Context``
(Azure/azure-functions-python-worker, azure_functions_worker/functions.py, add_function).
"""

from __future__ import annotations

import inspect
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from devhost.cron import NcrontabSchedule, ScheduleError, resolve_setting_reference
from devhost.routes import RouteTemplate, RouteTemplateError, compile_route

log = logging.getLogger("devhost")

HTTP_TRIGGER = "httpTrigger"
EVENT_GRID_TRIGGER = "eventGridTrigger"
TIMER_TRIGGER = "timerTrigger"
SUPPORTED_TRIGGERS = (HTTP_TRIGGER, EVENT_GRID_TRIGGER, TIMER_TRIGGER)
AUTH_LEVELS = ("ANONYMOUS", "FUNCTION", "ADMIN")


class AppLoadError(RuntimeError):
    """The app object cannot be used (not a FunctionApp, get_functions() failed, ...)."""


@dataclass
class FunctionSpec:
    """One servable function; the trigger-specific parts live in the subclasses."""

    name: str
    trigger_type: str
    trigger_arg: str
    user_function: Callable[..., Any]
    is_async: bool
    wants_context: bool
    binding: dict[str, Any]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "trigger": self.trigger_type}


@dataclass
class HttpFunction(FunctionSpec):
    route: RouteTemplate
    methods: frozenset[str] | None = None  # None: every method, as the host does
    auth_level: str = "FUNCTION"

    def allows(self, method: str) -> bool:
        return self.methods is None or method.upper() in self.methods

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "route": self.route.path,
            "methods": sorted(self.methods) if self.methods is not None else None,
            "auth_level": self.auth_level,
        }


@dataclass
class EventGridFunction(FunctionSpec):
    pass


@dataclass
class TimerFunction(FunctionSpec):
    schedule: NcrontabSchedule
    run_on_startup: bool = False

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "schedule": self.schedule.expression,
            "run_on_startup": self.run_on_startup,
        }


@dataclass(frozen=True)
class Skipped:
    name: str
    trigger: str | None
    reason: str

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "trigger": self.trigger, "reason": self.reason}


@dataclass
class Discovery:
    functions: list[FunctionSpec]
    skipped: list[Skipped]
    route_warnings: list[str]

    def by_name(self, name: str) -> FunctionSpec | None:
        for spec in self.functions:
            if spec.name.lower() == name.lower():  # function names are case-insensitive
                return spec
        return None


class _Skip(Exception):
    pass


def _user_parameters(fn: Callable[..., Any], name: str) -> list[str]:
    try:
        return list(inspect.signature(fn).parameters)
    except (TypeError, ValueError) as exc:
        raise _Skip(f"cannot read the signature of {name}: {exc}") from exc


def _function_json(fn_obj: Any, name: str) -> list[dict[str, Any]]:
    try:
        document = json.loads(fn_obj.get_function_json())
    except (TypeError, ValueError) as exc:
        raise _Skip(f"unreadable function.json: {exc}") from exc
    bindings = document.get("bindings")
    if not isinstance(bindings, list) or not all(isinstance(b, dict) for b in bindings):
        raise _Skip("function.json has no bindings list")
    return bindings


def _build(fn_obj: Any, prefix: str, environ: Mapping[str, str]) -> FunctionSpec:
    name = str(fn_obj.get_function_name())
    trigger = fn_obj.get_trigger()
    if trigger is None:
        raise _Skip("it declares no trigger")
    bindings = _function_json(fn_obj, name)
    trigger_type = str(trigger.get_binding_name())
    trigger_arg = str(trigger.name)
    trigger_binding = next(
        (b for b in bindings if b.get("type") == trigger_type and b.get("name") == trigger_arg),
        None,
    )
    if trigger_binding is None:
        raise _Skip(f"its trigger {trigger_type!r} is missing from function.json")
    if trigger_type not in SUPPORTED_TRIGGERS:
        raise _Skip(f"trigger type {trigger_type!r} is not supported by devhost")
    for other in bindings:
        if other is trigger_binding:
            continue
        is_http_return = (
            trigger_type == HTTP_TRIGGER
            and other.get("type") == "http"
            and other.get("name") == "$return"
        )
        if not is_http_return:
            raise _Skip(
                f"binding {other.get('name')!r} of type {other.get('type')!r} "
                f"({other.get('direction')}) is not supported by devhost"
            )
    user_function = fn_obj.get_user_function()
    params = _user_parameters(user_function, name)
    wants_context = "context" in params and trigger_arg != "context"
    unbound = set(params) - {trigger_arg} - ({"context"} if wants_context else set())
    if unbound:
        raise _Skip(f"parameters {sorted(unbound)} are not bindings (the worker refuses this)")
    if trigger_arg not in params:
        raise _Skip(f"the trigger binding {trigger_arg!r} is not a parameter of the function")
    common: dict[str, Any] = {
        "name": name,
        "trigger_type": trigger_type,
        "trigger_arg": trigger_arg,
        "user_function": user_function,
        "is_async": inspect.iscoroutinefunction(user_function),
        "wants_context": wants_context,
        "binding": trigger_binding,
    }
    if trigger_type == HTTP_TRIGGER:
        return _http(common, trigger_binding, prefix)
    if trigger_type == TIMER_TRIGGER:
        return _timer(common, trigger_binding, environ)
    return EventGridFunction(**common)


def _http(common: dict[str, Any], binding: dict[str, Any], prefix: str) -> HttpFunction:
    template = binding.get("route") or common["name"]
    try:
        route = compile_route(str(template), prefix)
    except RouteTemplateError as exc:
        raise _Skip(f"route {template!r}: {exc}") from exc
    methods_raw = binding.get("methods")
    methods = frozenset(str(m).upper() for m in methods_raw) if methods_raw else None
    auth_level = str(binding.get("authLevel") or "FUNCTION").upper()
    if auth_level not in AUTH_LEVELS:
        raise _Skip(f"auth level {auth_level!r} is not one of {', '.join(AUTH_LEVELS)}")
    return HttpFunction(**common, route=route, methods=methods, auth_level=auth_level)


def _timer(
    common: dict[str, Any], binding: dict[str, Any], env: Mapping[str, str]
) -> TimerFunction:
    raw = binding.get("schedule")
    if not isinstance(raw, str) or not raw.strip():
        raise _Skip("timer trigger has no schedule")
    try:
        schedule = NcrontabSchedule.parse(resolve_setting_reference(raw, env))
    except ScheduleError as exc:
        raise _Skip(f"schedule {raw!r}: {exc}") from exc
    return TimerFunction(
        **common, schedule=schedule, run_on_startup=bool(binding.get("runOnStartup", False))
    )


def discover(
    app: Any,
    route_prefix: str,
    environ: Mapping[str, str] | None = None,
    functions: list[Any] | None = None,
) -> Discovery:
    """Read ``app.get_functions()`` once and turn each function into a FunctionSpec.

    ``functions``: the list already read by the worker's load check (devhost.worker_check),
    since ``get_functions()`` may be called only once."""
    if functions is None:
        getter = getattr(app, "get_functions", None)
        if not callable(getter):
            raise AppLoadError(
                f"{app!r} has no get_functions(): is it an azure.functions.FunctionApp?"
            )
        try:
            functions = list(getter())
        except Exception as exc:  # the library validates names and bindings here
            raise AppLoadError(f"get_functions() failed: {exc}") from exc
    env = os.environ if environ is None else environ
    found: list[FunctionSpec] = []
    skipped: list[Skipped] = []
    warnings: list[str] = []
    for fn_obj in functions:
        name = str(fn_obj.get_function_name())
        trigger = fn_obj.get_trigger()
        trigger_type = str(trigger.get_binding_name()) if trigger is not None else None
        try:
            spec = _build(fn_obj, route_prefix, env)
        except _Skip as skip:
            log.warning("Function '%s' skipped: %s", name, skip)
            skipped.append(Skipped(name, trigger_type, str(skip)))
            continue
        if isinstance(spec, HttpFunction):
            for warning in spec.route.warnings:
                log.warning("Function '%s': %s", name, warning)
                warnings.append(f"{name}: {warning}")
        found.append(spec)
    return Discovery(functions=found, skipped=skipped, route_warnings=warnings)
