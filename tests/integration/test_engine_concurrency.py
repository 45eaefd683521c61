"""The engine on Azurite under concurrency: exactly-once ingestion, no lost update."""

from __future__ import annotations

import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.azure.tables import TableRolloutStore
from shared.model import Phase
from shared.ports import RolloutQuery
from tests.engine_support import World, make_world

pytestmark = pytest.mark.integration

FAST_POLICY = """
defaults:
  shadow: null
  stages:
    - {weight: 10, min_duration: 0s, max_duration: 1h}
    - {weight: 50, min_duration: 0s, max_duration: 1h}
    - {weight: 100}
  watch_window: 0s
  warmup: 0s
  settle: 0s  # concurrency, not settling, is under test here
rules:
  - name: all
    match: {model: "m*"}
    endpoint: ep-placeholder
"""


def test_ten_concurrent_deliveries_of_one_event_give_exactly_one_rollout(
    azurite: str, table_name: str
) -> None:
    store = TableRolloutStore.from_connection_string(azurite, table_name)
    w = make_world(store=store)
    model = w.model("fraud", "7", event_id="delivered-ten-times")
    barrier = threading.Barrier(10)

    def deliver() -> str:
        barrier.wait(timeout=10)
        return w.engine.on_model_registered(model).outcome

    with ThreadPoolExecutor(max_workers=10) as pool:
        outcomes = Counter(pool.map(lambda _: deliver(), range(10)))
    assert outcomes["started"] == 1 and outcomes["duplicate"] == 9
    assert len(store.list_rollouts(RolloutQuery(endpoint="fraud"))) == 1
    creates = [c for c in w.endpoints.calls if c[0] == "create_deployment"]
    assert creates == [("create_deployment", "fraud-v7")]


def test_eight_reconcilers_over_100_rollouts_apply_each_transition_once(
    azurite: str, table_name: str
) -> None:
    endpoints = tuple(f"ep{i:03d}" for i in range(100))
    rules = "\n".join(
        f'  - {{name: r{i}, match: {{model: "m{i:03d}"}}, endpoint: {ep}}}'
        for i, ep in enumerate(endpoints)
    )
    policy = FAST_POLICY.split("rules:")[0] + "rules:\n" + rules + "\n"
    store = TableRolloutStore.from_connection_string(azurite, table_name)
    w = make_world(policy=policy, store=store, endpoints=endpoints)
    w.endpoints.provisioning_reads = 0
    w.judge.set("promote", "Cleared")
    for i in range(100):
        assert w.engine.on_model_registered(w.model(f"m{i:03d}", "2")).outcome == "started"

    def reconciler(seed: int) -> None:
        order = list(endpoints)
        random.Random(seed).shuffle(order)
        for ep in order:
            w.engine.reconcile(ep)

    for _ in range(30):  # bounded: 8 transitions, a stage judged once its minutes read twice
        if not store.active_endpoints():
            break
        w.clock.advance(61)
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(reconciler, range(8)))
    assert store.active_endpoints() == []

    expected_path = [
        (Phase.PENDING, Phase.PROVISIONING),
        (Phase.PROVISIONING, Phase.CANARY),
        (Phase.CANARY, Phase.CANARY),
        (Phase.CANARY, Phase.PROMOTING),
        (Phase.PROMOTING, Phase.WATCHING),
        (Phase.WATCHING, Phase.SUCCEEDED),
    ]
    rollouts = store.list_rollouts(RolloutQuery(limit=500))
    assert len(rollouts) == 100
    for r in rollouts:
        assert r.phase is Phase.SUCCEEDED
        decisions = store.decisions(r.endpoint, r.id)
        assert [d.seq for d in decisions] == list(range(1, r.seq + 1)), r.endpoint
        moves = [
            (d.phase_from, d.phase_to)
            for d in decisions
            if d.phase_from is not d.phase_to or d.stage_from != d.stage_to
        ]
        assert moves == expected_path, r.endpoint
    creates = Counter(t for op, t in w.endpoints.calls if op == "create_deployment")
    assert set(creates.values()) == {1} and len(creates) == 100


def test_two_instances_ticking_at_once_apply_each_transition_once(
    azurite: str, table_name: str
) -> None:
    """Two app instances (own engines and store clients, one table) whose timer ticks overlap:
    the slot ETags make every transition land once, whichever tick decides it."""
    endpoints = tuple(f"ep{i:02d}" for i in range(20))
    rules = "\n".join(
        f'  - {{name: r{i}, match: {{model: "m{i:02d}"}}, endpoint: {ep}}}'
        for i, ep in enumerate(endpoints)
    )
    policy = FAST_POLICY.split("rules:")[0] + "rules:\n" + rules + "\n"
    first = make_world(
        policy=policy,
        store=TableRolloutStore.from_connection_string(azurite, table_name),
        endpoints=endpoints,
    )
    second = make_world(
        policy=policy,
        store=TableRolloutStore.from_connection_string(azurite, table_name),
        endpoints=endpoints,
    )
    # One Azure: both instances see the same endpoints, metrics and clock.
    second.engine.endpoints = first.engine.endpoints
    second.engine.clock = first.clock
    second.engine.judge = first.engine.judge
    first.endpoints.provisioning_reads = 0
    first.judge.set("promote", "Cleared")
    for i in range(20):
        assert first.engine.on_model_registered(first.model(f"m{i:02d}", "2")).outcome == "started"
    barrier = threading.Barrier(2)

    def tick(w: World) -> None:
        barrier.wait(timeout=30)
        w.engine.reconcile_all()

    for _ in range(30):  # bounded: 8 transitions, a stage judged once its minutes read twice
        if not first.store.active_endpoints():
            break
        first.clock.advance(61)
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(tick, (first, second)))
    assert first.store.active_endpoints() == []
    for r in first.store.list_rollouts(RolloutQuery(limit=100)):
        assert r.phase is Phase.SUCCEEDED, r.endpoint
        decisions = first.store.decisions(r.endpoint, r.id)
        assert [d.seq for d in decisions] == list(range(1, r.seq + 1)), r.endpoint
    creates = Counter(t for op, t in first.endpoints.calls if op == "create_deployment")
    assert set(creates.values()) == {1} and len(creates) == 20
