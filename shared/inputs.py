"""Decoding what arrives from outside into domain values. Pure; bad input raises InvalidInput.

- ModelRegistered, in the Event Grid schema or the CloudEvents 1.0 schema. Data fields in either
  casing: PascalCase ``{ModelName, ModelVersion, ModelTags, ModelProperties}`` (Microsoft's
  sample and the spec's examples) or camelCase ``{modelName, modelVersion, modelTags,
  modelProperties}`` (the spec's schema, Azure/azure-rest-api-specs
  specification/eventgrid/data-plane/Microsoft.MachineLearningServices/stable/2018-01-01/
  MachineLearningServices.json ``ModelRegisteredEventData``, and the typed SDK models,
  EventGridSystemEvents/Microsoft.MachineLearningServices/MachineLearningServices.tsp
  ``MachineLearningServicesModelRegisteredEventData``). The version is an integer in the 2018
  swagger and a string in the TypeSpec: both accepted.
- Azure Monitor alerts in the common alert schema (``schemaId: azureMonitorCommonAlertSchema``;
  https://learn.microsoft.com/azure/azure-monitor/alerts/alerts-common-schema). Each target is
  checked on its own: a bad one is kept as a rejected target, never fails the alert.
- Operator requests: in :mod:`shared.operator_requests`.

Whatever is refused here changes nothing; values that go into logs pass through
:func:`for_log`, so a name with a newline cannot forge a log line.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.errors import InvalidInput
from shared.model import ModelRef, parse_time
from shared.observation import Alert

MODEL_REGISTERED = "Microsoft.MachineLearningServices.ModelRegistered"
COMMON_ALERT_SCHEMA = "azureMonitorCommonAlertSchema"
# An event id becomes a Table row key (``event|<id>``, escapes triple a character, keys hold
# 512 UTF-16 units: shared/store_layout.py); Event Grid ids are GUIDs in practice.
MAX_EVENT_ID = 128
# A model name and version are ARM path segments (``.../models/{name}/versions/{version}``);
# Azure ML asset names are at most 255 characters.
MAX_MODEL_NAME = 255
MAX_MODEL_VERSION = 128
MAX_TAGS = 200
MAX_TAG_KEY = 256
MAX_TAG_VALUE = 5000
# All of a model's tags together, as the store writes them (JSON, non-ASCII as \uXXXX): the
# tags are kept in several copies in one slot row (the active rollout, a waiting version, the
# decisions' evidence), and a Table entity holds 1 MiB at most ("Understanding the Table
# service data model"), so 200 tags of 5,000 characters could make a row no write can store,
# and leave a running rollout unable to move.
MAX_TAGS_JSON = 16 * 1024
MAX_TARGET = 2048
MAX_TARGETS = 100
MAX_LOG = 200
# Characters no ARM path segment may hold (and that would split or forge log lines), and lone
# UTF-16 surrogates (legal as JSON escapes, "\ud800", but not text: nothing can encode them).
_SURROGATES = "\ud800-\udfff"
_FORBIDDEN = re.compile(f"[\x00-\x1f\x7f/\\\\#?{_SURROGATES}]")
_CONTROL = re.compile(f"[\x00-\x1f\x7f{_SURROGATES}]")
_SURROGATE = re.compile(f"[{_SURROGATES}]")


def for_log(value: Any) -> str:
    """A short, single-line rendering of an untrusted value for a log line."""
    if isinstance(value, str):
        text = value
    elif value is None or isinstance(value, bool | float):
        text = str(value)
    elif isinstance(value, int):
        text = str(value) if value.bit_length() <= 64 else f"<integer of {value.bit_length()} bits>"
    else:
        text = f"<{type(value).__name__}>"
    text = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text[: MAX_LOG * 2])
    return text if len(text) <= MAX_LOG else text[: MAX_LOG - 3] + "..."


def _pick(data: Mapping[str, Any], *names: str) -> Any:
    """The first of ``names`` present (and not null) in ``data``."""
    for name in names:
        value = data.get(name)
        if value is not None:
            return value
    return None


def _event_id(event_id: Any) -> str:
    if not isinstance(event_id, str) or not event_id.strip():
        raise InvalidInput("event has no id (a non-empty string)")
    if len(event_id) > MAX_EVENT_ID:
        raise InvalidInput(f"event id is longer than {MAX_EVENT_ID} characters")
    if _CONTROL.search(event_id):
        raise InvalidInput("event id contains control characters")
    return event_id


def _name(name: Any, missing: str = "event data has no ModelName/modelName") -> str:
    """A model name; ``missing`` says where it was looked for (an event's data, a request)."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"{missing} (a non-empty string)")
    text: str = name.strip()
    if len(text) > MAX_MODEL_NAME:
        raise InvalidInput(f"model name is longer than {MAX_MODEL_NAME} characters")
    # ":" separates name and version in the asset references deployments carry
    # ("azureml:name:version"; azure-ai-ml _utils/_arm_id_utils.py parse_name_version splits
    # on it), so a name holding one cannot be referred to.
    if _FORBIDDEN.search(text) or ":" in text:
        raise InvalidInput(
            f"model name {for_log(text)!r} contains a character Azure ML does not allow "
            "(control characters, / \\ # ? :)"
        )
    return text


def _version(
    version: Any,
    field: str = "ModelVersion",
    missing: str = "event data has no ModelVersion/modelVersion",
) -> str:
    """A model version; ``field`` and ``missing`` name it as its source does."""
    if isinstance(version, bool):
        raise InvalidInput(f"{field} must be a string or a number, not a boolean")
    if isinstance(version, int):
        if not 0 <= version < 2**63:
            raise InvalidInput(f"{field} is out of range")
        return str(version)
    if isinstance(version, float):
        if not math.isfinite(version) or not 0 <= version < 2**63:
            raise InvalidInput(f"{field} is not a finite number in range")
        return str(int(version)) if version.is_integer() else repr(version)
    if not isinstance(version, str) or not version.strip():
        raise InvalidInput(f"{missing} (a string or a number)")
    text: str = version.strip()
    if len(text) > MAX_MODEL_VERSION:
        raise InvalidInput(f"model version is longer than {MAX_MODEL_VERSION} characters")
    if _FORBIDDEN.search(text) or ":" in text:
        raise InvalidInput(
            f"model version {for_log(text)!r} contains a character Azure ML does not allow"
        )
    if not any(ch.isalnum() for ch in text):
        raise InvalidInput(f"model version {for_log(text)!r} has no letter or digit")
    return text


def _tag_text(value: Any, what: str) -> str:
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise InvalidInput(f"{what} holds a lone UTF-16 surrogate, not text")
        return value
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        raise InvalidInput(f"{what} is an integer too large")
    if isinstance(value, bool | int | float):
        return str(value)
    raise InvalidInput(f"{what} must be a string, not {type(value).__name__}")


def _tags(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise InvalidInput("ModelTags/modelTags must be an object")
    if len(raw) > MAX_TAGS:
        raise InvalidInput(f"the model has more than {MAX_TAGS} tags")
    tags: dict[str, str] = {}
    for key, value in raw.items():
        key_text = str(key)
        if len(key_text) > MAX_TAG_KEY or _CONTROL.search(key_text):
            raise InvalidInput(
                f"tag name {for_log(key_text)!r} is too long or has control characters"
            )
        text = _tag_text(value, f"tag {for_log(key_text)!r}")
        if len(text) > MAX_TAG_VALUE:
            raise InvalidInput(
                f"tag {for_log(key_text)!r} is longer than {MAX_TAG_VALUE} characters"
            )
        tags[key_text] = text
    size = len(json.dumps(tags, ensure_ascii=True))
    if size > MAX_TAGS_JSON:
        raise InvalidInput(
            f"the model's tags take {size} characters in all, more than {MAX_TAGS_JSON}"
        )
    return tags


def model_registered(
    *,
    event_id: Any,
    event_type: Any,
    subject: Any,
    data: Any,
    event_time: Any = None,
) -> ModelRef | None:
    """A ModelRef from a ModelRegistered event; None for other event types."""
    if event_type != MODEL_REGISTERED:
        return None
    event_id = _event_id(event_id)
    if subject is not None and not isinstance(subject, str):
        raise InvalidInput("event subject must be a string")
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise InvalidInput("event data is not JSON") from exc
    if not isinstance(data, Mapping):
        raise InvalidInput("event data must be an object with modelName and modelVersion")
    name = _pick(data, "ModelName", "modelName")
    version = _pick(data, "ModelVersion", "modelVersion")
    if (name in (None, "") or version in (None, "")) and subject and subject.startswith("models/"):
        # subject "models/{name}:{version}" carries both when data lacks them
        sub_name, _, sub_version = subject[len("models/") :].rpartition(":")
        name = sub_name if name in (None, "") else name
        version = sub_version if version in (None, "") else version
    tags = _tags(_pick(data, "ModelTags", "modelTags"))
    if event_time is not None and not isinstance(event_time, str | datetime):
        raise InvalidInput("event time must be an ISO 8601 string")
    try:
        when = parse_time(event_time)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidInput(f"event time {for_log(event_time)!r} is not ISO 8601") from exc
    return ModelRef(
        name=_name(name),
        version=_version(version),
        tags=tags,
        event_id=event_id,
        event_time=when,
    )


def alert(body: Any) -> Alert:
    """An Alert from the common alert schema; anything else is InvalidInput.

    ``alertTargetIDs`` are resource ids, lower-cased by Azure (the schema's sample: rule
    ``WCUS-R2-Gen2``, target ``.../virtualmachines/wcus-r2-gen2``;
    https://learn.microsoft.com/azure/azure-monitor/alerts/alerts-payload-samples). A target
    that is not a usable string is kept in ``rejected_targets`` with the reason, so the valid
    ones are still acted on. For metric alerts, ``alertContext.condition.allOf[].dimensions``
    (``[{"name", "value"}]``) name the firing time series; the values of the ``deployment``
    dimension are the deployments the alert is about (empty: the whole endpoint).
    """
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
    raw_targets = ess.get("alertTargetIDs")
    if not isinstance(raw_targets, list):
        raise InvalidInput("essentials.alertTargetIDs must be a list of resource ids")
    if len(raw_targets) > MAX_TARGETS:
        raise InvalidInput(f"essentials.alertTargetIDs has more than {MAX_TARGETS} targets")
    targets: list[str] = []
    rejected: list[tuple[str, str]] = []
    for target in raw_targets:
        if not isinstance(target, str) or not target.strip():
            rejected.append((for_log(target), "a target must be a non-empty resource id string"))
        elif len(target) > MAX_TARGET or _CONTROL.search(target):
            rejected.append((for_log(target), "not a resource id (too long or control characters)"))
        else:
            targets.append(target)
    context = data.get("alertContext")
    cond = context.get("condition") if isinstance(context, Mapping) else None
    return Alert(
        alert_id=_text(ess.get("alertId")),
        rule=_text(ess.get("alertRule")),
        condition=condition,
        targets=tuple(targets),
        severity=_text(ess.get("severity")),
        fired_at=_text(ess.get("firedDateTime")),
        evidence={
            "signal_type": _text(ess.get("signalType")),
            "condition": _bounded(cond),
        },
        deployments=_dimension_values(cond, "deployment", "deploymentname"),
        rejected_targets=tuple(rejected),
        endpoint_names=_dimension_values(cond, "endpointname"),
        resource_ids=tuple(
            v
            for v in _dimension_values(cond, "_resourceid", "resourceid", limit=MAX_TARGET)
            if v.lower().startswith("/subscriptions/") and not _CONTROL.search(v)
        ),
    )


def _text(value: Any, limit: int = 1000) -> str:
    """A short string field of an alert (anything else is dropped to its log rendering)."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else for_log(value)
    return _CONTROL.sub(" ", text)[:limit]


def _bounded(value: Any, limit: int = 16_000) -> Any:
    """The alert condition kept as evidence, or a note when it is too large to keep."""
    try:
        size = len(json.dumps(value, default=str))
    except (ValueError, TypeError, RecursionError):
        return {"note": "condition not kept: not serialisable"}
    return value if size <= limit else {"note": f"condition not kept: {size} characters"}


def _dimension_values(condition: Any, *names: str, limit: int = 255) -> tuple[str, ...]:
    """Values of the dimensions ``names`` (lower case; compared case-insensitively) in an
    alert's ``allOf`` criteria, in order, without repeats. A metric alert on an online
    endpoint splits by ``deployment``; a log search alert's dimensions are its query's
    columns (``alertContext.condition.allOf[].dimensions``, ``conditionType``
    ``LogQueryCriteria``: MicrosoftDocs/azure-monitor-docs alerts-log-webhook.md and
    alerts-common-schema.md), e.g. ``DeploymentName`` and ``EndpointName`` of
    ``AmlOnlineEndpointTrafficLog``, or ``_ResourceId``. Values over ``limit`` characters (a
    name: 255; a resource id: MAX_TARGET) are left out."""
    if not isinstance(condition, Mapping) or not isinstance(condition.get("allOf"), list):
        return ()
    found: list[str] = []
    for criterion in condition["allOf"]:
        dims = criterion.get("dimensions") if isinstance(criterion, Mapping) else None
        if not isinstance(dims, list):
            continue
        for dim in dims:
            if not isinstance(dim, Mapping):
                continue
            name, value = dim.get("name"), dim.get("value")
            if (
                isinstance(name, str)
                and name.lower() in names
                and isinstance(value, str)
                and value.strip()
                and len(value) <= limit
                and value.strip() not in found
            ):
                found.append(value.strip())
    return tuple(found)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number (RFC 8259 has no NaN or Infinity)")


def json_body(raw: bytes, *, text_only: bool = True) -> Any:
    """A request body's JSON value. NaN and Infinity are refused (not JSON, and a stored one
    would make every later answer invalid JSON); with ``text_only`` so are strings holding a
    lone UTF-16 surrogate (a legal escape, ``"\\ud800"``, that no text encoding can hold).
    The alert webhook passes ``text_only=False``: its targets are checked one by one, so one
    bad target never fails the others."""
    if not raw:
        raise InvalidInput("request body is empty; JSON expected")
    try:
        value = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        # ValueError covers integers past Python's digit limit; RecursionError deep nesting
        raise InvalidInput(f"request body is not valid JSON: {for_log(str(exc))}") from exc
    if text_only:
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except (UnicodeEncodeError, RecursionError) as exc:
            raise InvalidInput(
                "request body holds a string with a lone UTF-16 surrogate, not text"
            ) from exc
    return value


# ------------------------------------------------------------------ ARM resource ids
def deployment_of(resource_id: str) -> str | None:
    """The deployment of a deployment-scope target (``.../onlineEndpoints/E/deployments/D``)."""
    parts = resource_id.strip().rstrip("/").split("/")
    lowered = [p.lower() for p in parts]
    if "onlineendpoints" not in lowered:
        return None
    i = lowered.index("onlineendpoints")
    if len(parts) == i + 4 and lowered[i + 2] == "deployments" and parts[i + 3]:
        return parts[i + 3]
    return None


def endpoint_of(resource_id: str, workspace_id: str | None) -> str | None:
    """The online endpoint an ARM resource id names, if it is in ``workspace_id`` (the
    workspace's lower-cased ARM id; None: any workspace). ARM ids compare case-insensitively
    (alert target ids arrive lower-cased)."""
    parts = resource_id.strip().rstrip("/").split("/")
    lowered = [p.lower() for p in parts]
    if "onlineendpoints" not in lowered:
        return None
    i = lowered.index("onlineendpoints")
    if i + 1 >= len(parts) or not parts[i + 1]:
        return None
    if workspace_id is not None:
        prefix = "/".join(lowered[:i]).rstrip("/")
        if prefix != workspace_id:
            return None
    return parts[i + 1]
