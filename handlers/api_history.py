"""The operator API's history reads: past rollouts, one by id, its decisions, its series, and
events that started no rollout.

GET /api/rollouts/{endpoint}/history?limit=&continuation=       the endpoint's rollouts
GET /api/rollouts/{endpoint}/history/{rollout_id}               one rollout, detail shape
GET /api/rollouts/{endpoint}/history/{rollout_id}/decisions?limit=&continuation=
GET /api/rollouts/{endpoint}/history/{rollout_id}/series        per-minute figures, marks
GET /api/events?ignored=true&limit=&continuation=               ignored events with a hint

``history`` is a literal segment: the Functions host (ASP.NET Core routing) tries it before
the ``{action}`` parameter of ``POST rollouts/{endpoint}/{action}`` (learn.microsoft.com/dotnet/
api/microsoft.aspnetcore.routing.template.routeprecedence.computeinbound: "/api/template ==
1.1 /api/template/{id} == 1.13", lower first), and the methods differ anyway.

The routes are ANONYMOUS at host level: the app checks the key (handlers._http.api_call).
"""

from __future__ import annotations

from collections.abc import Callable

import azure.functions as func

from handlers._http import api_call, json_response
from handlers.api import PAGE_PARAMS, _continuation, _limit
from shared import bootstrap
from shared.errors import InvalidInput

bp = func.Blueprint()


def _serve(
    req: func.HttpRequest, run: Callable[[], func.HttpResponse], params: tuple[str, ...] = ()
) -> func.HttpResponse:
    """Run a read handler once the key and its query ``params`` are checked; every error
    becomes the JSON error shape."""
    return api_call(req, run, params)


@bp.function_name("rollout_history")
@bp.route(route="rollouts/{endpoint}/history", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def rollout_history(req: func.HttpRequest) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        queries = bootstrap.engine().queries
        return json_response(
            queries.history(
                req.route_params["endpoint"], _limit(req.params), _continuation(req.params)
            )
        )

    return _serve(req, run, PAGE_PARAMS)


@bp.function_name("rollout_by_id")
@bp.route(
    route="rollouts/{endpoint}/history/{rollout_id}",
    methods=["GET"],
    auth_level=func.AuthLevel.ANONYMOUS,
)
def rollout_by_id(req: func.HttpRequest) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        params = req.route_params
        return json_response(
            bootstrap.engine().queries.rollout(params["endpoint"], params["rollout_id"])
        )

    return _serve(req, run)


@bp.function_name("rollout_decisions")
@bp.route(
    route="rollouts/{endpoint}/history/{rollout_id}/decisions",
    methods=["GET"],
    auth_level=func.AuthLevel.ANONYMOUS,
)
def rollout_decisions(req: func.HttpRequest) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        params = req.route_params
        return json_response(
            bootstrap.engine().queries.decisions(
                params["endpoint"],
                params["rollout_id"],
                _limit(req.params),
                _continuation(req.params),
            )
        )

    return _serve(req, run, PAGE_PARAMS)


@bp.function_name("rollout_series")
@bp.route(
    route="rollouts/{endpoint}/history/{rollout_id}/series",
    methods=["GET"],
    auth_level=func.AuthLevel.ANONYMOUS,
)
def rollout_series(req: func.HttpRequest) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        params = req.route_params
        return json_response(
            bootstrap.engine().queries.series(params["endpoint"], params["rollout_id"])
        )

    return _serve(req, run)


@bp.function_name("list_events")
@bp.route(route="events", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def list_events(req: func.HttpRequest) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        if (req.params.get("ignored") or "").lower() != "true":
            raise InvalidInput(
                "only ignored events are kept: ask with ignored=true",
                code="ignored_required",
                hint="Call GET /api/events?ignored=true (events that started a rollout are in "
                "its decisions).",
            )
        items, token = bootstrap.engine().queries.page_ignored(
            _limit(req.params), _continuation(req.params)
        )
        return json_response({"events": items, "count": len(items), "continuation": token})

    return _serve(req, run, ("ignored", *PAGE_PARAMS))
