"""Scenario files: parse and validate completely before anything runs. Pure.

Every error is an :class:`InvalidInput` whose message starts with the dotted path of the field
(``scenario.events[3].at: ...``), so a bad file is fixed without guessing. Durations are written
as the policy writes them (``90s``, ``5m``, ``2h``, or a number of seconds) or compound
(``4m30s``). The values are those of :mod:`shared.simulation.spec` (re-exported here); events
and behaviours are validated in :mod:`shared.simulation.events`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shared.errors import InvalidInput, PolicyError
from shared.policy import PolicySet, load_policy_text, parse_policy
from shared.simulation.events import _arm, _behaviour, _event
from shared.simulation.fields import (
    _count,
    _counts,
    _duration,
    _mapping,
    _number,
    _percents,
    _unknown,
    _windows,
    bad,
)
from shared.simulation.spec import (
    ALERT_STATUSES,
    ARM_OPERATIONS,
    CRASH_POINTS,
    DEFAULT_ERROR_RATE,
    DEFAULT_LATENCY_MS,
    DEFAULT_LATENCY_SIGMA,
    DEFAULT_REFUSAL,
    OPERATOR_VERBS,
    ArmSpec,
    Behaviour,
    EndpointSpec,
    Event,
    Expect,
    MetricsSpec,
    Scenario,
    SeriesMinute,
)

__all__ = [
    "ALERT_STATUSES",
    "ARM_OPERATIONS",
    "CRASH_POINTS",
    "DEFAULT_ERROR_RATE",
    "DEFAULT_LATENCY_MS",
    "DEFAULT_LATENCY_SIGMA",
    "DEFAULT_REFUSAL",
    "OPERATOR_VERBS",
    "ArmSpec",
    "Behaviour",
    "EndpointSpec",
    "Event",
    "Expect",
    "MetricsSpec",
    "Scenario",
    "SeriesMinute",
    "bad",
    "load_scenario",
    "parse_scenario",
    "parse_series",
]


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
    _unknown(m, {"name", "deployments", "traffic", "mirror", "instance_count", "autoscale"}, where)
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
    autoscale: dict[str, tuple[int, int, int]] = {}
    for dep, spec in _mapping(m.get("autoscale") or {}, f"{where}.autoscale").items():
        p = f"{where}.autoscale.{dep}"
        if dep not in deployments:
            raise bad(p, "names a deployment not in deployments")
        _unknown(_mapping(spec, p), {"minimum", "maximum", "default"}, p)
        lo, hi = (
            _count(spec.get("minimum", 1), f"{p}.minimum"),
            _count(spec.get("maximum", 1), f"{p}.maximum"),
        )
        default = _count(spec.get("default", lo), f"{p}.default")
        if not 1 <= lo <= default <= hi:
            raise bad(p, "needs 1 <= minimum <= default <= maximum")
        autoscale[str(dep)] = (lo, hi, default)
    return EndpointSpec(name, deployments, traffic, mirror, count, autoscale)


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
        "autoscaled",
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
    for k in ("reasons", "absent_reasons", "deployments", "autoscaled"):
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
        autoscaled=lists["autoscaled"] if "autoscaled" in m else None,
        rollouts=_count(m["rollouts"], f"{where}.rollouts") if "rollouts" in m else None,
        settles=settles,
        events=_counts(m, "events", where),
        events_at_most=_counts(m, "events_at_most", where),
    )
