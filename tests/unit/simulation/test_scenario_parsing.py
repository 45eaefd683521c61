"""Scenario files are validated completely before anything runs; errors name the field."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from shared.errors import InvalidInput
from shared.simulation.__main__ import main
from shared.simulation.scenario import parse_scenario

POLICY = "rules:\n  - name: fraud\n    match: {model: fraud}\n    endpoint: fraud\n"


def base(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "policy": POLICY,
        "endpoint": {
            "name": "fraud",
            "deployments": {"blue": {"model": "azureml:fraud:1"}},
            "traffic": {"blue": 100},
        },
        "events": [{"at": "0m", "register": {"model": "fraud", "version": "2"}}],
        "until": "1h",
    }
    raw.update(changes)
    return raw


def error_of(raw: Any) -> str:
    with pytest.raises(InvalidInput) as info:
        parse_scenario(raw)
    return info.value.message


def test_a_minimal_scenario_gets_the_documented_defaults() -> None:
    sc = parse_scenario(base())
    assert sc.requests_per_minute == 6000
    assert sc.tick == 60 and sc.until == 3600 and sc.seed == 1
    assert sc.metrics.mirror_counted is True and sc.metrics.delay == 0
    assert sc.arm.provisioning == 120 and sc.arm.deletion == 60


def test_unknown_top_level_field_is_named() -> None:
    assert error_of(base(colour="blue")).startswith("scenario.colour: unknown field")


def test_bad_event_time_names_the_event() -> None:
    raw = base(events=[{"at": "soon", "register": {"model": "fraud", "version": "2"}}])
    assert error_of(raw).startswith("scenario.events[0].at:")


def test_compound_event_times_are_accepted() -> None:
    raw = base(events=[{"at": "1h30m", "crash": "after_write"}, {"at": "4m30s", "crash": "x"}])
    assert error_of(raw).startswith("scenario.events[1].crash:")
    raw["events"] = raw["events"][:1]
    raw["until"] = "2h"
    assert parse_scenario(raw).events[0].at == 5400


def test_an_event_must_hold_exactly_one_kind() -> None:
    raw = base(events=[{"at": "1m", "crash": "after_write", "alert": {}}])
    assert "exactly one of" in error_of(raw)


def test_after_effect_needs_a_positive_count() -> None:
    raw = base(events=[{"at": "1m", "crash": "after_effect 0"}])
    assert error_of(raw).startswith("scenario.events[0].crash:")
    raw = base(events=[{"at": "1m", "crash": "after_effect 2"}])
    assert parse_scenario(raw).events[0].data == {"point": "after_effect", "n": 2}


def test_policy_errors_carry_the_policy_field() -> None:
    raw = base(policy={"rules": [{"name": "a", "endpoint": "fraud", "stages": [{"weight": 50}]}]})
    assert error_of(raw).startswith("scenario.policy.rules[0].stages[0].weight:")


def test_traffic_must_name_known_deployments_and_sum_to_100() -> None:
    raw = base()
    raw["endpoint"]["traffic"] = {"green": 100}
    assert error_of(raw).startswith("scenario.endpoint.traffic.green:")
    raw["endpoint"]["traffic"] = {"blue": 60}
    assert error_of(raw).startswith("scenario.endpoint.traffic:")


def test_behaviour_values_are_range_checked() -> None:
    assert error_of(base(behaviour={"blue": {"error_rate": 1.5}})).startswith(
        "scenario.behaviour.blue.error_rate:"
    )
    assert error_of(base(behaviour={"blue": {"p99_ms": 90}})).startswith(
        "scenario.behaviour.blue.p99_ms:"
    )


def test_an_event_after_until_is_refused() -> None:
    raw = base(events=[{"at": "2h", "crash": "after_write"}])
    assert error_of(raw).startswith("scenario.events[0].at: is after until")


def test_events_are_ordered_by_time_keeping_file_order_on_ties() -> None:
    raw = base(
        events=[
            {"at": "5m", "crash": "after_write"},
            {"at": "1m", "crash": "before_write"},
            {"at": "5m", "crash": "before_write"},
        ]
    )
    assert [e.index for e in parse_scenario(raw).events] == [1, 0, 2]


def test_expect_fields_are_validated() -> None:
    assert error_of(base(expect={"phase": 3})).startswith("scenario.expect.phase:")
    assert error_of(base(expect={"wished": True})).startswith("scenario.expect.wished:")


def test_the_cli_answers_a_bad_file_with_exit_2_and_runs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(base(until="forever")))
    out = io.StringIO()
    assert main(["run", str(path)], out=out) == 2
    assert out.getvalue() == ""
    assert "scenario.until" in capsys.readouterr().err


def test_the_cli_answers_invalid_json_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    assert main(["run", str(path)], out=io.StringIO()) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_arm_faults_name_known_operations() -> None:
    assert error_of(base(arm={"faults": {"reboot": 1}})).startswith("scenario.arm.faults.reboot:")
    assert parse_scenario(base(arm={"faults": {"set_traffic": 2}})).arm.faults == {"set_traffic": 2}


def test_an_autoscale_copy_refusal_is_an_azure_error_code_or_empty_for_none() -> None:
    raw = base(arm={"refuse_autoscale_copy": "TargetResourceIdIsImmutable"})
    assert parse_scenario(raw).arm.refuse_autoscale_copy == "TargetResourceIdIsImmutable"
    assert parse_scenario(base()).arm.refuse_autoscale_copy == ""
    bad = error_of(base(arm={"refuse_autoscale_copy": 400}))
    assert bad.startswith("scenario.arm.refuse_autoscale_copy:")


def test_a_scale_event_names_one_deployment_and_at_least_one_instance() -> None:
    ok = base(events=[{"at": "20m", "manual": {"scale": {"blue": 12}}}])
    event = parse_scenario(ok).events[0]
    assert event.kind == "manual" and event.data == {
        "scale": {"deployment": "blue", "instances": 12}
    }
    for bad_scale, where in (
        ({"blue": 0}, "scenario.events[0].manual.scale.blue:"),
        ({"blue": "ten"}, "scenario.events[0].manual.scale.blue:"),
        ({"blue": 2, "green": 3}, "scenario.events[0].manual.scale:"),
        ({}, "scenario.events[0].manual.scale:"),
    ):
        raw = base(events=[{"at": "20m", "manual": {"scale": bad_scale}}])
        assert error_of(raw).startswith(where), bad_scale
    mixed = base(events=[{"at": "20m", "manual": {"scale": {"blue": 2}, "traffic": {"blue": 100}}}])
    assert "stands alone" in error_of(mixed)
