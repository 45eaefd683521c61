"""The smoke test's orchestration (shared/checks.py) and sample files (shared/samples.py):
when it is due, what is sent, and why it cannot run."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.checks import (
    COMPARE_BUDGET_S,
    COMPARE_TIMEOUT_S,
    SMOKE_BUDGET_S,
    compare_concurrency,
    compare_due,
    run_compare,
    run_smoke,
    smoke_due,
)
from shared.errors import NoData, NotFound
from shared.fakes.scoring import FakeSamples, FakeScoring, ok_answer
from shared.model import ModelRef, Phase, Rollout
from shared.observation import DeploymentInfo, EndpointInfo
from shared.policy import RolloutPolicy
from shared.policy_checks import ComparePolicy, SmokePolicy
from shared.ports import ScoreAnswer
from shared.samples import Samples, read_jsonl
from shared.scoring_plan import is_not_sent

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SMOKE = SmokePolicy(requests=5, sample="data_collection", latency_ms=100)


def _rollout(**kw: object) -> Rollout:
    base = Rollout(
        id="r1",
        endpoint="fraud",
        model=ModelRef("fraud", "2"),
        policy=RolloutPolicy(endpoint="fraud", smoke=SMOKE),
        phase=Phase.PROVISIONING,
        baseline="blue",
        canary="fraud-v2",
        created_at=T0,
        phase_since=T0,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def _ep(state: str = "Succeeded") -> EndpointInfo:
    deps = {
        "blue": DeploymentInfo("blue", "Succeeded"),
        "fraud-v2": DeploymentInfo("fraud-v2", state),
    }
    return EndpointInfo("fraud", {"blue": 100, "fraud-v2": 0}, {}, deps)


def test_smoke_is_due_only_for_a_succeeded_canary_not_yet_checked() -> None:
    assert smoke_due(_rollout(), _ep())
    assert not smoke_due(_rollout(), _ep("Creating"))
    assert not smoke_due(_rollout(checks={"smoke": {"passed": True}}), _ep())
    assert not smoke_due(_rollout(phase=Phase.SHADOWING), _ep())
    assert not smoke_due(_rollout(policy=RolloutPolicy(endpoint="fraud")), _ep())


def test_smoke_sends_the_sample_repeated_to_the_canary_by_name() -> None:
    scoring, samples = FakeScoring(), FakeSamples()
    scoring.set_model("fraud", "fraud-v2", ok_answer)
    samples.collected[("fraud", "blue")] = [b'{"data": [[1]]}', b'{"data": [[2]]}']
    result = run_smoke(_rollout(), scoring, samples)
    assert scoring.calls == [("fraud", "fraud-v2", 5)]
    assert [r.status for r in result.responses] == [200] * 5 and result.unavailable is None


def test_smoke_without_inputs_is_unavailable_not_failed() -> None:
    result = run_smoke(_rollout(), FakeScoring(), FakeSamples())
    assert result.unavailable is not None and "data_collection" in result.unavailable


def test_smoke_without_a_scoring_client_is_unavailable() -> None:
    assert run_smoke(_rollout(), None, None).unavailable is not None


def test_a_timed_out_request_is_an_answer_without_status() -> None:
    scoring, samples = FakeScoring(), FakeSamples()
    scoring.set_model("fraud", "fraud-v2", lambda b: ScoreAnswer(200, 5000.0, b))
    samples.collected[("fraud", "blue")] = [b"{}"]
    result = run_smoke(_rollout(), scoring, samples)
    assert {r.status for r in result.responses} == {0}


def test_sample_file_lines_are_read_up_to_n_and_must_be_json(tmp_path: Path) -> None:
    f = tmp_path / "s.jsonl"
    f.write_text('{"data": [[1]]}\n\n{"data": [[2]]}\n{"data": [[3]]}\n')
    assert read_jsonl(f, 2) == [b'{"data": [[1]]}', b'{"data": [[2]]}']
    f.write_text("{nope\n")
    with pytest.raises(NoData):
        read_jsonl(f, 2)


def test_sample_file_is_relative_to_the_policy_directory(tmp_path: Path) -> None:
    (tmp_path / "s.jsonl").write_text("{}\n")
    samples = Samples(tmp_path)
    assert samples.inputs("fraud", "blue", "s.jsonl", 3) == [b"{}"]
    with pytest.raises(NotFound):
        samples.inputs("fraud", "blue", "missing.jsonl", 3)
    with pytest.raises(NoData):
        samples.inputs("fraud", "blue", "data_collection", 3)  # no reader configured


def test_sample_file_outside_the_policy_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret.jsonl").write_text("{}\n")
    (tmp_path / "policy").mkdir()
    samples = Samples(tmp_path / "policy")
    for name in ("../secret.jsonl", str(tmp_path / "secret.jsonl")):
        with pytest.raises(NotFound):
            samples.inputs("fraud", "blue", name, 3)


def _shadowing(**kw: object) -> Rollout:
    pol = RolloutPolicy(endpoint="fraud", compare=ComparePolicy(samples=30))
    fields: dict[str, object] = {"phase": Phase.SHADOWING, "policy": pol, "stage_since": T0}
    return _rollout(**{**fields, **kw})


def _label(body: bytes, flip: bool = False) -> ScoreAnswer:
    p = (len(body) % 7) / 7 + 0.05
    p = 1 - p if flip else p
    return ScoreAnswer(
        200, 5.0, json.dumps({"probabilities": [p], "labels": [int(p >= 0.5)]}).encode()
    )


def test_compare_is_due_in_a_live_shadow_until_it_agreed() -> None:
    assert compare_due(_shadowing())
    assert not compare_due(_shadowing(stage_since=None))
    assert not compare_due(_shadowing(checks={"compare": {"agrees": True}}))
    assert not compare_due(_shadowing(paused=True))


def test_compare_scores_the_sample_on_both_deployments_and_summarises() -> None:
    scoring, samples = FakeScoring(), FakeSamples()
    scoring.set_model("fraud", "blue", _label)
    scoring.set_model("fraud", "fraud-v2", lambda b: _label(b, flip=True))
    samples.collected[("fraud", "blue")] = [b"{" + b" " * i + b"}" for i in range(30)]
    result = run_compare(_shadowing(), scoring, samples)
    assert [c[1] for c in scoring.calls] == ["blue", "fraud-v2"]
    assert result.paired == 30 and "flip_rate" in result.breaches


def test_compare_without_inputs_is_no_data() -> None:
    result = run_compare(_shadowing(), FakeScoring(), FakeSamples())
    assert result.no_data is not None and not result.agrees


def test_a_hung_canary_holds_the_comparison_for_its_budget_not_for_every_input() -> None:
    """500 inputs to a canary (16 instances) whose every request times out: 8 at a time, none
    started after the budget, so the comparison lasts about budget + timeout (not 500
    timeouts) and the inputs never sent count as unanswered, never as agreeing."""
    scoring, samples = FakeScoring(), FakeSamples()
    scoring.set_model("fraud", "blue", _label)
    scoring.set_model("fraud", "fraud-v2", lambda b: ScoreAnswer(200, 10 * 60_000.0, b"{}"))
    samples.collected[("fraud", "blue")] = [b"{" + b" " * (i % 40) + b"}" for i in range(500)]
    pol = RolloutPolicy(endpoint="fraud", compare=ComparePolicy(samples=500))
    ep = EndpointInfo(
        "fraud",
        {"blue": 100},
        {"fraud-v2": 20},
        {
            "blue": DeploymentInfo("blue", "Succeeded", instance_count=16),
            "fraud-v2": DeploymentInfo("fraud-v2", "Succeeded", instance_count=16),
        },
    )
    result = run_compare(_shadowing(policy=pol), scoring, samples, ep)
    lanes, rounds = (
        compare_concurrency(ep, "fraud-v2"),
        math.ceil(COMPARE_BUDGET_S / COMPARE_TIMEOUT_S),
    )
    canary = scoring.answers[[c[1] for c in scoring.calls].index("fraud-v2")]
    assert len(canary) == 500
    assert sum(1 for a in canary if not is_not_sent(a)) == lanes * rounds == 16
    assert all(a.status == 0 for a in canary)
    assert result.paired == 0 and not result.agrees


def test_smoke_requests_stop_at_the_smoke_budget_and_fail_the_unsent() -> None:
    """A canary answering in 20 s, 30 smoke requests one at a time: the budget (120 s) lets 6
    go; the other 24 are never sent and answered as no answer (the smoke test fails)."""
    scoring, samples = FakeScoring(), FakeSamples()
    scoring.set_model("fraud", "fraud-v2", lambda b: ScoreAnswer(200, 20_000.0, b))
    samples.collected[("fraud", "blue")] = [b'{"data": [[1]]}']
    smoke = SmokePolicy(requests=30, sample="data_collection", latency_ms=20_000)
    result = run_smoke(
        _rollout(policy=RolloutPolicy(endpoint="fraud", smoke=smoke)), scoring, samples
    )
    statuses = [resp.status for resp in result.responses]
    assert statuses == [200] * int(SMOKE_BUDGET_S // 20) + [0] * 24
    assert result.responses[-1].error.startswith("not sent")


def test_the_comparison_takes_at_most_half_of_a_deployments_request_slots() -> None:
    """Azure's default is one request in flight per instance (429 beyond): 1 or 2 instances
    get one comparison request at a time, 6 get 3, and never more than the cap."""

    def ep(instances: int | None) -> EndpointInfo:
        dep = DeploymentInfo("blue", "Succeeded", instance_count=instances)
        return EndpointInfo("fraud", {"blue": 100}, {}, {"blue": dep})

    assert [compare_concurrency(ep(n), "blue") for n in (None, 1, 2, 6, 100)] == [1, 1, 1, 3, 8]
    assert compare_concurrency(None, "blue") == compare_concurrency(ep(3), "absent") == 1
