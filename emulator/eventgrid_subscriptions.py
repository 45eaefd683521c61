"""Event Grid subscriptions (their JSON forms and filters) and the ModelRegistered event data,
for :mod:`emulator.eventgrid` (which documents both)."""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from emulator.addon_http import check_webhook_url, redact_url

MODEL_REGISTERED = "Microsoft.MachineLearningServices.ModelRegistered"


def model_registered_data(
    name: str,
    version: str,
    tags: Mapping[str, str],
    properties: Mapping[str, str],
    *,
    casing: str = "camel",
    numeric_version: bool = False,
) -> dict[str, Any]:
    """The ``data`` of a ModelRegistered event: camelCase as the spec's schema, or PascalCase
    as Microsoft's sample; the version a string, or a number when asked and numeric."""
    model_version: Any = str(version)
    if numeric_version:
        with contextlib.suppress(ValueError):
            model_version = int(version)
    keys: tuple[str, ...] = ("modelName", "modelVersion", "modelTags", "modelProperties")
    if casing == "pascal":
        keys = tuple(k[0].upper() + k[1:] for k in keys)
    elif casing != "camel":
        raise ValueError("the data casing must be 'camel' or 'pascal'")
    return dict(zip(keys, (name, model_version, dict(tags), dict(properties)), strict=True))


@dataclass
class Subscription:
    name: str
    url: str
    subject_begins_with: str = ""
    subject_ends_with: str = ""
    event_types: list[str] | None = None
    case_sensitive: bool = False
    max_attempts: int = 30
    ttl_minutes: float = 1440.0
    deliver_twice: bool = False
    dead_letter: dict[str, Any] | None = None
    deliveries: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=100))

    def matches(self, event: Mapping[str, Any]) -> bool:
        if self.event_types is not None and event["eventType"].lower() not in {
            t.lower() for t in self.event_types
        }:
            return False
        subject = str(event["subject"])
        begins, ends = self.subject_begins_with, self.subject_ends_with
        if not self.case_sensitive:
            subject, begins, ends = subject.lower(), begins.lower(), ends.lower()
        return subject.startswith(begins) and subject.endswith(ends)

    def spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "endpointUrl": self.url,
            "filter": {
                "subjectBeginsWith": self.subject_begins_with,
                "subjectEndsWith": self.subject_ends_with,
                "includedEventTypes": self.event_types,
                "isSubjectCaseSensitive": self.case_sensitive,
            },
            "retryPolicy": {
                "maxDeliveryAttempts": self.max_attempts,
                "eventTimeToLiveInMinutes": self.ttl_minutes,
            },
            "deadLetterDestination": self.dead_letter,
            "deliverTwice": self.deliver_twice,
        }

    def view(self) -> dict[str, Any]:
        """The spec with secrets in the URL (``code=``) redacted, for the admin API."""
        return {**self.spec(), "endpointUrl": redact_url(self.url)}


def parse_subscription(raw: Any) -> Subscription:
    """A subscription from its JSON form; ValueError naming the problem when it is invalid."""
    if not isinstance(raw, dict):
        raise ValueError("a subscription must be a JSON object")
    raw = _flatten_arm(raw)
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or "/" in name:
        raise ValueError("'name' must be a non-empty string without '/'")
    url = check_webhook_url(raw.get("endpointUrl"))
    flt = raw.get("filter") or {}
    if not isinstance(flt, dict):
        raise ValueError("filter must be an object")
    types = flt.get("includedEventTypes")
    if types is not None and (
        not isinstance(types, list) or not all(isinstance(t, str) and t for t in types)
    ):
        raise ValueError("includedEventTypes must be a list of event type names")
    for key in ("subjectBeginsWith", "subjectEndsWith"):
        if not isinstance(flt.get(key, ""), str):
            raise ValueError(f"{key} must be a string")
    retry = raw.get("retryPolicy") or {}
    if not isinstance(retry, dict):
        raise ValueError("retryPolicy must be an object")
    attempts = retry.get("maxDeliveryAttempts", 30)
    ttl = retry.get("eventTimeToLiveInMinutes", 1440)
    # Event Grid's limits: 1-30 attempts, 1-1440 minutes.
    if not isinstance(attempts, int) or isinstance(attempts, bool) or not 1 <= attempts <= 30:
        raise ValueError("maxDeliveryAttempts must be an integer 1..30")
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl <= 1440:
        raise ValueError("eventTimeToLiveInMinutes must be in (0, 1440]")
    return Subscription(
        dead_letter=_dead_letter(raw.get("deadLetterDestination")),
        name=name,
        url=url,
        subject_begins_with=str(flt.get("subjectBeginsWith") or ""),
        subject_ends_with=str(flt.get("subjectEndsWith") or ""),
        event_types=list(types) if types is not None else None,
        case_sensitive=bool(flt.get("isSubjectCaseSensitive", False)),
        max_attempts=attempts,
        ttl_minutes=float(ttl),
        deliver_twice=bool(raw.get("deliverTwice", False)),
    )


def _flatten_arm(raw: dict[str, Any]) -> dict[str, Any]:
    """The ARM form ``{"name", "properties": {"destination": ...}}`` as the flat form."""
    props = raw.get("properties")
    if not isinstance(props, dict):
        return raw
    dest = props.get("destination") or {}
    if not isinstance(dest, dict) or str(dest.get("endpointType", "")).lower() != "webhook":
        raise ValueError("properties.destination must be {endpointType: WebHook, properties}")
    dest_props = dest.get("properties") or {}
    if not isinstance(dest_props, dict):
        raise ValueError("properties.destination.properties must be an object")
    flat = {k: v for k, v in props.items() if k != "destination"}
    return {**flat, "name": raw.get("name"), "endpointUrl": dest_props.get("endpointUrl")}


def _dead_letter(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or str(raw.get("endpointType", "")) != "StorageBlob":
        raise ValueError("deadLetterDestination must be {endpointType: StorageBlob, properties}")
    props = raw.get("properties")
    if not isinstance(props, dict):
        raise ValueError("deadLetterDestination.properties must be an object")
    container = props.get("blobContainerName")
    if not isinstance(container, str) or not container or "/" in container or ".." in container:
        raise ValueError("deadLetterDestination.properties.blobContainerName must be a name")
    return {"endpointType": "StorageBlob", "properties": dict(props)}
