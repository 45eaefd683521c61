"""Commands that need no API: lint (the app's own policy check) and the simulator's."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from autocanary_cli.main import app

ROOT = Path(__file__).resolve().parents[3]
runner = CliRunner()


def test_lint_accepts_the_example_policy_and_lists_its_rules() -> None:
    result = runner.invoke(app, ["lint", str(ROOT / "policy.yaml")], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "policy OK" in result.stdout and "2 rule(s)" in result.stdout
    assert "fraud-scoring" in result.stdout


def test_lint_names_the_offending_field_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text(
        "rules:\n  - name: r\n    match: {model: '*'}\n    endpoint: e\n"
        "    stages: [{weight: 50}, {weight: 10}, {weight: 100}]\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["lint", str(bad), "-o", "json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert report["error"]["field"].startswith("rules[0]")


def test_lint_of_a_missing_file_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["lint", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "cannot be read" in result.stderr


def test_simulate_plays_a_scenario_and_keeps_the_simulators_exit_code() -> None:
    scenario = ROOT / "tests" / "scenarios" / "operator_abort.json"
    plain = runner.invoke(app, ["simulate", str(scenario)])
    traced = runner.invoke(app, ["simulate", str(scenario), "--trace"])
    assert (plain.exit_code, traced.exit_code) == (0, 0), plain.output
    summary = json.loads(plain.stdout.strip().splitlines()[-1])["summary"]
    assert summary["scenario"] == "operator_abort" and summary["expect"]["met"] is True
    assert len(traced.stdout.splitlines()) > len(plain.stdout.splitlines())  # --trace passed on


def test_simulate_of_a_bad_scenario_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "s.json"
    bad.write_text("{}", encoding="utf-8")
    assert runner.invoke(app, ["simulate", str(bad)]).exit_code == 2


def test_what_if_passes_its_options_to_the_simulator(tmp_path: Path) -> None:
    series = ROOT / "tests" / "unit" / "simulation" / "data" / "fraud_24h.json"
    result = runner.invoke(
        app, ["what-if", "--policy", str(tmp_path / "missing.yaml"), "--series", str(series)]
    )
    assert result.exit_code == 2  # the simulator's "bad policy": nothing ran
    assert "missing.yaml" in result.stderr


def test_lint_of_a_file_that_is_not_utf8_exits_2_saying_so(tmp_path: Path) -> None:
    binary = tmp_path / "policy.yaml"
    binary.write_bytes(b"\xff\xfe")
    result = runner.invoke(app, ["lint", str(binary)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "cannot be read: not UTF-8 text (byte 0" in result.stderr


def test_lint_of_yaml_nested_5000_deep_is_invalid_and_exits_1(tmp_path: Path) -> None:
    deep = tmp_path / "policy.yaml"
    deep.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    result = runner.invoke(app, ["lint", str(deep), "-o", "json"])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert report["error"] == {
        "field": "<file>",
        "message": f"{deep} is not valid YAML/JSON: nested too deeply",
    }
