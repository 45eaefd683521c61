"""Decoding operator requests (the HTTP API's bodies) into values. Pure; bad input raises
InvalidInput.

- Actions ``POST /api/rollouts/{endpoint}/{action}``: ``{"reason": str, "actor"?: str,
  "full"?: bool}``.
- Manual starts ``POST /api/rollouts``: ``{"model", "version", "reason", "actor"?,
  "endpoint"?, "allow_downgrade"?, "tags"?, "full"?}``.

The actor is the body's ``actor``, else the caller's default (the signed-in user, else
"operator"); an actor may never pose as an alert (``alert:``) or the engine.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.errors import InvalidInput
from shared.inputs import _CONTROL, _FORBIDDEN, _name, _tags, _version, for_log

MAX_REASON = 1000
MAX_ACTOR = 200
# An actor may not pose as an alert (``alert:<rule>``) or the engine (``engine``, or
# ``engine:...``); "engineer@contoso.com" is a person.
RESERVED_ACTOR_PREFIXES = ("alert:", "engine:")
RESERVED_ACTORS = ("engine",)


@dataclass(frozen=True)
class ActionRequest:
    reason: str
    actor: str
    full: bool


def action_request(
    body: Any, default_actor: str = "operator", signed_in: str | None = None
) -> ActionRequest:
    """``{"reason": str, "actor"?: str, "full"?: bool}``; without ``actor``, ``default_actor``
    (the signed-in user, else "operator"). With a ``signed_in`` user (App Service
    Authentication verified who calls), the record names that user (see :func:`who`)."""
    if not isinstance(body, Mapping):
        raise InvalidInput('body must be a JSON object like {"reason": "...", "actor": "..."}')
    unknown = sorted(set(body) - {"reason", "actor", "full"})
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]!r} (known: reason, actor, full)")
    full = body.get("full", False)
    if not isinstance(full, bool):
        raise InvalidInput("full must be true or false")
    return ActionRequest(_reason(body), who(body.get("actor"), default_actor, signed_in), full)


def _reason(body: Mapping[str, Any]) -> str:
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("reason is required: say why")
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"reason is longer than {MAX_REASON} characters")
    if _CONTROL.search(reason) or not reason.isprintable():
        # shown in one line by the CLI, the dashboard, chat notices and logs
        raise InvalidInput("reason must be one line of printable characters")
    return reason.strip()


def who(named: Any, default_actor: str, signed_in: str | None) -> str:
    """The actor a decision records. The body's ``actor`` is what the caller says; a user
    App Service Authentication signed in is who called: the record names that user, and a
    different name from the body as who they acted for (``"ana@contoso.com (for bob)"``), so
    a key holder cannot record a decision as somebody else."""
    if signed_in is None:
        return actor(default_actor if named is None else named)
    user = actor(signed_in)
    if named is None or actor(named) == user:
        return user
    return actor(f"{user} (for {actor(named)})")


def actor(value: Any) -> str:
    """An operator's name: one line, at most MAX_ACTOR characters, never posing as an alert
    (``alert:``) or the engine."""
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > MAX_ACTOR
        or _CONTROL.search(value)
        or not value.isprintable()  # line and paragraph separators, format characters
    ):
        raise InvalidInput(
            f"actor must be a non-empty string of at most {MAX_ACTOR} characters, one line "
            "of printable characters"
        )
    # compared as the reader sees it: compatibility forms folded ("\uff1a" is ":")
    lowered = unicodedata.normalize("NFKC", value).strip().casefold()
    if lowered.startswith(RESERVED_ACTOR_PREFIXES) or lowered in RESERVED_ACTORS:
        raise InvalidInput(
            f"actor {for_log(value)!r} is reserved: operators may not act as an alert or the engine"
        )
    return value.strip()


@dataclass(frozen=True)
class StartRequest:
    """``POST /api/rollouts``: a manual start of a registered model version. ``full`` asks
    for the whole document in the reply (the handler's concern)."""

    model: str
    version: str
    reason: str
    actor: str = "operator"
    endpoint: str | None = None
    allow_downgrade: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    full: bool = False


_START_FIELDS = ("model", "version", "reason", "actor", "endpoint", "allow_downgrade", "tags")


def start_request(
    body: Any, default_actor: str = "operator", signed_in: str | None = None
) -> StartRequest:
    """``{"model", "version", "reason", "actor"?, "endpoint"?, "allow_downgrade"?, "tags"?,
    "full"?}``: the model name and version as registered in the workspace; ``tags`` (the
    model's tags, for rules that match on them); ``endpoint`` must be where the policy places
    the model (a check, never an override)."""
    if not isinstance(body, Mapping):
        raise InvalidInput(
            'body must be a JSON object like {"model": "fraud", "version": "7", "reason": "..."}'
        )
    unknown = sorted(set(body) - {*_START_FIELDS, "full"})
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]!r} (known: {', '.join(_START_FIELDS)})")
    if body.get("model") in (None, ""):
        raise InvalidInput("model is required: the registered model's name")
    if body.get("version") in (None, ""):
        raise InvalidInput("version is required: the registered model version")
    endpoint = body.get("endpoint")
    if endpoint is not None and (
        not isinstance(endpoint, str) or not endpoint.strip() or _FORBIDDEN.search(endpoint)
    ):
        raise InvalidInput("endpoint must be an online endpoint name")
    flags = {k: body.get(k, False) for k in ("allow_downgrade", "full")}
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise InvalidInput(f"{name} must be true or false")
    return StartRequest(
        model=_name(body["model"], missing="model must be the registered model's name"),
        version=_version(
            body["version"], field="version", missing="version must be the registered version"
        ),
        reason=_reason(body),
        actor=who(body.get("actor"), default_actor, signed_in),
        endpoint=endpoint.strip() if isinstance(endpoint, str) else None,
        allow_downgrade=bool(flags["allow_downgrade"]),
        tags=_tags(body.get("tags")),
        full=bool(flags["full"]),
    )
