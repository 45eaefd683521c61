"""The ``events`` of a scenario file and the ``behaviour`` of a deployment, validated. Pure."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from shared.simulation.fields import (
    _count,
    _duration,
    _mapping,
    _model_key,
    _number,
    _percents,
    _unknown,
    bad,
)
from shared.simulation.spec import (
    ALERT_STATUSES,
    ARM_OPERATIONS,
    DEFAULT_REFUSAL,
    OPERATOR_VERBS,
    Z99,
    ArmSpec,
    Behaviour,
    EndpointSpec,
    Event,
)


def _behaviour(raw: Any, where: str) -> Behaviour:
    m = _mapping(raw, where)
    keys = {
        "error_rate",
        "error_factor",
        "latency_ms",
        "latency_factor",
        "latency_sigma",
        "p99_ms",
        "overdispersion",
        "flipped",
    }
    _unknown(m, keys | {"target"}, where)
    values: dict[str, float] = {}
    if "error_rate" in m:
        values["error_rate"] = _number(m["error_rate"], f"{where}.error_rate", lo=0, hi=1)
    for name in ("error_factor", "latency_factor"):
        if name in m:
            values[name] = _number(m[name], f"{where}.{name}", lo=0)
    if "latency_ms" in m:
        values["latency_ms"] = _number(m["latency_ms"], f"{where}.latency_ms", lo=0, lo_open=True)
    if "latency_sigma" in m:
        values["latency_sigma"] = _number(m["latency_sigma"], f"{where}.latency_sigma", lo=0)
    if "p99_ms" in m:
        if "latency_sigma" in m:
            raise bad(f"{where}.p99_ms", "give latency_sigma or p99_ms, not both")
        median = values.get("latency_ms")
        if median is None:
            raise bad(f"{where}.p99_ms", "needs latency_ms (the median) beside it")
        p99 = _number(m["p99_ms"], f"{where}.p99_ms", lo=median)
        values["latency_sigma"] = math.log(p99 / median) / Z99
    if "overdispersion" in m:
        values["overdispersion"] = _number(m["overdispersion"], f"{where}.overdispersion", lo=0)
    flipped: bool | None = None
    if "flipped" in m:
        if not isinstance(m["flipped"], bool):
            raise bad(f"{where}.flipped", "must be true or false")
        flipped = m["flipped"]
    return Behaviour(**values, flipped=flipped)


def _start(b: Mapping[str, Any], p: str) -> dict[str, Any]:
    """An operator's manual start: the model and version, optional tags and downgrade."""
    model, version = b.get("model"), b.get("version")
    if not isinstance(model, str) or not model:
        raise bad(f"{p}.model", "is required for start: the model's name")
    if isinstance(version, bool) or not isinstance(version, str | int) or version == "":
        raise bad(f"{p}.version", "is required for start: a string or a whole number")
    downgrade = b.get("allow_downgrade", False)
    if not isinstance(downgrade, bool):
        raise bad(f"{p}.allow_downgrade", "must be true or false")
    tags = _mapping(b.get("tags") or {}, f"{p}.tags")
    return {
        "model": model,
        "version": str(version),
        "allow_downgrade": downgrade,
        "tags": {str(k): str(v) for k, v in tags.items()},
    }


