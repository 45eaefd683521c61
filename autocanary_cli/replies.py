"""The API's replies as the CLI reads them: decoded and checked against the shape the command
expects, in one place (autocanary_cli.client), so that the views can read them as given.

A shape names the objects and lists a view reads into (``rollout``, ``rollout.why``, each
decision, ...) and the few fields a command cannot do without (a detail's rollout, its id and
phase). Anything else may be missing or null, and a leaf (a number, a time, a message) is
formatted whatever its type (autocanary_cli.fmt). Fields the CLI does not read are not looked
at: the API only ever adds fields.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

MAX_DEPTH = 100  # a contract document is a few levels deep; far below the recursion limit
MAX_INT_DIGITS = 300  # beyond a double's range: no API number is that large


class Unexpected(Exception):
    """A reply that is not the document the command expects (the text says what is wrong)."""


@dataclass(frozen=True)
class Obj:
    """A JSON object: ``fields`` that are there (and not null) have their shape, ``required``
    ones must be there, and at least one of ``any_of`` (when given)."""

    fields: Mapping[str, Shape] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()


@dataclass(frozen=True)
class Items:
    """A JSON list, each item of the shape ``item``."""

    item: Shape


Shape: TypeAlias = "Obj | Items | type | tuple[type, ...]"

OBJECT = Obj()
LIST = Items(object)
WAITING = Obj({"model": OBJECT})  # {"model": {"name", "version"}, "rule", "endpoint"}
WHY = Obj({"canary": OBJECT, "baseline": OBJECT, "threshold": OBJECT, "minutes_used": LIST})
TRAFFIC = Obj({"wanted": OBJECT, "live": OBJECT, "wanted_mirror": OBJECT, "live_mirror": OBJECT})
ROLLOUT = Obj(
    {
        "id": str,
        "phase": str,
        "why": WHY,
        "stage_timing": OBJECT,
        "traffic": TRAFFIC,
        "mirror": OBJECT,  # an older API's shadow split
        "allowed_actions": LIST,
    },
    required=("id", "phase"),
)
# GET /api/rollouts/{endpoint} and .../history/{id}
DETAIL = Obj(
    {"rollout": ROLLOUT, "waiting": WAITING, "decisions": Items(OBJECT), "allowed_actions": LIST},
    required=("rollout",),
)
# GET /api/rollouts and .../history
ROLLOUT_PAGE = Obj({"rollouts": Items(OBJECT)}, required=("rollouts",))
# GET /api/health (200 every check passed, 503 one failed: the same document)
HEALTH = Obj({"checks": Items(OBJECT), "failing": LIST}, required=("status", "checks"))
# GET /api/events
EVENT_PAGE = Obj({"events": Items(Obj({"model": OBJECT}))}, required=("events",))
# POST /api/rollouts/{endpoint}/{action} and POST /api/rollouts: what happened, to what
ACTION_REPLY = Obj(
    {"rollout": ROLLOUT, "decision": OBJECT, "waiting": WAITING, "cancelled": WAITING},
    any_of=("rollout", "outcome"),
)


def decode(raw: bytes) -> Any:
    """The JSON value of a reply's body (an empty body is ``{}``); Unexpected when the body is
    not JSON, nests deeper than MAX_DEPTH or holds a number no JSON reader keeps."""
    if not raw:
        return {}
    try:
        doc = json.loads(raw, parse_int=_int)
    except _OutOfRange:
        raise Unexpected("a number out of range") from None
    except RecursionError:
        raise Unexpected(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except ValueError:  # also a body that is not UTF-8
        raise Unexpected("not JSON") from None
    if _deeper_than(doc, MAX_DEPTH):
        raise Unexpected(f"JSON nested deeper than {MAX_DEPTH} levels")
    return doc


def document(raw: bytes, shape: Obj) -> dict[str, Any]:
    """The JSON object of a reply's body, of ``shape``; Unexpected when it is not."""
    doc = decode(raw)
    check(doc, shape)
    if not isinstance(doc, dict):  # an Obj shape has checked it; this tells mypy
        raise Unexpected(f"the reply is {_kind(doc)}, not an object")
    return doc


def check(value: Any, shape: Shape, where: str = "the reply") -> None:
    """Unexpected, naming the first place where ``value`` is not of ``shape``."""
    if isinstance(shape, Obj):
        if not isinstance(value, dict):
            raise Unexpected(f"{where} is {_kind(value)}, not an object")
        for name in shape.required:
            if value.get(name) is None:
                raise Unexpected(f"{where} has no {name}")
        if shape.any_of and all(value.get(name) is None for name in shape.any_of):
            raise Unexpected(f"{where} has no {' and no '.join(shape.any_of)}")
        for name, inner in shape.fields.items():
            if value.get(name) is not None:
                check(value[name], inner, name if where == "the reply" else f"{where}.{name}")
    elif isinstance(shape, Items):
        if not isinstance(value, list):
            raise Unexpected(f"{where} is {_kind(value)}, not a list")
        for index, item in enumerate(value):
            check(item, shape.item, f"{where}[{index}]")
    elif not isinstance(value, shape):
        wanted = shape[0] if isinstance(shape, tuple) else shape
        raise Unexpected(f"{where} is {_kind(value)}, not {_KINDS.get(wanted, wanted.__name__)}")


class _OutOfRange(ValueError):
    pass


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _OutOfRange(text[:20])
    return int(text)


def _deeper_than(doc: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


_KINDS: dict[type, str] = {
    dict: "an object",
    list: "a list",
    str: "a string",
    bool: "true or false",
    int: "a number",
    float: "a number",
    type(None): "null",
}


def _kind(value: Any) -> str:
    return _KINDS.get(type(value), type(value).__name__)
