"""An engine wired to the fakes shipped in shared.fakes, for unit and integration tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from shared.clock import FakeClock
from shared.fakes.endpoints import FakeEndpoints
from shared.fakes.events import RecordingPublisher
from shared.fakes.judge import ScriptedJudge
from shared.fakes.metrics import FakeMetrics
from shared.fakes.store import InMemoryRolloutStore
from shared.model import ModelRef, Phase
from shared.policy import PolicySet, load_policy_text
from shared.ports import RolloutStore
from shared.services import Engine

# The HTTP API key the handler tests send (and install as AUTOCANARY_API_KEYS).
API_KEY = "test-api-key-0123456789abcdefghijklmnop"
API_HEADERS = {"content-type": "application/json", "x-functions-key": API_KEY}

WORKSPACE_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg"
    "/providers/Microsoft.MachineLearningServices/workspaces/ws"
)

POLICY = """
defaults:
  shadow: {percent: 20, duration: 2m}
  stages:
    - {weight: 10, min_duration: 1m, max_duration: 20m}
    - {weight: 50, min_duration: 1m, max_duration: 20m}
    - {weight: 100}
  watch_window: 5m
  warmup: 0s
rules:
  - name: fraud
    match: {model: "fraud*"}
    endpoint: fraud
  - name: churn
    match: {model: "churn*"}
    endpoint: churn
    on_newer_version: supersede
"""


@dataclass
class World:
    engine: Engine
    store: RolloutStore
    endpoints: FakeEndpoints
    metrics: FakeMetrics
    judge: ScriptedJudge
    clock: FakeClock
    events: RecordingPublisher

    def model(self, name: str = "fraud", version: str = "7", event_id: str = "") -> ModelRef:
        return ModelRef(
            name, version, event_id=event_id or f"ev-{name}-{version}", event_time=self.clock.now()
        )

    def tick(self, seconds: float = 60) -> None:
        self.clock.advance(seconds)
        self.engine.reconcile_all()


def canary_live(w: World, endpoint: str = "fraud", limit: int = 30) -> None:
    """Tick until the endpoint's canary serves its first stage, its split confirmed (the judge
    clearing the shadow), then hold it there."""
    w.judge.set("promote")
    for _ in range(limit):
        w.tick(70)
        active = w.store.read(endpoint).active
        if active is not None and active.phase is Phase.CANARY and active.confirmed:
            break
    w.judge.set("hold")
    w.tick(70)
    active = w.store.read(endpoint).active
    assert active is not None and active.phase is Phase.CANARY and active.confirmed


def make_world(
    policy: str = POLICY,
    store: RolloutStore | None = None,
    endpoints: tuple[str, ...] = ("fraud", "churn"),
    instance_count: int = 1,
) -> World:
    clock = FakeClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    fake_endpoints = FakeEndpoints(provisioning_reads=1)
    for name in endpoints:
        fake_endpoints.add_endpoint(
            name, {"blue": f"azureml:{name}:1"}, {"blue": 100}, instance_count
        )
    metrics = FakeMetrics()
    judge = ScriptedJudge()
    events = RecordingPublisher()
    policies: PolicySet = load_policy_text(policy)
    real_store = store or InMemoryRolloutStore(clock=clock.now)
    engine = Engine(
        store=real_store,
        endpoints=fake_endpoints,
        metrics=metrics,
        judge=judge,
        clock=clock,
        events=events,
        policies=policies,
        workspace_id=WORKSPACE_ID,
        max_concurrency=4,
    )
    return World(engine, real_store, fake_endpoints, metrics, judge, clock, events)
