"""Autoscale rules (``ScaleRule`` of ``autoscale_API.json``, 2022-10-01: a MetricTrigger and a
ScaleAction with their required fields and enums), parsed and checked, and the capacity a
triggered rule asks for. Pure; :mod:`emulator.autoscale` checks settings with it and
:mod:`emulator.autoscale_engine` applies them."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from emulator.addon_http import parse_duration

# the spec's MetricStatisticType -> the emulator's aggregation of a time grain's samples
STATISTICS = {
    "average": "average",
    "min": "minimum",
    "max": "maximum",
    "sum": "total",
    "count": "count",
}
TIME_AGGREGATIONS = ("average", "minimum", "maximum", "total", "count", "last")
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "equals": operator.eq,
    "notequals": operator.ne,
    "greaterthan": operator.gt,
    "greaterthanorequal": operator.ge,
    "lessthan": operator.lt,
    "lessthanorequal": operator.le,
}
DIRECTIONS = ("none", "increase", "decrease")
SCALE_TYPES = ("changecount", "percentchangecount", "exactcount", "serviceallowednextvalue")


class RuleError(ValueError):
    """A rule that breaks the spec: ``field`` names where."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


@dataclass(frozen=True)
class ScaleRule:
    metric: str
    resource: str
    grain: str
    statistic: str
    window: str
    time_aggregation: str
    operator: str
    threshold: float
    divide: bool
    direction: str
    kind: str
    value: int
    cooldown: str


def _text(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RuleError(f"{where}.{key}", "is required")
    return value.strip()


def _choice(raw: Mapping[str, Any], key: str, where: str, allowed: tuple[str, ...]) -> str:
    value = _text(raw, key, where).lower()
    if value not in allowed:
        raise RuleError(f"{where}.{key}", f"must be one of {', '.join(allowed)} (any case)")
    return value


def _duration(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = _text(raw, key, where)
    try:
        parse_duration(value)
    except ValueError as exc:
        raise RuleError(f"{where}.{key}", str(exc)) from None
    return value


def parse_scale_rule(raw: Any, where: str) -> ScaleRule:
    """One ``ScaleRule`` of the 2022-10-01 spec (``autoscale_API.json``: MetricTrigger and
    ScaleAction with their required fields and enums), or RuleError."""
    if not isinstance(raw, Mapping):
        raise RuleError(where, "must be an object")
    trigger, action = raw.get("metricTrigger"), raw.get("scaleAction")
    if not isinstance(trigger, Mapping):
        raise RuleError(f"{where}.metricTrigger", "is required")
    if not isinstance(action, Mapping):
        raise RuleError(f"{where}.scaleAction", "is required")
    t, a = f"{where}.metricTrigger", f"{where}.scaleAction"
    # in the spec's order of the required fields, so the first missing one is named
    metric = _text(trigger, "metricName", t)
    resource = _text(trigger, "metricResourceUri", t)
    grain = _duration(trigger, "timeGrain", t)
    statistic = _choice(trigger, "statistic", t, tuple(STATISTICS))
    window = _duration(trigger, "timeWindow", t)
    time_aggregation = _choice(trigger, "timeAggregation", t, TIME_AGGREGATIONS)
    op = _choice(trigger, "operator", t, tuple(OPERATORS))
    threshold = trigger.get("threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise RuleError(f"{t}.threshold", "is required: a number")
    divide = trigger.get("dividePerInstance", False)
    if not isinstance(divide, bool):
        raise RuleError(f"{t}.dividePerInstance", "must be true or false")
    direction = _choice(action, "direction", a, DIRECTIONS)
    kind = _choice(action, "type", a, SCALE_TYPES)
    raw_value = action.get("value", "1")
    text = str(raw_value).strip() if isinstance(raw_value, str | int) else ""
    if isinstance(raw_value, bool) or not text.isdigit() or int(text) < 1:
        raise RuleError(f"{a}.value", "must be a whole number, 1 or greater")
    cooldown = _duration(action, "cooldown", a)
    return ScaleRule(
        metric,
        resource,
        grain,
        statistic,
        window,
        time_aggregation,
        op,
        float(threshold),
        divide,
        direction,
        kind,
        int(text),
        cooldown,
    )


def new_capacity(rule: ScaleRule, count: int) -> int:
    """The capacity one triggered rule asks for from ``count``."""
    sign = 1 if rule.direction == "increase" else -1
    if rule.kind == "exactcount":
        return rule.value
    if rule.kind == "percentchangecount":
        return count + sign * max(1, round(count * rule.value / 100))
    if rule.kind == "serviceallowednextvalue":
        return count + sign
    return count + sign * rule.value
