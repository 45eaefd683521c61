"""Every read route of the app, called through devhost, answers as GET /api/openapi.json says."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from openapi_schema_validator import OAS31Validator

from localstack.stack import Stack


def _validate(doc: dict[str, Any], template: str, status: int, body: Any) -> None:
    responses = doc["paths"][template]["get"]["responses"]
    spec = responses.get(str(status)) or responses["default"]
    schema = spec["content"]["application/json"]["schema"]
    OAS31Validator({**schema, "components": doc["components"]}).validate(body)


def check_read_routes(stack: Stack, endpoint: str) -> list[str]:
    """Call each read route for ``endpoint``'s latest rollout; the paths checked."""
    served = stack.app.api("GET", "openapi.json")
    assert served.status == 200, served
    doc = served.body
    detail = stack.app.api("GET", f"rollouts/{quote(endpoint)}")
    _validate(doc, "/rollouts/{endpoint}", detail.status, detail.body)
    assert detail.status == 200, detail
    rid = quote(detail.body["rollout"]["id"], safe="")
    base = f"rollouts/{quote(endpoint)}"
    calls = {
        "/rollouts": "rollouts?limit=5",
        "/rollouts/{endpoint}/history": f"{base}/history",
        "/rollouts/{endpoint}/history/{rollout_id}": f"{base}/history/{rid}",
        "/rollouts/{endpoint}/history/{rollout_id}/decisions": f"{base}/history/{rid}/decisions",
        "/rollouts/{endpoint}/history/{rollout_id}/series": f"{base}/history/{rid}/series",
        "/events": "events?ignored=true",
        "/ignored-events": "ignored-events",
    }
    for template, path in calls.items():
        reply = stack.app.api("GET", path)
        assert reply.status == 200, (path, reply)
        _validate(doc, template, reply.status, reply.body)
    missing = stack.app.api("GET", f"{base}/history/no-such-rollout")
    assert missing.status == 404 and missing.body["error"]["hint"], missing
    return ["/rollouts/{endpoint}", *calls]
