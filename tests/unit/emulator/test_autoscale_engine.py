"""The emulator's autoscale engine, as autoscale-understanding-settings.md describes Azure's:
the spec's rule shape, the new capacity of each scale type, which profile applies, scale-out
on any rule, scale-in only on all, the profile's bounds, the cooldown and the default when
metrics are not available."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from emulator.autoscale import Setting
from emulator.autoscale_engine import Action, AutoscaleEngine, choose_profile
from emulator.autoscale_rules import RuleError, ScaleRule, new_capacity, parse_scale_rule

DEP = (
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/"
    "ws/onlineEndpoints/fraud/deployments/blue"
)


def rule(
    direction: str = "Increase", op: str = "GreaterThan", threshold: float = 70, **kw: Any
) -> dict[str, Any]:
    trigger = {
        "metricName": kw.pop("metric", "RequestsPerMinute"),
        "metricResourceUri": DEP,
        "timeGrain": "PT1M",
        "statistic": "Average",
        "timeWindow": "PT5M",
        "timeAggregation": "Average",
        "operator": op,
        "threshold": threshold,
    }
    action = {
        "direction": direction,
        "type": kw.pop("type", "ChangeCount"),
        "value": kw.pop("value", "1"),
        "cooldown": kw.pop("cooldown", "PT5M"),
    }
    return {"metricTrigger": trigger, "scaleAction": action}


def test_a_rule_of_the_spec_parses_and_each_required_field_is_named_when_missing() -> None:
    parsed = parse_scale_rule(rule(), "rules[0]")
    assert parsed.direction == "increase" and parsed.value == 1 and parsed.threshold == 70
    for part, key in (
        ("metricTrigger", "metricName"),
        ("metricTrigger", "operator"),
        ("metricTrigger", "timeWindow"),
        ("scaleAction", "cooldown"),
        ("scaleAction", "type"),
    ):
        raw = rule()
        del raw[part][key]
        with pytest.raises(RuleError) as info:
            parse_scale_rule(raw, "rules[0]")
        assert info.value.field == f"rules[0].{part}.{key}"


def test_enums_durations_and_values_outside_the_spec_are_refused() -> None:
    for change, field in (
        ({"op": "Above"}, "metricTrigger.operator"),
        ({"type": "Double"}, "scaleAction.type"),
        ({"value": "0"}, "scaleAction.value"),
        ({"cooldown": "five minutes"}, "scaleAction.cooldown"),
    ):
        with pytest.raises(RuleError) as info:
            parse_scale_rule(rule(**change), "r")
        assert info.value.field == f"r.{field}"


def _parsed(**kw: Any) -> ScaleRule:
    return parse_scale_rule(rule(**kw), "r")


def test_each_scale_type_gives_its_capacity() -> None:
    assert new_capacity(_parsed(value="2"), 3) == 5
    assert new_capacity(_parsed(direction="Decrease", value="2"), 3) == 1
    assert new_capacity(_parsed(type="ExactCount", value="7"), 3) == 7
    assert new_capacity(_parsed(type="PercentChangeCount", value="50"), 4) == 6
    assert new_capacity(_parsed(type="PercentChangeCount", value="10"), 2) == 3  # at least 1
    assert new_capacity(_parsed(type="ServiceAllowedNextValue"), 3) == 4


def test_a_fixed_date_profile_applies_inside_its_window_else_the_default_one() -> None:
    default = {"name": "default"}
    event = {
        "name": "event",
        "fixedDate": {"start": "2026-12-24T00:00:00Z", "end": "2026-12-26T00:00:00Z"},
    }
    weekly = {"name": "weekend", "recurrence": {"frequency": "Week"}}
    profiles = [weekly, event, default]
    assert choose_profile(profiles, datetime(2026, 12, 25, tzinfo=UTC)) is event
    assert choose_profile(profiles, datetime(2026, 12, 27, tzinfo=UTC)) is default
    assert choose_profile([weekly], datetime(2026, 12, 27, tzinfo=UTC)) is None


class Engine(AutoscaleEngine):
    """The engine with scripted metric values (by metric name; None: no data)."""

    def __init__(self, values: dict[str, float | None]) -> None:
        arm = SimpleNamespace(ctx=SimpleNamespace(bucket_seconds=60.0), deployments={})
        super().__init__(arm, SimpleNamespace(settings={}))  # type: ignore[arg-type]
        self.values = values

    def metric_value(self, rule: ScaleRule, count: int, now: float) -> float | None:
        return self.values.get(rule.metric)


def setting(*rules: dict[str, Any], lo: int = 1, hi: int = 10, default: int = 2) -> Setting:
    profile = {
        "name": "default",
        "capacity": {"minimum": str(lo), "maximum": str(hi), "default": str(default)},
        "rules": list(rules),
    }
    return Setting("s", "eastus", {}, {"profiles": [profile], "enabled": True}, "", "")


NOW = datetime(2026, 12, 1, tzinfo=UTC).timestamp()


def test_scale_out_takes_the_highest_capacity_of_the_rules_that_are_met() -> None:
    s = setting(
        rule(metric="A", threshold=10, value="1"),
        rule(metric="B", threshold=10, value="3"),
        rule(metric="C", threshold=10, value="5"),
    )
    decided = Engine({"A": 11, "B": 12, "C": 1}).decide(s, 2, NOW)
    assert decided is not None and decided[0] == 5 and decided[2] == 300  # B: +3, cooldown
    capped = Engine({"A": 99}).decide(setting(rule(metric="A", value="20")), 2, NOW)
    assert capped is not None and capped[0] == 10  # never above the profile's maximum


def test_scale_in_needs_every_decrease_rule_and_goes_as_little_as_possible() -> None:
    s = setting(
        rule("Decrease", "LessThan", 30, metric="A", value="1"),
        rule("Decrease", "LessThan", 30, metric="B", value="3"),
    )
    assert Engine({"A": 5, "B": 50}).decide(s, 6, NOW) is None  # B not met: no scale-in
    decided = Engine({"A": 5, "B": 5}).decide(s, 6, NOW)
    assert decided is not None and decided[0] == 5  # -1 beats -3
    at_minimum = setting(*s.properties["profiles"][0]["rules"], lo=4)
    assert Engine({"A": 5, "B": 5}).decide(at_minimum, 4, NOW) is None  # never below it


def test_the_profiles_bounds_are_applied_whatever_the_rules_say() -> None:
    assert Engine({}).decide(setting(lo=3, hi=5), 1, NOW)[0] == 3  # type: ignore[index]
    assert Engine({}).decide(setting(lo=3, hi=5), 9, NOW)[0] == 5  # type: ignore[index]


def test_no_metric_data_scales_out_to_the_default_and_never_in() -> None:
    s = setting(rule(metric="A"), default=4)
    assert Engine({"A": None}).decide(s, 2, NOW)[0] == 4  # type: ignore[index]
    assert Engine({"A": None}).decide(s, 6, NOW) is None


def test_after_an_action_no_other_until_the_cooldown_of_the_rule_that_fired() -> None:
    engine = Engine({"A": 99})
    s = setting(rule(metric="A", cooldown="PT10M"))
    first = engine.decide(s, 2, NOW)
    assert first is not None and first[2] == 600
    engine._last["s"] = Action("s", "blue", NOW, 2, first[0], first[1], first[2])
    assert engine.decide(s, 3, NOW + 9 * 60) is None
    assert engine.decide(s, 3, NOW + 10 * 60) is not None
