"""Replay: the recorded-series loader and ``python -m bench.judge --replay``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.judge import main
from shared.errors import InvalidInput, PolicyError
from shared.judge import ERROR_RATE_REGRESSION, JudgeSettings, load_replay

SAMPLE = Path(__file__).parent / "data" / "error_regression.json"


def _doc(**extra: object) -> dict[str, object]:
    minute = {"canary_requests": 600, "canary_errors": 3, "baseline_requests": 5400,
              "baseline_errors": 27}  # fmt: skip
    return {"minutes": [minute], **extra}


def test_replay_prints_one_json_line_per_minute_with_decision_and_evidence(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--replay", str(SAMPLE)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == len(json.loads(SAMPLE.read_text())["minutes"])
    assert [line["minute"] for line in lines] == list(range(len(lines)))
    assert lines[0]["decision"] == "hold"
    assert (lines[-1]["decision"], lines[-1]["reason"]) == ("rollback", ERROR_RATE_REGRESSION)
    assert "rollback_threshold_log_e" in lines[-1]["evidence"]


def test_replay_of_a_bad_file_exits_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    doc = _doc()
    doc["minutes"][0]["canary_errors"] = -3  # type: ignore[index]
    bad.write_text(json.dumps(doc))
    assert main(["--replay", str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "minutes[0].canary_errors" in captured.err


def test_policy_is_read_directly_or_from_a_whole_rollout_policy() -> None:
    _, direct = load_replay(_doc(policy={"alpha": 0.005}))
    _, nested = load_replay(_doc(policy={"judge": {"alpha": 0.005}, "on_deadline": "hold"}))
    _, default = load_replay(_doc())
    assert direct.alpha == nested.alpha == 0.005 and default == JudgeSettings()


def test_integral_float_counts_from_azure_monitor_are_accepted() -> None:
    doc = _doc()
    doc["minutes"][0]["canary_requests"] = 600.0  # type: ignore[index]
    minutes, _ = load_replay(doc)
    assert minutes[0].canary_requests == 600 and isinstance(minutes[0].canary_requests, int)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"canary_requests": 1.5}, "minutes[0].canary_requests"),
        ({"canary_p50": "fast"}, "minutes[0].canary_p50"),
        ({"bogus": 1}, "minutes[0].bogus"),
        ({"start": "yesterday"}, "minutes[0].start"),
        ({"exceedances": [{"level": 0.9}]}, "minutes[0].exceedances[0].threshold_ms"),
    ],
)
def test_bad_minutes_are_refused_naming_the_field(change: dict[str, object], where: str) -> None:
    doc = _doc()
    doc["minutes"][0].update(change)  # type: ignore[index]
    with pytest.raises(InvalidInput, match=where.replace("[", r"\[").replace("]", r"\]")):
        load_replay(doc)


def test_a_bad_policy_is_a_policy_error_naming_the_field() -> None:
    with pytest.raises(PolicyError) as info:
        load_replay(_doc(policy={"alpha": 2}))
    assert info.value.field == "policy.alpha"


def test_a_document_without_minutes_is_refused() -> None:
    with pytest.raises(InvalidInput, match="minutes"):
        load_replay({"policy": {}})


def test_a_replay_carries_p95_for_a_policy_that_guards_it() -> None:
    """Recorded P95 (Azure Monitor's RequestLatency_P95) replays as the judge reads it: a
    canary slower at P95 under latency_levels [0.95] is a latency rollback."""
    from shared.judge import judge_stage

    minute = {"canary_requests": 1000, "canary_errors": 10, "baseline_requests": 5000,
              "baseline_errors": 50, "canary_p95": 400.0, "baseline_p95": 150.0}  # fmt: skip
    minutes, settings = load_replay(
        {"minutes": [minute] * 30, "policy": {"latency_levels": [0.95]}}
    )
    assert minutes[0].canary_p95 == 400.0 and minutes[0].baseline_p95 == 150.0
    assert judge_stage(minutes, settings).decision == "rollback"
