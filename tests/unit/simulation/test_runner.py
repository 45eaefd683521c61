"""The simulator's run loop: the production engine over the fakes, deterministic per seed."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from shared.simulation.__main__ import main
from shared.simulation.lines import fmt_duration
from shared.simulation.runner import Simulation, run_scenario
from shared.simulation.scenario import parse_scenario

POLICY = """
defaults:
  shadow: {percent: 20, duration: 5m}
  stages:
    - {weight: 10, min_duration: 5m, max_duration: 1h}
    - {weight: 100}
  watch_window: 10m
rules:
  - name: fraud
    match: {model: fraud}
    endpoint: fraud
"""


def raw(events: list[dict[str, Any]] | None = None, **changes: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "policy": POLICY,
        "endpoint": {
            "name": "fraud",
            "deployments": {"blue": {"model": "azureml:fraud:1"}},
            "traffic": {"blue": 100},
        },
        "behaviour": {"blue": {"error_rate": 0.01, "latency_ms": 50}},
        "arm": {"provisioning": "5m", "deletion": "1m"},
        "events": [{"at": "0m", "register": {"model": "fraud", "version": "2"}}, *(events or [])],
        "until": "3h",
        "seed": 4,
    }
    out.update(changes)
    return out


def test_durations_print_as_a_policy_writes_them() -> None:
    assert [fmt_duration(s) for s in (0, 45, 300, 3725, 7200)] == [
        "0s",
        "45s",
        "5m",
        "1h02m05s",
        "2h",
    ]


def test_the_same_seed_gives_the_same_decisions() -> None:
    a = run_scenario(parse_scenario(raw()))
    b = run_scenario(parse_scenario(raw()))
    assert a.decisions == b.decisions and a.summary == b.summary
    assert a.summary["phase"] == "Succeeded"


def test_another_seed_draws_other_metrics() -> None:
    a = run_scenario(parse_scenario(raw()))
    b = run_scenario(parse_scenario(raw(seed=5)))
    assert [d["evidence"] for d in a.decisions] != [d["evidence"] for d in b.decisions]


def test_trace_gives_one_line_per_tick_with_the_endpoint_as_the_fakes_hold_it() -> None:
    result = Simulation(parse_scenario(raw()), trace=True).run()
    assert len(result.trace) == result.summary["ticks"]
    first = result.trace[0]["trace"]
    assert first["traffic"] == {"blue": 100}
    assert first["deployments"]["fraud-v2"]["provisioning_state"] == "Creating"
    assert first["phase"] == "Provisioning" and first["paused"] is False


def test_a_kill_after_the_write_leaves_the_effects_to_the_next_tick() -> None:
    # at 5m the deployment is ready: the tick writes ShadowStarted, then the process dies
    result = Simulation(
        parse_scenario(raw([{"at": "4m", "crash": "after_write"}])), trace=True
    ).run()
    by_t = {line["trace"]["t"]: line["trace"] for line in result.trace}
    assert by_t["5m"]["phase"] == "Shadowing" and by_t["5m"]["mirror"] == {}
    assert by_t["6m"]["mirror"] == {"fraud-v2": 20}
    assert result.summary["crashes"] == ["after_write"]
    assert result.summary["phase"] == "Succeeded"


def test_a_registration_killed_before_its_write_is_delivered_again() -> None:
    scenario = raw()
    scenario["events"].insert(0, {"at": "0m", "crash": "before_write"})
    result = run_scenario(parse_scenario(scenario))
    assert result.summary["crashes"] == ["before_write"]
    assert result.decisions[0]["t"] == "1m"  # redelivered at the next tick
    assert len(result.summary["rollouts"]) == 1


def test_refused_operator_actions_are_counted_and_change_nothing() -> None:
    events = [{"at": "2m", "operator": {"action": "resume", "reason": "not paused"}}]
    base = run_scenario(parse_scenario(raw()))
    result = run_scenario(parse_scenario(raw(events)))
    assert result.summary["refused"] == {"resume": 1}
    assert result.decisions == base.decisions


def test_an_alert_with_a_lower_cased_target_rolls_back() -> None:
    target = (
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/sim/providers/"
        "microsoft.machinelearningservices/workspaces/sim/onlineendpoints/fraud"
    )
    events = [{"at": "8m", "alert": {"deployment": "fraud-v2", "target": target}}]
    result = run_scenario(parse_scenario(raw(events)))
    assert "AlertFired" in result.reasons
    assert result.summary["phase"] == "RolledBack"


def test_the_cli_prints_decisions_then_a_summary_and_exits_1_on_unmet_expectations(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps(raw(expect={"phase": "Succeeded", "invariants": True})))
    out = io.StringIO()
    assert main(["run", str(path)], out=out) == 0
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert lines[0]["reason"] == "Admitted" and "summary" in lines[-1]
    assert lines[-1]["summary"]["expect"] == {"met": True, "unmet": []}
    path.write_text(json.dumps(raw(expect={"phase": "RolledBack"})))
    out = io.StringIO()
    assert main(["run", str(path)], out=out) == 1
    assert json.loads(out.getvalue().splitlines()[-1])["summary"]["expect"]["met"] is False


def test_published_event_expectations_count_by_type_suffix() -> None:
    from shared.simulation.expect import unmet

    scenario = parse_scenario(
        raw(expect={"events": {"RolloutSucceeded": 1}, "events_at_most": {"StageAdvanced": 0}})
    )
    result = run_scenario(scenario)
    assert scenario.expect is not None
    assert unmet(scenario.expect, result) == [
        "events_at_most: expected at most 0 StageAdvanced, got 1"
    ]


def test_a_failed_provisioning_decision_carries_azures_error_from_the_engine() -> None:
    """The engine reads the failed canary's operation error (the fakes answer as the
    emulator: ResourceNotReady for a crashed scoring container) and keeps it as evidence."""
    arm = {"provisioning": "5m", "deletion": "1m", "fail_provisioning": ["fraud:2"]}
    result = run_scenario(parse_scenario(raw(arm=arm)))
    [failed] = [d for d in result.decisions if d["reason"] == "ProvisioningFailed"]
    assert failed["evidence"]["azure_error"]["code"] == "ResourceNotReady"
    assert (
        "provisioning Failed: ResourceNotReady: User container has crashed" in (failed["message"])
    )
