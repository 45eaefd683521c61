"""The settings of a rollout policy, parsed and validated field by field: from a policy file's
``defaults`` and rules, from model tags (``autocanary.<setting>``) and from a stored policy.
Every bad value is a :class:`PolicyError` naming the field. Pure."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from shared.errors import PolicyError
from shared.judge.types import JudgeSettings
from shared.notify.routes import parse_notify
from shared.policy_checks import parse_compare, parse_smoke
from shared.rollout_policy import (
    DEFAULT_SHADOW_MAX,
    GUARDRAIL_LATENCY_KEYS,
    MAX_HEADROOM,
    Guardrails,
    RolloutPolicy,
    Stage,
)

_ERROR_CODE = re.compile(r"^[1-5](\d\d|xx)$")
# Matched against the stripped text: "\s*" around an optional unit on both sides made a long run
# of spaces before a bad character quadratic (0.7 s for 5,000 characters of a tag override).
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
# The longest duration any setting takes: past it a deadline is no longer a date (a watch
# window of 3,000,000 days overflows datetime and broke every view of the rollout).
MAX_DURATION_S = 3660 * 86400.0
# The settings a rule (or, where the rule allows, a model tag) may set.
SETTING_KEYS = frozenset(
    {
        "shadow",
        "stages",
        "judge",
        "on_deadline",
        "watch_window",
        "delete_old_deployment",
        "delete_failed_deployment",
        "instance_count",
        "capacity",
        "headroom",
        "on_newer_version",
        "provisioning_timeout",
        "warmup",
        "settle",
        "errors",
        "guardrails",
        "smoke",
        "compare",
    }
)


def policy_from_dict(raw: Mapping[str, Any], path: str = "policy") -> RolloutPolicy:
    """A rollout's policy from its stored form (``RolloutPolicy.to_dict``), validated."""
    notify = parse_notify(raw.get("notify"), f"{path}.notify")
    settings = parse_settings(
        {k: v for k, v in raw.items() if k != "notify"},
        path,
        base=RolloutPolicy(),
        ignored=frozenset({"endpoint", "rule"}),
    )
    settings = replace(settings, notify=notify)
    endpoint = raw.get("endpoint", "")
    rule = raw.get("rule", "default")
    if not isinstance(endpoint, str) or not isinstance(rule, str):
        raise PolicyError(f"{path}.endpoint", "must be a string")
    return replace(settings, endpoint=endpoint, rule=rule)


def parse_duration(value: Any, where: str) -> float:
    """Seconds from a number (seconds) or a string like ``90s``, ``5m``, ``1.5h``, ``1d``."""
    if isinstance(value, bool):
        raise PolicyError(where, f"must be a duration, got {value!r}")
    if isinstance(value, int | float):
        seconds = (
            float(value) if abs(value) <= MAX_DURATION_S else math.inf * (1 if value > 0 else -1)
        )
    elif isinstance(value, str) and (m := _DURATION.fullmatch(value.strip())):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise PolicyError(where, f"must be a duration like 90s, 5m, 1h (got {value!r})")
    if math.isnan(seconds):
        raise PolicyError(where, f"must be a duration, got {value!r}")
    if seconds < 0:
        raise PolicyError(where, "must not be negative")
    if seconds > MAX_DURATION_S:
        raise PolicyError(
            where, f"must be at most {MAX_DURATION_S // 86400:.0f}d (about ten years)"
        )
    return seconds


def _bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no"):
        return value.strip().lower() in ("true", "yes")
    raise PolicyError(where, f"must be true or false, got {value!r}")


