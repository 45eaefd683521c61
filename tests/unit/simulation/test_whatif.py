"""what-if: a policy over an endpoint's history, through the production engine."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.clock import FakeClock
from shared.fakes.clocked_endpoints import ClockedEndpoints
from shared.simulation.__main__ import main
from shared.simulation.scenario import Behaviour, MetricsSpec, SeriesMinute
from shared.simulation.traffic import SimMetrics
from shared.simulation.whatif import CASES, history_from_metrics, what_if

POLICY = """
defaults:
  shadow: {percent: 20, duration: 5m}
  stages:
    - {weight: 10, min_duration: 5m, max_duration: 30m}
    - {weight: 100}
  watch_window: 10m
rules:
  - name: fraud
    match: {model: fraud}
    endpoint: fraud
"""


@pytest.fixture
def policy(tmp_path: Path) -> str:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return str(path)


def series(requests: int, errors: int, n: int = 120) -> tuple[None, tuple[SeriesMinute, ...]]:
    return None, tuple(SeriesMinute(requests, errors, 40.0, 70.0, 120.0) for _ in range(n))


def test_the_report_has_the_good_version_and_each_regression(policy: str) -> None:
    report = what_if(policy_path=policy, history=series(6000, 30), runs=2, cases=CASES[:4])
    rows = {r["case"]: r for r in report["cases"]}
    assert set(rows) == {"good (A/A)", "errors x1.5", "errors x2", "errors x4"}
    good = rows["good (A/A)"]
    assert good["runs"] == 2 and 0 <= good["false_rollback"] <= 1
    assert rows["errors x4"]["caught"] == 1.0
    assert report["what_if"]["endpoint"] == "fraud" and report["what_if"]["stages"] == [10, 100]


def test_zero_errors_on_the_live_deployment_clear_on_the_absolute_margin(policy: str) -> None:
    report = what_if(policy_path=policy, history=series(6000, 0), runs=1, cases=CASES[:1])
    assert not any("no error in the whole history" in w for w in report["warnings"])
    assert not any("deadline" in w for w in report["warnings"])


def test_zero_errors_without_an_absolute_margin_is_warned(tmp_path: Path, policy: str) -> None:
    text = (
        Path(policy)
        .read_text()
        .replace("  watch_window: 10m\n", "  watch_window: 10m\n  judge: {clear_abs_margin: 0}\n")
    )
    strict = tmp_path / "policy.yaml"
    strict.write_text(text)
    report = what_if(policy_path=str(strict), history=series(6000, 0), runs=1, cases=CASES[:1])
    assert any("no error in the whole history" in w for w in report["warnings"])
    assert any("shadow reaches its 30-minute deadline" in w for w in report["warnings"])


def test_a_latency_percentile_the_traffic_cannot_measure_is_warned(policy: str) -> None:
    report = what_if(policy_path=policy, history=series(200, 2), runs=1, cases=CASES[:1])
    assert any(
        w.startswith("p99 latency is never measurable in shadow (20 %), stage 0")
        for w in report["warnings"]
    )


def test_history_is_read_through_the_metrics_port_for_the_live_deployment() -> None:
    clock = FakeClock()
    eps = ClockedEndpoints(clock)
    eps.add_endpoint("fraud", {"blue": "azureml:fraud:1"}, {"blue": 100})
    metrics = SimMetrics(
        clock,
        eps,
        start=clock.now(),
        requests_per_minute=3000,
        behaviour={"blue": Behaviour(error_rate=0.01)},
        spec=MetricsSpec(),
        seed=1,
    )
    clock.advance(3 * 3600)
    got = history_from_metrics(eps, metrics, "fraud", 2.0, clock.now())
    assert len(got) == 120
    assert sum(m.requests for m in got) / 120 == pytest.approx(3000, rel=0.02)


def test_the_cli_prints_json_and_refuses_a_bad_policy_with_exit_2(
    policy: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "series.json"
    path.write_text(json.dumps({"minutes": [{"requests": 6000, "errors": 30}] * 60}))
    out = io.StringIO()
    assert (
        main(
            ["what-if", "--policy", policy, "--series", str(path), "--runs", "1", "--json"], out=out
        )
        == 0
    )
    assert {r["case"] for r in json.loads(out.getvalue())["cases"]} == {c.name for c in CASES}
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: []\n")
    assert main(["what-if", "--policy", str(bad), "--series", str(path)], out=io.StringIO()) == 2
    assert "policy.rules" in capsys.readouterr().err


def test_the_history_is_read_with_the_errors_the_policy_counts() -> None:
    """what-if reads the live deployment's history counting what the endpoint's rule counts
    as errors (its `errors`), as the engine would judge it, not the defaults."""
    from shared.judge.types import Minute
    from shared.policy import load_policy_text
    from shared.simulation.whatif import policy_errors

    class Capture:
        def __init__(self) -> None:
            self.errors: tuple[str, ...] = ()

        def stage_minutes(self, queries: Any) -> dict[str, list[Minute]]:
            self.errors = tuple(queries[0].errors)
            return {"fraud": [Minute(0, 0, 1000, 10, start=datetime(2026, 1, 1, tzinfo=UTC))]}

    policies = load_policy_text(
        "rules:\n  - name: fraud\n    match: {model: 'fraud*'}\n    endpoint: fraud\n"
        "    errors: ['5xx']\n"
    )
    errors = policy_errors(policies, "fraud", None)
    assert errors == ("5xx",)
    eps = ClockedEndpoints(FakeClock())
    eps.add_endpoint("fraud", {"blue": "azureml:fraud:1"}, {"blue": 100})
    metrics = Capture()
    history_from_metrics(eps, metrics, "fraud", 1, datetime(2026, 1, 1, 1, tzinfo=UTC), errors)  # type: ignore[arg-type]
    assert metrics.errors == ("5xx",)
