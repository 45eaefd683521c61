"""Reads through the CLI (typer's CliRunner) against the fake API on loopback."""

from __future__ import annotations

import json

from tests.unit.cli.conftest import Cli
from tests.unit.cli.fakeapi import FakeApi, error, fixture, with_phase

DETAIL = "/api/rollouts/fraud-scoring"


def test_get_shows_phase_stage_weight_traffic_readings_and_decisions(
    api: FakeApi, cli: Cli
) -> None:
    api.reply("GET", DETAIL, 200, fixture("detail_canary.json"))
    result = cli("get", "fraud-scoring")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Canary" in out
    assert "stage 2 of 4 · weight 25 %" in out
    assert "fraud-v6 (baseline)" in out and "fraud-v7 (canary)" in out
    assert "live = wanted" in out
    assert "error rate" in out and "0.31 %" in out and "0.29 %" in out
    assert "latency p95" in out and "212 ms" in out
    assert "██████████░░  80 %" in out  # toward clear
    assert "█░░░░░░░░░░░  12 %" in out  # toward rollback
    assert "StageAdvanced" in out and "Provisioning → Canary" in out
    assert "judge clearing" in out  # the cause in words


def test_get_sends_the_key_in_the_functions_key_header(api: FakeApi, cli: Cli) -> None:
    api.reply("GET", DETAIL, 200, fixture("detail_canary.json"))
    assert cli("get", "fraud-scoring").exit_code == 0
    assert api.seen[-1].headers["x-functions-key"] == "test-key"


