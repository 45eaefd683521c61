"""Scenario files: parse and validate completely before anything runs. Pure.

Every error is an :class:`InvalidInput` whose message starts with the dotted path of the field
(``scenario.events[3].at: ...``), so a bad file is fixed without guessing. Durations are written
as the policy writes them (``90s``, ``5m``, ``2h``, or a number of seconds).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from shared.errors import InvalidInput, PolicyError
from shared.policy import PolicySet, load_policy_text, parse_duration, parse_policy

CRASH_POINTS = ("before_write", "after_write", "after_effect")
ALERT_STATUSES = ("Fired", "Resolved")
OPERATOR_VERBS = ("pause", "resume", "promote", "rollback", "abort")
ARM_OPERATIONS = (
    "get_endpoint",
    "create_deployment",
    "set_traffic",
    "delete_deployment",
    "get_logs",
)
# Azure ML's code for a create refused for want of quota (learn.microsoft.com/azure/
# machine-learning/how-to-troubleshoot-online-endpoints, "ERROR: OutOfQuota").
DEFAULT_REFUSAL = "OutOfQuota"
DEFAULT_ERROR_RATE = 0.001
DEFAULT_LATENCY_MS = 50.0
DEFAULT_LATENCY_SIGMA = 0.5
_Z99 = 2.3263478740408408  # standard normal 0.99 quantile


def bad(where: str, message: str) -> InvalidInput:
    return InvalidInput(f"{where}: {message}", code="invalid_scenario", details={"field": where})


@dataclass(frozen=True)
class Behaviour:
    """How a deployment serves. Unset fields are inherited (from the deployment it was cloned
    from, or the live history when the scenario has a ``series``).

    error_rate:     share of requests answered 5xx (absolute)
    error_factor:   multiplier on the inherited error rate (2.0: twice as many errors)
    latency_ms:     median latency (requests are log-normal)
    latency_factor: multiplier on the inherited latency
    latency_sigma:  spread of log latency (p99 = median x exp(2.326 sigma))
    overdispersion: gamma shape k of a per-minute error-rate multiplier (0: none; 4 is bursty)
    """

    error_rate: float | None = None
    error_factor: float | None = None
    latency_ms: float | None = None
    latency_factor: float | None = None
    latency_sigma: float | None = None
    overdispersion: float | None = None

    def over(self, base: Behaviour) -> Behaviour:
        """These settings laid over ``base``: an absolute value replaces the inherited one
        (and its factor); a factor alone multiplies the inherited value."""
        rate, factor = _layer(
            self.error_rate, self.error_factor, base.error_rate, base.error_factor
        )
        latency, lfactor = _layer(
            self.latency_ms, self.latency_factor, base.latency_ms, base.latency_factor
        )
        return Behaviour(
            error_rate=rate,
            error_factor=factor,
            latency_ms=latency,
            latency_factor=lfactor,
            latency_sigma=_first(self.latency_sigma, base.latency_sigma),
            overdispersion=_first(self.overdispersion, base.overdispersion),
        )


def _first(a: float | None, b: float | None) -> float | None:
    return a if a is not None else b


def _layer(
    value: float | None, factor: float | None, base_value: float | None, base_factor: float | None
) -> tuple[float | None, float | None]:
    if value is not None:
        return value, factor
    if factor is not None:
        return base_value, factor * (base_factor if base_factor is not None else 1.0)
    return base_value, base_factor


@dataclass(frozen=True)
class EndpointSpec:
    name: str
    deployments: Mapping[str, str]  # name -> model asset id (azureml:name:version)
    traffic: Mapping[str, int]
    mirror: Mapping[str, int]
    instance_count: int = 1


@dataclass(frozen=True)
class MetricsSpec:
    delay: float = 0.0
    mirror_counted: bool = True
    outages: tuple[tuple[float, float], ...] = ()  # minutes never recorded (no data)
    unavailable: tuple[tuple[float, float], ...] = ()  # the source answers nothing (NoData)


@dataclass(frozen=True)
class ArmSpec:
    provisioning: float = 120.0
    deletion: float = 60.0
    fail_rate: float = 0.0
    fail_provisioning: tuple[str, ...] = ()  # models (name:version) or deployment names
    refuse_create: Mapping[str, str] = field(default_factory=dict)  # model -> Azure error code
    faults: Mapping[str, int] = field(default_factory=dict)  # operation -> next calls failing


@dataclass(frozen=True)
class SeriesMinute:
    """One minute of an endpoint's real history: its requests, errors and percentiles."""

    requests: int
    errors: int
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None


