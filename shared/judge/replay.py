"""Recorded series for replay: a JSON object -> (minutes, settings). Pure; errors name the field.

Format::

    {"minutes": [{"canary_requests": 600, "canary_errors": 3,
                  "baseline_requests": 5400, "baseline_errors": 27,
                  "canary_p50": 41.0, "baseline_p50": 40.2,          (optional, also p90/p99)
                  "start": "2025-01-01T10:00:00Z",                   (optional)
                  "exceedances": [{"level": 0.9, "threshold_ms": 80.0, "canary_slow": 61,
                                   "canary_total": 600, "baseline_slow": 540,
                                   "baseline_total": 5400}]},       (optional)
                 ...],
     "policy": {"alpha": 0.01, "tolerance": 1.0, ...}}               (optional)

``policy`` holds judge settings, either directly or under a ``judge`` key (a whole rollout
policy may be pasted: only its ``judge`` part is used). Counts may be written as integral
floats (``600.0``), as Azure Monitor exports them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.errors import InvalidInput
from shared.judge.types import Exceedance, JudgeSettings, Minute

_COUNTS = ("canary_requests", "canary_errors", "baseline_requests", "baseline_errors")
_PERCENTILES = (
    "canary_p50",
    "canary_p90",
    "canary_p95",
    "canary_p99",
    "baseline_p50",
    "baseline_p90",
    "baseline_p95",
    "baseline_p99",
)
_EXCEEDANCE_COUNTS = ("canary_slow", "canary_total", "baseline_slow", "baseline_total")


def load_replay(doc: Any) -> tuple[list[Minute], JudgeSettings]:
    """Validate a recorded series; raises InvalidInput (PolicyError for the policy)."""
    if not isinstance(doc, Mapping):
        raise InvalidInput("a replay file must hold a JSON object with a 'minutes' list")
    unknown = sorted(set(doc) - {"minutes", "policy"})
    if unknown:
        raise InvalidInput(f"unknown top-level field {unknown[0]!r} (known: minutes, policy)")
    raw_minutes = doc.get("minutes")
    if not isinstance(raw_minutes, list):
        raise InvalidInput("'minutes' must be a list of objects")
    policy = doc.get("policy")
    if isinstance(policy, Mapping) and "judge" in policy:
        policy = policy["judge"]
    settings = JudgeSettings.from_mapping(policy, "policy")
    return [_minute(raw, i) for i, raw in enumerate(raw_minutes)], settings


def _minute(raw: Any, i: int) -> Minute:
    where = f"minutes[{i}]"
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"{where} must be an object")
    known = {*_COUNTS, *_PERCENTILES, "start", "exceedances"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InvalidInput(f"{where}.{unknown[0]}: unknown field (known: {sorted(known)})")
    values: dict[str, Any] = {}
    for name in _COUNTS:
        if name not in raw:
            raise InvalidInput(f"{where}.{name} is required")
        values[name] = _count(raw[name], f"{where}.{name}")
    for name in _PERCENTILES:
        if raw.get(name) is not None:
            values[name] = _number(raw[name], f"{where}.{name}", positive=False)
    if raw.get("start") is not None:
        values["start"] = _timestamp(raw["start"], f"{where}.start")
    if raw.get("exceedances") is not None:
        items = raw["exceedances"]
        if not isinstance(items, list):
            raise InvalidInput(f"{where}.exceedances must be a list")
        values["exceedances"] = tuple(
            _exceedance(e, f"{where}.exceedances[{j}]") for j, e in enumerate(items)
        )
    return Minute(**values)


def _exceedance(raw: Any, where: str) -> Exceedance:
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"{where} must be an object")
    known = {"level", "threshold_ms", "canary_threshold_ms", *_EXCEEDANCE_COUNTS}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InvalidInput(f"{where}.{unknown[0]}: unknown field (known: {sorted(known)})")
    for name in ("level", "threshold_ms", *_EXCEEDANCE_COUNTS):
        if name not in raw:
            raise InvalidInput(f"{where}.{name} is required")
    level = _number(raw["level"], f"{where}.level", positive=True)
    if level >= 1:
        raise InvalidInput(f"{where}.level must be below 1, got {level}")
    canary_threshold = raw.get("canary_threshold_ms")
    return Exceedance(
        level=level,
        threshold_ms=_number(raw["threshold_ms"], f"{where}.threshold_ms", positive=True),
        canary_slow=_count(raw["canary_slow"], f"{where}.canary_slow"),
        canary_total=_count(raw["canary_total"], f"{where}.canary_total"),
        baseline_slow=_count(raw["baseline_slow"], f"{where}.baseline_slow"),
        baseline_total=_count(raw["baseline_total"], f"{where}.baseline_total"),
        canary_threshold_ms=None
        if canary_threshold is None
        else _number(canary_threshold, f"{where}.canary_threshold_ms", positive=True),
    )


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{where} must be a whole number, got {value!r}")
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise InvalidInput(f"{where} must be a whole number, got {value!r}")
    if value < 0:
        raise InvalidInput(f"{where} must be >= 0, got {value!r}")
    return int(value)


def _number(value: Any, where: str, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"{where} must be a finite number, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise InvalidInput(f"{where} must be {'> 0' if positive else '>= 0'}, got {value!r}")
    return float(value)


def _timestamp(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise InvalidInput(f"{where} must be an ISO 8601 timestamp string")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(f"{where} must be an ISO 8601 timestamp, got {value!r}") from exc