def test_get_output_json_prints_the_api_document(api: FakeApi, cli: Cli) -> None:
    doc = fixture("detail_canary.json")
    api.reply("GET", DETAIL, 200, doc)
    result = cli("get", "fraud-scoring", "--output", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == doc


def test_get_percent_encodes_the_endpoint_name(api: FakeApi, cli: Cli) -> None:
    api.reply("GET", "/api/rollouts/a b", 200, fixture("detail_canary.json"))
    assert cli("get", "a b").exit_code == 0
    assert api.seen[-1].path == "/api/rollouts/a b"


def test_get_shows_live_traffic_that_differs_from_wanted(api: FakeApi, cli: Cli) -> None:
    doc = fixture("detail_canary.json")
    doc["rollout"]["traffic"].update(live={"fraud-v6": 100, "fraud-v7": 0}, in_sync=False)
    doc["rollout"]["paused"] = True
    doc["rollout"]["pause_reason"] = "ManualChangeDetected"
    api.reply("GET", DETAIL, 200, doc)
    out = cli("get", "fraud-scoring").stdout
    assert "live differs from wanted" in out
    assert "paused: ManualChangeDetected" in out


def test_list_passes_filters_and_shows_each_cause(api: FakeApi, cli: Cli) -> None:
    view = fixture("detail_canary.json")["rollout"]
    api.reply("GET", "/api/rollouts", 200, {"rollouts": [view], "count": 1, "continuation": "c2"})
    result = cli("list", "--model", "fraud", "--active", "--limit", "5")
    assert result.exit_code == 0, result.output
    assert api.seen[-1].query == {"model": "fraud", "active": "true", "limit": "5"}
    assert "fraud:7" in result.stdout and "judge clearing" in result.stdout
    assert "--continuation c2" in result.stderr


def test_history_lists_past_rollouts_with_causes(api: FakeApi, cli: Cli) -> None:
    view = with_phase(fixture("detail_canary.json"), "RolledBack")["rollout"]
    view["cause"] = "Rolled back: canary error rate 2.40 % vs baseline 0.30 %"
    body = {"endpoint": "fraud-scoring", "rollouts": [view], "count": 1, "continuation": None}
    api.reply("GET", DETAIL + "/history", 200, body)
    result = cli("history", "fraud-scoring", "--limit", "3")
    assert result.exit_code == 0, result.output
    assert api.seen[-1].query == {"limit": "3"}
    assert (
        "RolledBack" in result.stdout and "Rolled back: canary error rate 2.40 %" in result.stdout
    )


def test_why_of_a_past_rollout_reads_it_by_id(api: FakeApi, cli: Cli) -> None:
    doc = fixture("detail_canary.json")
    api.reply("GET", DETAIL + "/history/r-old", 200, doc)
    result = cli("why", "fraud-scoring", "r-old")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "error rate" in out
    assert "0.31 % (6/1940 requests)" in out and "0.29 % (17/5860 requests)" in out
    assert "Threshold" in out and "(clear)" in out


def test_why_output_json_is_the_cause_and_why(api: FakeApi, cli: Cli) -> None:
    doc = fixture("detail_canary.json")
    api.reply("GET", DETAIL, 200, doc)
    out = json.loads(cli("why", "fraud-scoring", "-o", "json").stdout)
    assert out["why"] == doc["rollout"]["why"] and out["cause"] == doc["rollout"]["cause"]


def test_events_asks_for_ignored_events_and_shows_the_hint(api: FakeApi, cli: Cli) -> None:
    event = {
        "event_id": "e1",
        "model": {"name": "frad", "version": "3"},
        "reason": "NoMatchingRule",
        "detail": "no rule matches model 'frad'",
        "hint": "add a rule for it in the policy, or fix the model's name",
        "at": "2026-12-02T10:00:00+00:00",
    }
    api.reply("GET", "/api/events", 200, {"events": [event], "count": 1, "continuation": None})
    result = cli("events")
    assert result.exit_code == 0, result.output
    assert api.seen[-1].query["ignored"] == "true"
    assert "NoMatchingRule" in result.stdout and "add a rule" in result.stdout


def test_api_error_is_printed_with_code_and_hint_and_exits_1(api: FakeApi, cli: Cli) -> None:
    body = error("unknown_endpoint", "no rollout is known for endpoint nope", "check the name")
    api.reply("GET", "/api/rollouts/nope", 404, body)
    result = cli("get", "nope")
    assert result.exit_code == 1
    assert "404 unknown_endpoint: no rollout is known for endpoint nope" in result.stderr
    assert "hint: check the name" in result.stderr


def test_a_401_without_a_json_body_still_says_what_to_do(api: FakeApi, cli: Cli) -> None:
    api.reply("GET", DETAIL, 401, b"")
    result = cli("get", "fraud-scoring")
    assert result.exit_code == 1
    assert "401" in result.stderr and "AUTOCANARY_KEY" in result.stderr


def test_an_unreachable_api_exits_3(cli: Cli) -> None:
    result = cli("get", "fraud-scoring", AUTOCANARY_URL="http://127.0.0.1:9")
    assert result.exit_code == 3
    assert "cannot be reached" in result.stderr


def test_no_url_configured_exits_2_and_says_how_to_set_it(cli: Cli) -> None:
    result = cli("list", AUTOCANARY_URL=None)
    assert result.exit_code == 2
    assert "AUTOCANARY_URL" in result.stderr and "config.toml" in result.stderr


def test_get_reads_a_document_recorded_from_an_app_without_the_explain_fields(
    api: FakeApi, cli: Cli
) -> None:
    # Recorded from the local stack (make up) before the rollout views carried cause, why,
    # stage_timing and readings per metric: the full rollout document, model as a mapping.
    api.reply("GET", "/api/rollouts/fraud-demo", 200, fixture("detail_recorded_local_stack.json"))
    result = cli("get", "fraud-demo")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "fraud:3" in out and "RolledBack" in out
    assert "fraud-v2 (baseline)" in out and "100 %" in out
    assert "no reading yet" in out
    assert "JudgeRollback" in out and "ErrorRateRegression" in out


def test_list_and_history_show_one_line_per_rollout(api: FakeApi, cli: Cli) -> None:
    view = fixture("detail_canary.json")["rollout"]
    body = {"rollouts": [view], "count": 1, "continuation": None}
    api.reply("GET", "/api/rollouts", 200, body)
    api.reply("GET", DETAIL + "/history", 200, {"endpoint": "fraud-scoring", **body})
    listed, past = cli("list").stdout, cli("history", "fraud-scoring").stdout
    assert "fraud-scoring" in listed and "r-20261202-0001" not in listed
    assert "r-20261202-0001" in past and "2 (25 %)" in past


def test_get_shows_the_cause_and_the_reading_of_a_recorded_rollback(api: FakeApi, cli: Cli) -> None:
    # Recorded from the local stack with the read side in place: fraud:3 (25 % errors) rolled
    # back by the judge in its shadow.
    doc = fixture("detail_recorded_rolled_back.json")
    api.reply("GET", "/api/rollouts/fraud-demo", 200, doc)
    result = cli("get", "fraud-demo")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "✖ RolledBack" in out and "Stage" not in out
    assert "Rolled back: canary error rate 22.41 % vs baseline 2.50 % (13/58 vs 7/280" in out
    assert "error rate  22.41 %    2.50 %  ████████████ 100 %" in out
    assert "Actions      retry" in out


def test_why_of_a_recorded_rollback_gives_numbers_threshold_and_evidence(
    api: FakeApi, cli: Cli
) -> None:
    api.reply("GET", "/api/rollouts/fraud-demo", 200, fixture("detail_recorded_rolled_back.json"))
    out = cli("why", "fraud-demo").stdout
    assert "JudgeRollback" in out
    assert "22.41 % (13/58 requests)" in out and "2.50 % (7/280 requests)" in out
    assert "2.50 % (rollback)" in out
    assert "log e-value 9.32 (threshold 8.01)" in out


def test_events_falls_back_to_the_ignored_events_route_of_an_older_app(
    api: FakeApi, cli: Cli
) -> None:
    event = {
        "event_id": "e1",
        "model": {"name": "frad", "version": "3"},
        "reason": "NoMatchingRule",
    }
    api.reply("GET", "/api/ignored-events", 200, {"events": [event], "count": 1})
    result = cli("events", "--limit", "5")
    assert result.exit_code == 0, result.output
    assert [s.path for s in api.seen] == ["/api/events", "/api/ignored-events"]
    assert api.seen[-1].query == {"limit": "5"}
    assert "frad:3" in result.stdout


def test_get_shows_server_text_as_it_is_never_as_rich_markup(api: FakeApi, cli: Cli) -> None:
    """A reason an operator typed reaches every reader: "[/]" used to end the render with a
    MarkupError (exit 1), and "[link=...]" hid where a link went."""
    doc = fixture("detail_canary.json")
    doc["decisions"][-1]["message"] = "see [link=https://evil.example]runbook[/link] [/]"
    doc["rollout"]["cause"] = "paused by ana: [red on red]HIDDEN[/]"
    api.reply("GET", DETAIL, 200, doc)
    result = cli("get", "fraud-scoring")
    assert result.exit_code == 0, result.output
    out = "".join(result.stdout.split())  # the message column folds
    assert "[link=https://evil.example]runbook[/link][/]" in out
    assert "[redonred]HIDDEN[/]" in out


HEALTHY = {
    "status": "ok",
    "failing": [],
    "checks": [
        {
            "name": "store",
            "ok": True,
            "detail": "the rollout store answers",
            "hint": None,
            "took_ms": 12.3,
        },
        {
            "name": "endpoint fraud",
            "ok": True,
            "detail": "live: blue 100 %",
            "hint": None,
            "took_ms": 80.0,
        },
    ],
}


def test_health_lists_each_check_and_exits_0_when_all_pass(api: FakeApi, cli: Cli) -> None:
    api.reply("GET", "/api/health", 200, HEALTHY)
    result = cli("health")
    assert result.exit_code == 0, result.output
    assert "healthy" in result.stdout and "live: blue 100 %" in result.stdout


def test_health_that_fails_shows_what_to_do_and_exits_1(api: FakeApi, cli: Cli) -> None:
    failing = {
        "status": "failing",
        "failing": ["endpoint churn"],
        "checks": [
            *HEALTHY["checks"],
            {
                "name": "endpoint churn",
                "ok": False,
                "detail": "the workspace has no online endpoint churn (rule r1 names it)",
                "hint": "create the endpoint with a live deployment, or fix the rule's endpoint",
                "took_ms": 40.0,
            },
        ],
    }
    api.reply("GET", "/api/health", 503, failing)  # the same document, with a 503
    result = cli("health")
    assert result.exit_code == 1, result.output
    assert "failing: endpoint churn" in result.stdout
    assert "fix the rule's endpoint" in result.stdout
    as_json = cli("health", "-o", "json")
    assert as_json.exit_code == 1 and json.loads(as_json.stdout) == failing


def test_health_answered_in_the_error_shape_is_an_api_error(api: FakeApi, cli: Cli) -> None:
    api.reply("GET", "/api/health", 503, error("retry_later", "busy", "try again"))
    result = cli("health")
    assert result.exit_code == 1
    assert "retry_later" in result.output and "try again" in result.output