EventKind = Literal["register", "behaviour", "alert", "operator", "manual", "crash", "arm"]


@dataclass(frozen=True)
class Event:
    at: float
    kind: EventKind
    data: Mapping[str, Any]
    index: int


@dataclass(frozen=True)
class Expect:
    phase: str | None = None
    reason: str | None = None
    max_duration: float | None = None
    min_duration: float | None = None
    invariants: bool = False
    reasons: tuple[str, ...] = ()  # decision reasons that must all appear, in this order
    absent_reasons: tuple[str, ...] = ()  # decision reasons that must never appear
    refused: Mapping[str, int] | None = None
    deployments: tuple[str, ...] | None = None  # the deployments left at the end
    traffic: Mapping[str, int] | None = None  # the live traffic at the end
    mirror: Mapping[str, int] | None = None  # the mirror at the end
    instances: Mapping[str, int] | None = None  # instance count of deployments at the end
    rollouts: int | None = None  # how many rollouts the endpoint saw
    settles: bool = False  # the last rollout ended, or waits paused on an allowed action
    events: Mapping[str, int] | None = None  # lifecycle events published: type -> exact count
    events_at_most: Mapping[str, int] | None = None  # type -> at most this many


@dataclass(frozen=True)
class Scenario:
    policy: PolicySet
    endpoint: EndpointSpec
    requests_per_minute: float
    behaviour: Mapping[str, Behaviour]
    metrics: MetricsSpec
    arm: ArmSpec
    events: tuple[Event, ...]
    until: float
    seed: int
    tick: float = 60.0
    series: tuple[SeriesMinute, ...] = ()
    expect: Expect | None = None
    name: str = "scenario"


_TOP = {
    "name",
    "description",
    "policy",
    "endpoint",
    "requests_per_minute",
    "behaviour",
    "metrics",
    "arm",
    "events",
    "until",
    "seed",
    "tick",
    "series",
    "expect",
}


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file (JSON)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read scenario {p}: {exc.strerror}") from exc
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise bad("scenario", f"is not valid JSON: {exc}") from exc
    return parse_scenario(raw, base_dir=p.parent, name=p.stem)


def parse_scenario(raw: Any, *, base_dir: Path | None = None, name: str = "scenario") -> Scenario:
    if not isinstance(raw, Mapping):
        raise bad("scenario", "must be a JSON object")
    _unknown(raw, _TOP, "scenario")
    for required in ("policy", "endpoint"):
        if required not in raw:
            raise bad(f"scenario.{required}", "is required")
    policy = _policy(raw["policy"], base_dir)
    endpoint = _endpoint(raw["endpoint"])
    rpm = _number(raw.get("requests_per_minute", 6000), "scenario.requests_per_minute", lo=0)
    behaviour = {
        str(k): _behaviour(v, f"scenario.behaviour.{k}")
        for k, v in _mapping(raw.get("behaviour") or {}, "scenario.behaviour").items()
    }
    metrics = _metrics(raw.get("metrics") or {})
    arm = _arm(raw.get("arm") or {})
    until = _duration(raw.get("until", "6h"), "scenario.until")
    if until <= 0:
        raise bad("scenario.until", "must be above 0")
    tick = _duration(raw.get("tick", "1m"), "scenario.tick")
    if tick < 1:
        raise bad("scenario.tick", "must be at least 1s")
    if until / tick > 100_000:
        raise bad("scenario.until", f"more than 100000 ticks of {tick:g}s")
    seed = raw.get("seed", 1)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise bad("scenario.seed", "must be a whole number >= 0")
    events_raw = raw.get("events") or []
    if not isinstance(events_raw, list):
        raise bad("scenario.events", "must be a list")
    events = [_event(e, i, endpoint) for i, e in enumerate(events_raw)]
    for e in events:
        if e.at > until:
            raise bad(f"scenario.events[{e.index}].at", f"is after until ({until:g}s)")
    events.sort(key=lambda e: (e.at, e.index))
    series = _series(raw.get("series"), base_dir) if raw.get("series") is not None else ()
    expect = _expect(raw["expect"]) if raw.get("expect") is not None else None
    title = raw.get("name", name)
    if not isinstance(title, str):
        raise bad("scenario.name", "must be a string")
    return Scenario(
        policy=policy,
        endpoint=endpoint,
        requests_per_minute=rpm,
        behaviour=behaviour,
        metrics=metrics,
        arm=arm,
        events=tuple(events),
        until=until,
        seed=seed,
        tick=tick,
        series=series,
        expect=expect,
        name=title,
    )


