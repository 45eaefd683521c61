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
    # the app's own checks through the real adapters: Azurite answers, and Azure Monitor (the
    # emulator) answers the judge's query for the first rule endpoint with a live deployment
    health = stack.app.api("GET", "health")
    assert health.status in (200, 503), health
    _validate(doc, "/health", health.status, health.body)
    checks = {c["name"]: c for c in health.body["checks"]}
    assert checks["store"]["ok"], health.body
    assert "metrics" not in checks or checks["metrics"]["ok"], health.body
    assert (health.status == 200) is (health.body["status"] == "ok"), health.body
    return ["/rollouts/{endpoint}", *calls, "/health"]
