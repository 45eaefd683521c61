"""The operator API: list and inspect rollouts, and steer them.

GET  /api/rollouts                       one page of rollouts (?endpoint=&model=&phase=&active=
                                         &limit=&continuation=), in the store's order
GET  /api/ignored-events                 one page of events that started no rollout, newest
                                         first (?limit=&continuation=)
GET  /api/rollouts/{endpoint}            the current rollout, its history and every decision
GET  /api/health                         the app's own checks (store, policy, each rule's
                                         endpoint): 200 when all pass, 503 when one fails

The actions are in handlers.api_actions. The routes are ANONYMOUS at host level: the app
checks the key (handlers._http.api_call), so a missing key is answered in the JSON error shape.
"""

from __future__ import annotations

from collections.abc import Mapping

import azure.functions as func

from handlers._http import api_call, json_response
from shared import bootstrap
from shared.errors import InvalidInput
from shared.model import Phase
from shared.ports import RolloutQuery

bp = func.Blueprint()

MAX_LIMIT = 500
# The query parameters each route takes (besides the key's ``code``): any other is a 400.
PAGE_PARAMS = ("limit", "continuation")
LIST_PARAMS = ("endpoint", "model", "phase", "active", *PAGE_PARAMS)


@bp.function_name("list_rollouts")
@bp.route(route="rollouts", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def list_rollouts(req: func.HttpRequest) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        query = _query(req.params)
        items, token = bootstrap.engine().page_rollouts(query, _continuation(req.params))
        return json_response({"rollouts": items, "count": len(items), "continuation": token})

    return api_call(req, run, LIST_PARAMS)


@bp.function_name("list_ignored_events")
@bp.route(route="ignored-events", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def list_ignored_events(req: func.HttpRequest) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        limit = _limit(req.params)
        items, token = bootstrap.engine().page_ignored(limit, _continuation(req.params))
        return json_response({"events": items, "count": len(items), "continuation": token})

    return api_call(req, run, PAGE_PARAMS)


@bp.function_name("get_rollout")
@bp.route(route="rollouts/{endpoint}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def get_rollout(req: func.HttpRequest) -> func.HttpResponse:
    return api_call(
        req, lambda: json_response(bootstrap.engine().describe(req.route_params["endpoint"]))
    )


@bp.function_name("health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        report = bootstrap.engine().health()
        # 503 when a check fails, for a probe to alert on; the body says which and why
        return json_response(report.to_dict(), 200 if report.ok else 503)

    return api_call(req, run)


def _query(params: Mapping[str, str]) -> RolloutQuery:
    get = params.get
    phase_raw = get("phase")
    phase = None
    if phase_raw:
        by_name = {p.value.lower(): p for p in Phase}
        phase = by_name.get(phase_raw.lower())
        if phase is None:
            raise InvalidInput(
                f"unknown phase {phase_raw!r}", details={"allowed": [p.value for p in Phase]}
            )
    active_raw = (get("active") or "false").lower()
    if active_raw not in ("true", "false"):
        raise InvalidInput("active must be true or false")
    return RolloutQuery(
        endpoint=get("endpoint") or None,
        model=get("model") or None,
        phase=phase,
        active_only=active_raw == "true",
        limit=_limit(params),
    )


def _limit(params: Mapping[str, str]) -> int:
    limit_raw = params.get("limit") or "100"
    # ASCII digits only: str.isdigit() also accepts superscripts and other scripts' digits,
    # which int() refuses (a 500 before) or reads as a number
    if not (limit_raw.isascii() and limit_raw.isdigit() and len(limit_raw) <= 6):
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    if not 1 <= int(limit_raw) <= MAX_LIMIT:
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(limit_raw)


def _continuation(params: Mapping[str, str]) -> str | None:
    """The opaque token of the previous page's ``continuation`` (checked by the store)."""
    return params.get("continuation") or None
