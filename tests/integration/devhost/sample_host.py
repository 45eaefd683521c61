"""The sample app's function key, and the Event Grid posts and invocation records its tests use."""

from __future__ import annotations

import json
import uuid
from typing import Any

from devhost_harness import DevhostProcess, read_records

KEY = "test-function-key-" + uuid.uuid4().hex


def records(host: DevhostProcess, function: str | None = None) -> list[dict[str, Any]]:
    found = read_records(host.workdir / "record.jsonl")
    return [r for r in found if function is None or r["function"] == function]


def event(event_id: str, subject: str = "models/m:1", **extra: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "topic": "/subscriptions/s/resourceGroups/rg/providers/X/workspaces/ws",
        "subject": subject,
        "eventType": "Microsoft.MachineLearningServices.ModelRegistered",
        "eventTime": "2026-01-02T03:04:05Z",
        "data": {"ModelName": "m", "ModelVersion": "1"},
        "dataVersion": "2",
        **extra,
    }


def post_events(
    host: DevhostProcess, body: Any, *, function: str = "on_event", key: str | None = KEY
) -> Any:
    raw = body if isinstance(body, (str, bytes)) else json.dumps(body)
    query = f"?functionName={function}" + (f"&code={key}" if key else "")
    return host.request(
        "POST",
        "/runtime/webhooks/EventGrid" + query,
        body=raw,
        headers={"aeg-event-type": "Notification", "Content-Type": "application/json"},
    )


def events_with(host: DevhostProcess, event_id: str) -> list[dict[str, Any]]:
    return [r for r in records(host, "on_event") if r["id"] == event_id]
