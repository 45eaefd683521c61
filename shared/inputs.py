"""Decoding what arrives from outside into domain values. Pure; bad input raises InvalidInput.

- ModelRegistered, in the Event Grid schema or the CloudEvents 1.0 schema (azure.md: subject
  ``models/{name}:{version}``, data ``{ModelName, ModelVersion, ModelTags, ModelProperties}``;
  ModelVersion documented as a string but sent as a number in samples: both accepted).
- Azure Monitor alerts in the common alert schema (``schemaId: azureMonitorCommonAlertSchema``;
  https://learn.microsoft.com/azure/azure-monitor/alerts/alerts-common-schema).
- Operator requests: ``{"reason": str, "actor"?: str, "full"?: bool}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.errors import InvalidInput
from shared.model import ModelRef, parse_time
from shared.services import Alert

MODEL_REGISTERED = "Microsoft.MachineLearningServices.ModelRegistered"
COMMON_ALERT_SCHEMA = "azureMonitorCommonAlertSchema"
MAX_REASON = 1000


def model_registered(
    *,
    event_id: str,
    event_type: str,
    subject: str | None,
    data: Any,
    event_time: Any = None,
) -> ModelRef | None:
    """A ModelRef from a ModelRegistered event; None for other event types."""
    if event_type != MODEL_REGISTERED:
        return None
    if not event_id:
        raise InvalidInput("event has no id")
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise InvalidInput("event data is not JSON") from exc
    if not isinstance(data, Mapping):
        raise InvalidInput("event data must be an object with ModelName and ModelVersion")
    name = data.get("ModelName")
    version = data.get("ModelVersion")
    if (not name or not version) and subject and subject.startswith("models/"):
        # subject "models/{name}:{version}" carries both when data lacks them
        sub_name, _, sub_version = subject[len("models/") :].rpartition(":")
        name = name or sub_name
        version = version or sub_version
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("event data has no ModelName")
    if isinstance(version, bool) or not isinstance(version, str | int | float) or version == "":
        raise InvalidInput("event data has no ModelVersion (string or number)")
    if isinstance(version, float):
        version = int(version) if version.is_integer() else version
    tags = data.get("ModelTags") or {}
    if not isinstance(tags, Mapping):
        raise InvalidInput("ModelTags must be an object")
    try:
        when = parse_time(event_time)
    except ValueError as exc:
        raise InvalidInput(f"event time {event_time!r} is not ISO 8601") from exc
    return ModelRef(
        name=name.strip(),
        version=str(version).strip(),
        tags={str(k): str(v) for k, v in tags.items()},
        event_id=str(event_id),
        event_time=when,
    )


def events_from_body(body: Any) -> list[dict[str, Any]]:
    """Normalise an Event Grid delivery (one event or an array; Event Grid or CloudEvents
    schema) into dicts with id, event_type, subject, data, event_time."""
    items = body if isinstance(body, list) else [body]
    out: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, Mapping):
            raise InvalidInput("each event must be a JSON object")
        if "specversion" in item:  # CloudEvents 1.0
            out.append(
                {
                    "event_id": item.get("id", ""),
                    "event_type": item.get("type", ""),
                    "subject": item.get("subject"),
                    "data": item.get("data"),
                    "event_time": item.get("time"),
                }
            )
        else:
            out.append(
                {
                    "event_id": item.get("id", ""),
                    "event_type": item.get("eventType", ""),
                    "subject": item.get("subject"),
                    "data": item.get("data"),
                    "event_time": item.get("eventTime"),
                }
            )
    return out


def alert(body: Any) -> Alert:
    """An Alert from the common alert schema; anything else is InvalidInput."""
    if not isinstance(body, Mapping):
        raise InvalidInput("alert body must be a JSON object")
    if body.get("schemaId") != COMMON_ALERT_SCHEMA:
        raise InvalidInput(
            f"alert must use the common alert schema (schemaId {COMMON_ALERT_SCHEMA})"
        )
    data = body.get("data")
    if not isinstance(data, Mapping) or not isinstance(data.get("essentials"), Mapping):
        raise InvalidInput("alert has no data.essentials")
    ess = data["essentials"]
    condition = ess.get("monitorCondition")
    if condition not in ("Fired", "Resolved"):
        raise InvalidInput("essentials.monitorCondition must be Fired or Resolved")
    targets = ess.get("alertTargetIDs")
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise InvalidInput("essentials.alertTargetIDs must be a list of resource ids")
    context = data.get("alertContext")
    return Alert(
        alert_id=str(ess.get("alertId") or ""),
        rule=str(ess.get("alertRule") or ""),
        condition=condition,
        targets=tuple(targets),
        severity=str(ess.get("severity") or ""),
        fired_at=str(ess.get("firedDateTime") or ""),
        evidence={
            "signal_type": ess.get("signalType"),
            "condition": context.get("condition") if isinstance(context, Mapping) else None,
        },
    )


@dataclass(frozen=True)
class ActionRequest:
    reason: str
    actor: str
    full: bool


def action_request(body: Any) -> ActionRequest:
    if not isinstance(body, Mapping):
        raise InvalidInput('body must be a JSON object like {"reason": "...", "actor": "..."}')
    unknown = sorted(set(body) - {"reason", "actor", "full"})
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]!r} (known: reason, actor, full)")
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("reason is required: say why")
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"reason is longer than {MAX_REASON} characters")
    actor = body.get("actor", "operator")
    if not isinstance(actor, str) or not actor.strip() or len(actor) > 200:
        raise InvalidInput("actor must be a non-empty string of at most 200 characters")
    full = body.get("full", False)
    if not isinstance(full, bool):
        raise InvalidInput("full must be true or false")
    return ActionRequest(reason.strip(), actor.strip(), full)


def json_body(raw: bytes) -> Any:
    if not raw:
        raise InvalidInput("request body is empty; JSON expected")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"request body is not valid JSON: {exc}") from exc
