"""The engine runs the answer checks over its Scoring and InputSamples ports: a failed smoke
test ends the rollout before any traffic with statuses in the API's decisions; a flipped
canary is rolled back in the shadow with the comparison's summary."""

from __future__ import annotations

import json
from typing import Any

from shared.fakes.scoring import Answer, FakeSamples, FakeScoring
from shared.model import Phase
from shared.ports import RolloutQuery, ScoreAnswer
from tests.engine_support import World, make_world

POLICY = """
defaults:
  shadow: {percent: 20, duration: 60s}
  stages: [{weight: 50, min_duration: 60s}, {weight: 100}]
  watch_window: 60s
  smoke: {requests: 4, sample: data_collection, latency_ms: 100}
  compare: {flip_rate: 0.02, psi: null, samples: 30}
rules:
  - name: fraud
    match: {model: fraud}
    endpoint: fraud
"""


def _answer(body: bytes, flip: bool = False) -> ScoreAnswer:
    label = len(body) % 2
    label = 1 - label if flip else label
    return ScoreAnswer(200, 5.0, json.dumps({"labels": [label]}).encode())


def _world(canary: Answer) -> World:
    w = make_world(POLICY, endpoints=("fraud",))
    scoring, samples = FakeScoring(), FakeSamples()
    scoring.set_model("fraud", "blue", _answer)
    scoring.set_model("fraud", "fraud-v7", canary)
    samples.collected[("fraud", "blue")] = [b"{" + b" " * i + b"}" for i in range(30)]
    w.engine.scoring, w.engine.samples = scoring, samples
    w.judge.set("promote", "Cleared")
    return w


def _run(w: World) -> tuple[Phase, list[str], dict[str, Any]]:
    w.engine.on_model_registered(w.model())
    for _ in range(30):
        w.tick(70)
        if w.store.read("fraud").active is None:
            break
    done = w.store.list_rollouts(RolloutQuery(endpoint="fraud"))[0]
    decisions = w.store.decisions("fraud", done.id)
    by_reason = {d.reason: dict(d.evidence) for d in decisions}
    return done.phase, [d.reason for d in decisions], by_reason


def test_failed_smoke_test_ends_the_rollout_before_any_traffic() -> None:
    w = _world(lambda body: ScoreAnswer(503, 3.0))
    phase, reasons, evidence = _run(w)
    assert phase is Phase.FAILED
    assert "SmokeFailed" in reasons and "ShadowStarted" not in reasons
    assert evidence["SmokeFailed"]["statuses"] == {"503": 4}
    assert "set_traffic" not in {op for op, _ in w.endpoints.calls}


def test_flipped_canary_is_rolled_back_in_the_shadow_by_the_comparison() -> None:
    w = _world(lambda body: _answer(body, flip=True))
    phase, reasons, evidence = _run(w)
    assert phase is Phase.ROLLED_BACK
    assert reasons.index("SmokePassed") < reasons.index("ShadowStarted")
    assert "OutputsDisagree" in reasons and "StageStarted" not in reasons
    assert evidence["OutputsDisagree"]["compare"]["flip_rate"] == 1.0


def test_agreeing_canary_passes_both_checks_and_is_promoted() -> None:
    w = _world(_answer)
    phase, reasons, _ = _run(w)
    assert phase is Phase.SUCCEEDED
    assert reasons.index("SmokePassed") < reasons.index("OutputsAgree")
    assert reasons.index("OutputsAgree") < reasons.index("ShadowComplete")


def test_the_api_shows_the_checks_passed_with_counts_only() -> None:
    w = _world(_answer)
    _run(w)
    checks = w.engine.describe("fraud")["rollout"]["checks"]
    assert checks["smoke"]["passed"] is True and checks["smoke"]["statuses"] == {"200": 4}
    assert checks["compare"]["agrees"] is True
    assert checks["compare"]["compare"]["flip_rate"] == 0.0