def _event(raw: Any, i: int, endpoint: EndpointSpec) -> Event:
    where = f"scenario.events[{i}]"
    m = _mapping(raw, where)
    if "at" not in m:
        raise bad(f"{where}.at", "is required (a time like 25m)")
    at = _duration(m["at"], f"{where}.at")
    kinds = [k for k in m if k != "at"]
    allowed = ("register", "behaviour", "alert", "operator", "manual", "crash", "arm")
    unknown = [k for k in kinds if k not in allowed]
    if unknown:
        raise bad(f"{where}.{unknown[0]}", f"unknown event (known: {', '.join(allowed)})")
    if len(kinds) != 1:
        raise bad(where, f"must hold exactly one of {', '.join(allowed)} beside 'at'")
    kind = kinds[0]
    body = m[kind]
    p = f"{where}.{kind}"
    data: dict[str, Any]
    if kind == "register":
        b = _mapping(body, p)
        _unknown(b, {"model", "version", "tags", "event_id"}, p)
        model = b.get("model")
        version = b.get("version")
        if not isinstance(model, str) or not model:
            raise bad(f"{p}.model", "is required: the registered model's name")
        if isinstance(version, bool) or not isinstance(version, str | int) or version == "":
            raise bad(f"{p}.version", "is required: a string or a whole number")
        tags = _mapping(b.get("tags") or {}, f"{p}.tags")
        event_id = b.get("event_id", f"sim-event-{i}")
        if not isinstance(event_id, str) or not event_id:
            raise bad(f"{p}.event_id", "must be a non-empty string")
        data = {
            "model": model,
            "version": str(version),
            "tags": {str(k): str(v) for k, v in tags.items()},
            "event_id": event_id,
        }
    elif kind == "behaviour":
        b = _mapping(body, p)
        target = b.get("target")
        if not isinstance(target, str) or not target:
            raise bad(f"{p}.target", "is required: a deployment name or model:version")
        data = {"target": _model_key(target), "behaviour": _behaviour(b, p)}
    elif kind == "alert":
        b = _mapping(body, p)
        _unknown(b, {"deployment", "status", "rule", "target"}, p)
        status = b.get("status", "Fired")
        if status not in ALERT_STATUSES:
            raise bad(f"{p}.status", "must be Fired or Resolved")
        for k in ("deployment", "rule", "target"):
            if k in b and (not isinstance(b[k], str) or not b[k]):
                raise bad(f"{p}.{k}", "must be a non-empty string")
        data = {
            "status": status,
            "deployment": b.get("deployment"),
            "rule": b.get("rule", "canary-errors"),
            "target": b.get("target"),
        }
    elif kind == "operator":
        b = _mapping(body, p)
        start_keys = {"model", "version", "allow_downgrade", "tags"}
        _unknown(b, {"action", "actor", "reason", "full", *start_keys}, p)
        action = b.get("action")
        if action not in OPERATOR_VERBS:
            raise bad(f"{p}.action", f"must be one of {', '.join(OPERATOR_VERBS)}")
        start: dict[str, Any] = {}
        if action == "start":
            start = _start(b, p)
        elif set(b) & start_keys:
            raise bad(p, f"{', '.join(sorted(set(b) & start_keys))}: only for action start")
        reason = b.get("reason", f"{action} from the scenario")
        actor = b.get("actor", "operator")
        if not isinstance(reason, str) or not reason.strip():
            raise bad(f"{p}.reason", "must be a non-empty string")
        if not isinstance(actor, str) or not actor.strip():
            raise bad(f"{p}.actor", "must be a non-empty string")
        full = b.get("full", False)
        if not isinstance(full, bool):
            raise bad(f"{p}.full", "must be true or false")
        data = {"action": action, "actor": actor, "reason": reason, "full": full, **start}
    elif kind == "manual":
        b = _mapping(body, p)
        _unknown(b, {"traffic", "mirror", "delete_deployment", "scale"}, p)
        if "scale" in b:
            # a deployment's instance count changed outside autocanary (its autoscale setting,
            # or a person): deployment -> instances
            if set(b) != {"scale"}:
                raise bad(p, "scale stands alone (one change per event)")
            counts = _mapping(b["scale"], f"{p}.scale")
            if len(counts) != 1:
                raise bad(f"{p}.scale", "must name exactly one deployment and its instance count")
            ((dep, raw),) = counts.items()
            n = _count(raw, f"{p}.scale.{dep}")
            if n < 1:
                raise bad(f"{p}.scale.{dep}", "must be at least 1 instance")
            data = {"scale": {"deployment": str(dep), "instances": n}}
        elif "delete_deployment" in b:
            if set(b) != {"delete_deployment"}:
                raise bad(p, "delete_deployment stands alone (one change per event)")
            name = b["delete_deployment"]
            if not isinstance(name, str) or not name:
                raise bad(f"{p}.delete_deployment", "must be a deployment name")
            data = {"delete_deployment": name}
        elif "traffic" in b or "mirror" in b:
            data = {
                "traffic": _percents(b.get("traffic") or {}, f"{p}.traffic")
                if "traffic" in b
                else None,
                "mirror": _percents(b.get("mirror") or {}, f"{p}.mirror")
                if "mirror" in b
                else None,
            }
        else:
            raise bad(p, "must hold traffic and/or mirror, delete_deployment, or scale")
    elif kind == "crash":
        data = {"point": _crash(body, p)[0], "n": _crash(body, p)[1]}
    else:  # arm: change ARM behaviour mid-run
        arm = _arm(body)
        data = {"arm": arm, "keys": sorted(_mapping(body, p))}
    del endpoint  # deployments may be created later: names are checked when the event runs
    return Event(at, kind, data, i)  # type: ignore[arg-type]