# ------------------------------------------------------------------------------ parts


def _policy(raw: Any, base_dir: Path | None) -> PolicySet:
    try:
        if isinstance(raw, str):
            if base_dir is not None and "\n" not in raw and raw.endswith((".yaml", ".yml")):
                path = base_dir / raw
                try:
                    raw = path.read_text(encoding="utf-8")
                except OSError as exc:
                    raise bad("scenario.policy", f"cannot read {raw}: {exc.strerror}") from exc
            return load_policy_text(raw, source="scenario.policy")
        if isinstance(raw, Mapping):
            return parse_policy(raw)
    except PolicyError as exc:
        raise bad(f"scenario.policy.{exc.field}", exc.message) from exc
    raise bad("scenario.policy", "must be policy YAML/JSON text or a policy object")


def _endpoint(raw: Any) -> EndpointSpec:
    where = "scenario.endpoint"
    m = _mapping(raw, where)
    _unknown(m, {"name", "deployments", "traffic", "mirror", "instance_count"}, where)
    name = m.get("name")
    if not isinstance(name, str) or not name:
        raise bad(f"{where}.name", "is required: the online endpoint's name")
    deployments: dict[str, str] = {}
    for dep, spec in _mapping(m.get("deployments") or {}, f"{where}.deployments").items():
        p = f"{where}.deployments.{dep}"
        model = spec.get("model") if isinstance(spec, Mapping) else spec
        if isinstance(spec, Mapping):
            _unknown(spec, {"model"}, p)
        if not isinstance(model, str) or not model:
            raise bad(f"{p}.model", "must be a model asset id like azureml:fraud:1")
        deployments[str(dep)] = model if model.startswith("azureml:") else f"azureml:{model}"
    traffic = _percents(m.get("traffic") or {}, f"{where}.traffic")
    mirror = _percents(m.get("mirror") or {}, f"{where}.mirror")
    for label, split in (("traffic", traffic), ("mirror", mirror)):
        for dep in split:
            if dep not in deployments:
                raise bad(f"{where}.{label}.{dep}", "names a deployment not in deployments")
    if traffic and sum(traffic.values()) not in (0, 100):
        raise bad(f"{where}.traffic", f"must sum to 100 (or 0), got {sum(traffic.values())}")
    count = m.get("instance_count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise bad(f"{where}.instance_count", "must be a whole number >= 1")
    return EndpointSpec(name, deployments, traffic, mirror, count)


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
        values["latency_sigma"] = math.log(p99 / median) / _Z99
    if "overdispersion" in m:
        values["overdispersion"] = _number(m["overdispersion"], f"{where}.overdispersion", lo=0)
    return Behaviour(**values)


def _metrics(raw: Any) -> MetricsSpec:
    where = "scenario.metrics"
    m = _mapping(raw, where)
    _unknown(m, {"delay", "mirror_counted", "outages", "unavailable"}, where)
    delay = _duration(m.get("delay", 0), f"{where}.delay")
    counted = m.get("mirror_counted", True)
    if not isinstance(counted, bool):
        raise bad(f"{where}.mirror_counted", "must be true or false")
    return MetricsSpec(
        delay=delay,
        mirror_counted=counted,
        outages=_windows(m.get("outages") or [], f"{where}.outages"),
        unavailable=_windows(m.get("unavailable") or [], f"{where}.unavailable"),
    )


def _arm(raw: Any) -> ArmSpec:
    where = "scenario.arm"
    m = _mapping(raw, where)
    _unknown(
        m,
        {"provisioning", "deletion", "fail_rate", "fail_provisioning", "refuse_create", "faults"},
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
    return ArmSpec(
        provisioning=_duration(m.get("provisioning", "2m"), f"{where}.provisioning"),
        deletion=_duration(m.get("deletion", "1m"), f"{where}.deletion"),
        fail_rate=_number(m.get("fail_rate", 0.0), f"{where}.fail_rate", lo=0, hi=1),
        fail_provisioning=tuple(_model_key(x) for x in fail),
        refuse_create={_model_key(str(k)): str(v) for k, v in refuse.items()},
        faults=faults,
    )


def _model_key(value: str) -> str:
    """``azureml:fraud:2`` and ``fraud:2`` name the same version; deployment names stay."""
    return value[len("azureml:") :] if value.startswith("azureml:") else value


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
        _unknown(b, {"action", "actor", "reason", "full"}, p)
        action = b.get("action")
        if action not in OPERATOR_VERBS:
            raise bad(f"{p}.action", f"must be one of {', '.join(OPERATOR_VERBS)}")
        reason = b.get("reason", f"{action} from the scenario")
        actor = b.get("actor", "operator")
        if not isinstance(reason, str) or not reason.strip():
            raise bad(f"{p}.reason", "must be a non-empty string")
        if not isinstance(actor, str) or not actor.strip():
            raise bad(f"{p}.actor", "must be a non-empty string")
        full = b.get("full", False)
        if not isinstance(full, bool):
            raise bad(f"{p}.full", "must be true or false")
        data = {"action": action, "actor": actor, "reason": reason, "full": full}
    elif kind == "manual":
        b = _mapping(body, p)
        _unknown(b, {"traffic", "mirror", "delete_deployment"}, p)
        if "delete_deployment" in b:
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
            raise bad(p, "must hold traffic and/or mirror, or delete_deployment")
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


def _series(raw: Any, base_dir: Path | None) -> tuple[SeriesMinute, ...]:
    where = "scenario.series"
    if isinstance(raw, str):
        if base_dir is None:
            raise bad(where, "a series file needs a scenario file beside it")
        try:
            raw = json.loads((base_dir / raw).read_text(encoding="utf-8"))
        except OSError as exc:
            raise bad(where, f"cannot read {raw}: {exc.strerror}") from exc
        except ValueError as exc:
            raise bad(where, f"is not valid JSON: {exc}") from exc
    return parse_series(raw, where)


def parse_series(raw: Any, where: str = "series") -> tuple[SeriesMinute, ...]:
    """A live deployment's per-minute history: ``{"minutes": [{"requests", "errors",
    "p50"?, "p90"?, "p99"?}, ...]}`` or the list itself."""
    if isinstance(raw, Mapping):
        _unknown(raw, {"minutes", "endpoint", "deployment"}, where)
        raw = raw.get("minutes")
        where = f"{where}.minutes"
    if not isinstance(raw, list) or not raw:
        raise bad(where, "must be a non-empty list of minutes")
    out: list[SeriesMinute] = []
    for i, item in enumerate(raw):
        p = f"{where}[{i}]"
        m = _mapping(item, p)
        _unknown(m, {"requests", "errors", "p50", "p90", "p99", "start"}, p)
        for k in ("requests", "errors"):
            if k not in m:
                raise bad(f"{p}.{k}", "is required")
        n = _count(m["requests"], f"{p}.requests")
        e = _count(m["errors"], f"{p}.errors")
        if e > n:
            raise bad(f"{p}.errors", f"is more than requests ({e} > {n})")
        pct = {
            k: _number(m[k], f"{p}.{k}", lo=0, lo_open=True) if m.get(k) is not None else None
            for k in ("p50", "p90", "p99")
        }
        out.append(SeriesMinute(n, e, pct["p50"], pct["p90"], pct["p99"]))
    return tuple(out)


def _expect(raw: Any) -> Expect:
    where = "scenario.expect"
    m = _mapping(raw, where)
    known = {
        "phase",
        "reason",
        "max_duration",
        "min_duration",
        "invariants",
        "reasons",
        "absent_reasons",
        "refused",
        "deployments",
        "traffic",
        "mirror",
        "instances",
        "rollouts",
        "settles",
        "events",
        "events_at_most",
    }
    _unknown(m, known, where)
    for k in ("phase", "reason"):
        if k in m and not isinstance(m[k], str):
            raise bad(f"{where}.{k}", "must be a string")
    invariants = m.get("invariants", False)
    settles = m.get("settles", False)
    for k, v in (("invariants", invariants), ("settles", settles)):
        if not isinstance(v, bool):
            raise bad(f"{where}.{k}", "must be true or false")
    lists: dict[str, tuple[str, ...]] = {}
    for k in ("reasons", "absent_reasons", "deployments"):
        v = m.get(k, [])
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise bad(f"{where}.{k}", "must be a list of strings")
        lists[k] = tuple(v)
    refused = None
    if "refused" in m:
        refused = {
            str(k): _count(v, f"{where}.refused.{k}")
            for k, v in _mapping(m["refused"], f"{where}.refused").items()
        }
    return Expect(
        phase=m.get("phase"),
        reason=m.get("reason"),
        max_duration=_duration(m["max_duration"], f"{where}.max_duration")
        if "max_duration" in m
        else None,
        min_duration=_duration(m["min_duration"], f"{where}.min_duration")
        if "min_duration" in m
        else None,
        invariants=invariants,
        reasons=lists["reasons"],
        absent_reasons=lists["absent_reasons"],
        refused=refused,
        deployments=lists["deployments"] if "deployments" in m else None,
        traffic=_percents(m["traffic"], f"{where}.traffic") if "traffic" in m else None,
        mirror=_percents(m["mirror"], f"{where}.mirror") if "mirror" in m else None,
        instances={
            str(k): _count(v, f"{where}.instances.{k}")
            for k, v in _mapping(m["instances"], f"{where}.instances").items()
        }
        if "instances" in m
        else None,
        rollouts=_count(m["rollouts"], f"{where}.rollouts") if "rollouts" in m else None,
        settles=settles,
        events=_counts(m, "events", where),
        events_at_most=_counts(m, "events_at_most", where),
    )


def _counts(m: Mapping[str, Any], key: str, where: str) -> dict[str, int] | None:
    if key not in m:
        return None
    return {
        str(k): _count(v, f"{where}.{key}.{k}")
        for k, v in _mapping(m[key], f"{where}.{key}").items()
    }


# ------------------------------------------------------------------------------ values


def _mapping(raw: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise bad(where, "must be an object")
    return raw


def _unknown(raw: Mapping[str, Any], known: set[str], where: str) -> None:
    extra = sorted(set(raw) - known)
    if extra:
        raise bad(f"{where}.{extra[0]}", f"unknown field (known: {', '.join(sorted(known))})")


_COMPOUND = re.compile(r"^\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+(?:\.\d+)?)s)?\s*$")


def _duration(raw: Any, where: str) -> float:
    """A policy duration (``90s``, ``5m``, ``1.5h``), or a compound one (``1h30m``, ``4m30s``)."""
    if isinstance(raw, str) and (m := _COMPOUND.match(raw)) and any(m.groups()):
        h, mins, secs = m.groups()
        return int(h or 0) * 3600.0 + int(mins or 0) * 60.0 + float(secs or 0)
    try:
        return parse_duration(raw, where)
    except PolicyError as exc:
        raise bad(where, f"must be a duration like 90s, 5m, 2h (got {raw!r})") from exc


def _number(
    raw: Any,
    where: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise bad(where, f"must be a number, got {raw!r}")
    v = float(raw)
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise bad(where, f"must be {'>' if lo_open else '>='} {lo:g}, got {v:g}")
    if hi is not None and v > hi:
        raise bad(where, f"must be <= {hi:g}, got {v:g}")
    return v


def _count(raw: Any, where: str) -> int:
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise bad(where, f"must be a whole number >= 0, got {raw!r}")
    return raw


def _percents(raw: Any, where: str) -> dict[str, int]:
    m = _mapping(raw, where)
    out: dict[str, int] = {}
    for k, v in m.items():
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 100:
            raise bad(f"{where}.{k}", f"must be a whole percent 0-100, got {v!r}")
        out[str(k)] = v
    return out


def _windows(raw: Any, where: str) -> tuple[tuple[float, float], ...]:
    if not isinstance(raw, list):
        raise bad(where, 'must be a list of ["start", "end"] pairs')
    out: list[tuple[float, float]] = []
    for i, pair in enumerate(raw):
        p = f"{where}[{i}]"
        if not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2:
            raise bad(p, 'must be a ["start", "end"] pair like ["10m", "20m"]')
        a, b = _duration(pair[0], f"{p}[0]"), _duration(pair[1], f"{p}[1]")
        if b <= a:
            raise bad(f"{p}[1]", "must be after the start")
        out.append((a, b))
    return tuple(out)