def _int(value: Any, where: str, *, lo: int, hi: int | None = None) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicyError(where, f"must be a whole number, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        raise PolicyError(where, f"must be between {lo} and {hi}" if hi else f"must be >= {lo}")
    return value


def _stages(raw: Any, where: str) -> tuple[Stage, ...]:
    if isinstance(raw, str):  # tag form: "10,25,50,100"
        raw = [{"weight": w.strip()} for w in raw.split(",") if w.strip()]
    if not isinstance(raw, list) or not raw:
        raise PolicyError(where, "must be a non-empty list of stages")
    stages: list[Stage] = []
    for i, item in enumerate(raw):
        p = f"{where}[{i}]"
        if isinstance(item, int | str) and not isinstance(item, bool):
            item = {"weight": item}
        if not isinstance(item, Mapping):
            raise PolicyError(p, "must be a mapping with 'weight'")
        unknown = sorted(set(item) - {"weight", "min_duration", "max_duration", "min_requests"})
        if unknown:
            raise PolicyError(f"{p}.{unknown[0]}", "unknown stage field")
        if "weight" not in item:
            raise PolicyError(f"{p}.weight", "is required")
        stage = Stage(
            weight=_int(item["weight"], f"{p}.weight", lo=1, hi=100),
            min_duration=parse_duration(item.get("min_duration", 300), f"{p}.min_duration"),
            max_duration=parse_duration(item.get("max_duration", 1800), f"{p}.max_duration"),
            min_requests=_int(item.get("min_requests", 0), f"{p}.min_requests", lo=0),
        )
        if stage.max_duration < stage.min_duration:
            raise PolicyError(f"{p}.max_duration", "must be >= min_duration")
        if stages and stage.weight <= stages[-1].weight:
            raise PolicyError(f"{p}.weight", "stage weights must increase")
        stages.append(stage)
    if stages[-1].weight != 100:
        raise PolicyError(f"{where}[{len(stages) - 1}].weight", "the last stage must be 100")
    return tuple(stages)


def parse_settings(
    raw: Mapping[str, Any],
    path: str,
    *,
    base: RolloutPolicy,
    ignored: frozenset[str] = frozenset(),
) -> RolloutPolicy:
    """Lay validated settings from ``raw`` over ``base``; unknown keys are errors, except
    ``ignored`` ones (read by the caller)."""
    if not isinstance(raw, Mapping):
        raise PolicyError(path, "must be a mapping")
    unknown = sorted(set(raw) - SETTING_KEYS - ignored)
    if unknown:
        raise PolicyError(f"{path}.{unknown[0]}", "unknown setting")
    p = base
    if "shadow" in raw:
        shadow = raw["shadow"]
        if shadow in (None, False):
            p = replace(p, shadow_percent=0, shadow_duration=0.0)
        elif not isinstance(shadow, Mapping):
            raise PolicyError(f"{path}.shadow", "must be a mapping with percent and duration")
        else:
            bad = sorted(set(shadow) - {"percent", "duration", "max_duration", "on_no_data"})
            if bad:
                raise PolicyError(f"{path}.shadow.{bad[0]}", "unknown field")
            percent = _int(shadow.get("percent", 0), f"{path}.shadow.percent", lo=0, hi=50)
            duration = parse_duration(shadow.get("duration", 0), f"{path}.shadow.duration")
            # A shadow's max duration defaults to a stage's (30 min), and never below its
            # minimum duration.
            most = parse_duration(
                shadow.get("max_duration", max(DEFAULT_SHADOW_MAX, duration)),
                f"{path}.shadow.max_duration",
            )
            if most < duration:
                raise PolicyError(f"{path}.shadow.max_duration", "must be >= duration")
            on_no_data = shadow.get("on_no_data", "hold")
            if on_no_data not in ("hold", "continue"):
                raise PolicyError(
                    f"{path}.shadow.on_no_data",
                    "must be 'hold' (no data is never a pass) or 'continue' (explicit opt-out)",
                )
            p = replace(
                p,
                shadow_percent=percent,
                shadow_duration=duration,
                shadow_max_duration=most,
                shadow_on_no_data=on_no_data,
            )
    if "stages" in raw:
        p = replace(p, stages=_stages(raw["stages"], f"{path}.stages"))
    if "judge" in raw:
        merged = {**p.judge.to_dict(), **_judge_raw(raw["judge"], f"{path}.judge")}
        p = replace(p, judge=JudgeSettings.from_mapping(merged, f"{path}.judge"))
    if "on_deadline" in raw:
        if raw["on_deadline"] not in ("hold", "rollback"):
            raise PolicyError(f"{path}.on_deadline", "must be 'hold' or 'rollback'")
        p = replace(p, on_deadline=raw["on_deadline"])
    if "on_newer_version" in raw:
        if raw["on_newer_version"] not in ("wait", "supersede"):
            raise PolicyError(f"{path}.on_newer_version", "must be 'wait' or 'supersede'")
        p = replace(p, on_newer_version=raw["on_newer_version"])
    durations: dict[str, Any] = {
        k: parse_duration(raw[k], f"{path}.{k}")
        for k in ("watch_window", "provisioning_timeout", "warmup", "settle")
        if k in raw
    }
    flags: dict[str, Any] = {
        k: _bool(raw[k], f"{path}.{k}")
        for k in ("delete_old_deployment", "delete_failed_deployment")
        if k in raw
    }
    p = replace(p, **durations, **flags)
    if "instance_count" in raw:
        value = raw["instance_count"]
        p = replace(
            p,
            instance_count=None
            if value is None
            else _int(value, f"{path}.instance_count", lo=1, hi=1000),
        )
    if "capacity" in raw:
        if raw["capacity"] not in ("follow_traffic", "full"):
            raise PolicyError(f"{path}.capacity", "must be 'follow_traffic' or 'full'")
        p = replace(p, capacity=raw["capacity"])
    if "headroom" in raw:
        p = replace(p, headroom=_headroom(raw["headroom"], f"{path}.headroom"))
    if "errors" in raw:
        p = replace(p, errors=_errors(raw["errors"], f"{path}.errors"))
    if "guardrails" in raw:
        p = replace(p, guardrails=_guardrails(raw["guardrails"], f"{path}.guardrails"))
    if "smoke" in raw:
        p = replace(p, smoke=parse_smoke(raw["smoke"], f"{path}.smoke"))
    if "compare" in raw:
        p = replace(p, compare=parse_compare(raw["compare"], f"{path}.compare"))
    return p


def _headroom(value: Any, where: str) -> float:
    """A multiplier of at least 1 on the canary's share of the live instance count."""
    if isinstance(value, str):  # tag form
        try:
            value = float(value.strip())
        except ValueError as exc:
            raise PolicyError(where, f"must be a number from 1 to {MAX_HEADROOM:g}") from exc
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PolicyError(where, f"must be a number from 1 to {MAX_HEADROOM:g}, got {value!r}")
    if not 1.0 <= float(value) <= MAX_HEADROOM:
        raise PolicyError(where, f"must be from 1 to {MAX_HEADROOM:g}, got {value!r}")
    return float(value)


def check_judged(policy: RolloutPolicy, where: str) -> RolloutPolicy:
    """Refuse a resolved policy under which nothing is ever judged (a single 100 % stage and
    no shadow): its rollouts would replace the live model without the judge being asked."""
    if policy.judged_count == 0:
        raise PolicyError(
            f"{where}.stages",
            "nothing would be judged: add a stage below 100 % or a shadow (percent and duration)",
        )
    return policy


def _errors(raw: Any, where: str) -> tuple[str, ...]:
    """Status codes (``"503"``, 424) or classes (``"5xx"``) that count as errors."""
    if isinstance(raw, str):  # tag form: "5xx,424,408"
        raw = [part.strip() for part in raw.split(",") if part.strip()]
    if not isinstance(raw, list) or not raw:
        raise PolicyError(where, "must be a non-empty list of status codes or classes (5xx)")
    out: list[str] = []
    for i, item in enumerate(raw):
        if isinstance(item, bool) or not isinstance(item, int | str):
            raise PolicyError(f"{where}[{i}]", f"must be a status code or class, got {item!r}")
        code = str(item).strip().lower()
        if not _ERROR_CODE.match(code):
            raise PolicyError(
                f"{where}[{i}]", f"must be a status code 100-599 or a class like 5xx, got {item!r}"
            )
        if code not in out:
            out.append(code)
    return tuple(out)


def _guardrails(raw: Any, where: str) -> Guardrails:
    if raw in (None, False):
        return Guardrails()
    raw = _tag_json(raw, where)
    if not isinstance(raw, Mapping):
        raise PolicyError(where, "must be a mapping like {p95_latency_ms: 500, error_rate: 0.01}")
    known = {*GUARDRAIL_LATENCY_KEYS, "error_rate", "for"}
    bad = sorted(set(raw) - known)
    if bad:
        raise PolicyError(f"{where}.{bad[0]}", f"unknown guardrail (known: {sorted(known)})")
    error_rate = None
    if "error_rate" in raw:
        value = raw["error_rate"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
            raise PolicyError(f"{where}.error_rate", f"must be a rate in (0, 1), got {value!r}")
        error_rate = float(value)
    latency: dict[str, float] = {}
    for key, level in GUARDRAIL_LATENCY_KEYS.items():
        if key in raw:
            value = raw[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise PolicyError(f"{where}.{key}", f"must be milliseconds > 0, got {value!r}")
            latency[level] = float(value)
    for_s = parse_duration(raw.get("for", 180), f"{where}.for")
    if for_s <= 0:
        raise PolicyError(f"{where}.for", "must be positive")
    guard = Guardrails(error_rate=error_rate, latency_ms=latency, for_s=for_s)
    if not guard.active:
        raise PolicyError(where, "must set error_rate or a latency limit (e.g. p95_latency_ms)")
    return guard


def _tag_json(raw: Any, where: str) -> Any:
    """A structured setting as given, or decoded from its tag form (a JSON object string)."""
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise PolicyError(where, "must be a JSON object") from exc


def _judge_raw(raw: Any, where: str) -> dict[str, Any]:
    raw = _tag_json(raw, where)
    if not isinstance(raw, Mapping):
        raise PolicyError(where, "must be a mapping")
    return dict(raw)


def tag_values(overrides: Mapping[str, str]) -> dict[str, Any]:
    """Tag values are strings; turn the structured ones into policy data."""
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        if key == "shadow":
            percent, _, duration = value.partition(",")
            out[key] = {"percent": percent.strip(), "duration": duration.strip() or 0}
        else:
            out[key] = value
    return out
