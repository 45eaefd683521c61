"""The engine's judging over the fakes: what it asks the metrics source, that a paused or held
canary is still judged, and what the decisions record."""

from __future__ import annotations

from collections.abc import Sequence

from shared import machine as m
from shared.fakes.metrics import Behaviour
from shared.judge.types import Minute, Verdict
from shared.model import Phase
from shared.ports import RolloutQuery
from tests.engine_support import POLICY, make_world


def _bad_canary(minutes: Sequence[Minute]) -> Verdict:
    """Rolls back once the canary fails more than a fifth of its requests, else holds."""
    n = sum(x.canary_requests for x in minutes)
    x = sum(x.canary_errors for x in minutes)
    if n and x / n > 0.2:
        return Verdict("rollback", "ErrorRateRegression", {"rate": x / n})
    return Verdict("hold", "Accumulating", {})


def test_the_shadow_is_judged_on_deployment_metrics_and_stages_on_the_endpoints() -> None:
    w = make_world()
    w.judge.set("promote")
    w.engine.on_model_registered(w.model())
    for _ in range(20):
        w.tick(70)
        if w.store.read("fraud").active.phase is Phase.CANARY:  # type: ignore[union-attr]
            break
    for _ in range(3):
        w.tick(70)
    scopes = [q.scope for q in w.metrics.queries if q.endpoint == "fraud"]
    assert scopes[0] == "deployment" and scopes[-1] == "endpoint"
    assert all(q.errors == ("5xx", "424", "408", "429") for q in w.metrics.queries)


def test_the_policy_errors_are_carried_into_the_metrics_query() -> None:
    w = make_world(POLICY.replace("  warmup: 0s\n", "  warmup: 0s\n  errors: [5xx, 429]\n"))
    w.judge.set("hold")
    w.engine.on_model_registered(w.model())
    for _ in range(4):
        w.tick(70)
    assert w.metrics.queries and {q.errors for q in w.metrics.queries} == {("5xx", "429")}


def test_a_canary_paused_at_its_deadline_is_still_judged_and_rolled_back_when_it_fails() -> None:
    """The issue's case: paused at its deadline with its live share; two hours later it fails
    half its calls: the engine still reads its metrics and rolls it back."""
    text = POLICY.replace("max_duration: 20m}", "max_duration: 5m}")
    w = make_world(text)
    w.judge.set("promote")
    w.engine.on_model_registered(w.model())
    for _ in range(20):
        w.tick(70)
        if w.store.read("fraud").active.phase is Phase.CANARY:  # type: ignore[union-attr]
            break
    w.judge.set("hold")
    for _ in range(10):
        w.tick(70)
    active = w.store.read("fraud").active
    assert active is not None and active.paused and active.pause_reason == m.STAGE_DEADLINE
    assert w.endpoints.traffic("fraud") == {"blue": 90, "fraud-v7": 10}
    w.judge = w.engine.judge = type(w.judge)(_bad_canary)  # type: ignore[assignment]
    for _ in range(100):  # two hours, still paused, still judged
        w.tick(70)
    queried = len(w.metrics.queries)
    w.metrics.script("fraud", "fraud-v7", Behaviour(error_rate=0.5))
    for _ in range(8):
        w.tick(70)
    assert len(w.metrics.queries) > queried
    done = w.store.list_rollouts(RolloutQuery(endpoint="fraud"))[0]
    assert done.phase is Phase.ROLLED_BACK
    assert w.endpoints.traffic("fraud") == {"blue": 100}
    reasons = [d.reason for d in w.store.decisions("fraud", done.id)]
    assert m.JUDGE_ROLLBACK in reasons


def test_a_throttling_canary_counts_as_failing_by_default() -> None:
    w = make_world()
    w.judge = w.engine.judge = type(w.judge)(_bad_canary)  # type: ignore[assignment]
    w.metrics.script("fraud", "fraud-v7", Behaviour(error_rate=0.0, statuses={"429": 0.4}))
    w.engine.on_model_registered(w.model())
    for _ in range(12):
        w.tick(70)
    done = w.store.list_rollouts(RolloutQuery(endpoint="fraud"))[0]
    assert done.phase in (Phase.ROLLING_BACK, Phase.ROLLED_BACK)
    assert "fraud-v7" not in w.endpoints.traffic("fraud")


def test_a_judged_decision_records_the_errors_and_the_settled_minutes_it_used() -> None:
    w = make_world()
    w.judge.set("promote")
    w.engine.on_model_registered(w.model())
    for _ in range(12):
        w.tick(70)
    rollout = w.store.list_rollouts(RolloutQuery(endpoint="fraud"))[0]
    shadow_done = next(
        d for d in w.store.decisions("fraud", rollout.id) if d.reason == m.SHADOW_COMPLETE
    )
    assert shadow_done.evidence["errors"] == ["5xx", "424", "408", "429"]
    used = shadow_done.evidence["minutes"]
    assert used["minutes_settled"] >= 1 and used["scope"] == "deployment"
    assert used["last_settled"] is not None
