"""The operator API's actions: steer a rollout, retry it, cancel the waiting version, start one.

POST /api/rollouts/{endpoint}/{action}   pause | resume | promote | rollback | abort | retry |
                                         cancel; body {"reason", "actor"?, "full"?}
POST /api/rollouts                       a manual start; body {"model", "version", "reason",
                                         "actor"?, "endpoint"?, "allow_downgrade"?, "tags"?}

Replies are compact (the endpoint, the action, the rollout's new state and the decision it
recorded); ``?full=true`` answers the whole rollout document instead (as ``GET
/api/rollouts/{endpoint}``). In the body, ``full`` keeps its meaning for ``promote`` (straight
to 100 %) and asks for the whole document for every other action. A manual start answers 201
when its rollout started and 202 when the version waits (or supersedes the active rollout).

The routes are ANONYMOUS at host level: the app checks the key (handlers._http.api_call).
"""

from __future__ import annotations

from collections.abc import Mapping

import azure.functions as func

from handlers._http import api_call, default_actor, json_response, signed_in_user
from shared import bootstrap, inputs, operator_requests
from shared.errors import InvalidInput
from shared.operators import ActionResult, action_reply

bp = func.Blueprint()


@bp.function_name("rollout_action")
@bp.route(
    route="rollouts/{endpoint}/{action}", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS
)
def rollout_action(req: func.HttpRequest) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        action = req.route_params["action"]  # checked once, by the engine (unknown_action)
        full_param = _full(req.params)  # every input is checked before anything is done
        body = operator_requests.action_request(
            inputs.json_body(req.get_body()), default_actor(req), signed_in_user(req)
        )
        promote_full = body.full and action == "promote"
        result = bootstrap.engine().act(
            req.route_params["endpoint"], action, body.reason, body.actor, full=promote_full
        )
        return _reply(result, full_param or (body.full and action != "promote"))

    return api_call(req, run, ("full",), acts=True)


# The same route as list_rollouts (GET), another method: the host matches routes with an HTTP
# method constraint, so two functions may share a route on different methods
# (Azure/azure-functions-host PR 763, HttpRouteFactory.AddRoute's HttpMethodConstraint).
@bp.function_name("start_rollout")
@bp.route(route="rollouts", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def start_rollout(req: func.HttpRequest) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        full_param = _full(req.params)  # every input is checked before anything is done
        body = operator_requests.start_request(
            inputs.json_body(req.get_body()), default_actor(req), signed_in_user(req)
        )
        result = bootstrap.engine().start(body)
        status = 201 if result.outcome == "started" else 202
        return _reply(result, full_param or body.full, status)

    return api_call(req, run, ("full",), acts=True)


def _reply(result: ActionResult, whole: bool, status: int = 200) -> func.HttpResponse:
    if whole:
        return json_response(bootstrap.engine().describe(result.endpoint), status)
    return json_response(action_reply(result, bootstrap.engine().queries.action_view), status)


def _full(params: Mapping[str, str]) -> bool:
    raw = (params.get("full") or "false").lower()
    if raw not in ("true", "false"):
        raise InvalidInput("full must be true or false")
    return raw == "true"