def _crash(raw: Any, where: str) -> tuple[str, int]:
    if not isinstance(raw, str):
        raise bad(where, "must be before_write, after_write or 'after_effect N'")
    parts = raw.split()
    if parts and parts[0] in ("before_write", "after_write") and len(parts) == 1:
        return parts[0], 0
    if len(parts) == 2 and parts[0] == "after_effect" and parts[1].isdigit() and int(parts[1]) > 0:
        return "after_effect", int(parts[1])
    raise bad(where, f"must be before_write, after_write or 'after_effect N' (got {raw!r})")


def _arm(raw: Any) -> ArmSpec:
    where = "scenario.arm"
    m = _mapping(raw, where)
    _unknown(
        m,
        {
            "provisioning",
            "deletion",
            "fail_rate",
            "fail_provisioning",
            "refuse_create",
            "faults",
            "hidden",
            "refuse_autoscale_copy",
            "traffic_update",
        },
        where,
    )
    faults = {
        str(k): _count(v, f"{where}.faults.{k}")
        for k, v in _mapping(m.get("faults") or {}, f"{where}.faults").items()
    }
    for op in faults:
        if op not in ARM_OPERATIONS:
            raise bad(
                f"{where}.faults.{op}", f"unknown operation (known: {', '.join(ARM_OPERATIONS)})"
            )
    fail = m.get("fail_provisioning") or []
    if not isinstance(fail, list) or not all(isinstance(x, str) and x for x in fail):
        raise bad(f"{where}.fail_provisioning", "must be a list of model:version or deployments")
    refuse_raw = m.get("refuse_create") or {}
    if isinstance(refuse_raw, list):
        refuse_raw = dict.fromkeys(refuse_raw, DEFAULT_REFUSAL)
    refuse = _mapping(refuse_raw, f"{where}.refuse_create")
    for k, v in refuse.items():
        if not isinstance(v, str) or not v:
            raise bad(f"{where}.refuse_create.{k}", "must be the Azure error code to answer")
    refuse_copy = m.get("refuse_autoscale_copy", "")
    if not isinstance(refuse_copy, str):
        raise bad(f"{where}.refuse_autoscale_copy", "must be the Azure error code to answer")
    return ArmSpec(
        refuse_autoscale_copy=refuse_copy,
        provisioning=_duration(m.get("provisioning", "2m"), f"{where}.provisioning"),
        deletion=_duration(m.get("deletion", "1m"), f"{where}.deletion"),
        fail_rate=_number(m.get("fail_rate", 0.0), f"{where}.fail_rate", lo=0, hi=1),
        fail_provisioning=tuple(_model_key(x) for x in fail),
        refuse_create={_model_key(str(k)): str(v) for k, v in refuse.items()},
        faults=faults,
        hidden=_duration(m.get("hidden", "0s"), f"{where}.hidden"),
        traffic_update=_duration(m.get("traffic_update", "0s"), f"{where}.traffic_update"),
    )
