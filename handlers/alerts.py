"""HTTP POST /api/alerts: an Azure Monitor alert (common alert schema) rolls a canary back.

The reply lists one result per target (``rolled_back``, ``not_rolled_back``, ``ignored``,
``invalid_target``); a bad target never turns the whole alert into a 400, which an action group
would not retry.
"""

from __future__ import annotations

import azure.functions as func

from handlers._http import guarded, json_response
from shared import bootstrap, inputs

bp = func.Blueprint()


@bp.function_name("on_alert")
@bp.route(route="alerts", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def on_alert(req: func.HttpRequest) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        alert = inputs.alert(inputs.json_body(req.get_body(), text_only=False))
        results = bootstrap.engine().on_alert(alert)
        return json_response({"alert": alert.alert_id, "results": [r.to_dict() for r in results]})

    return guarded(run)
