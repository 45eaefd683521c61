"""The reconcile tick at scale, over the fakes: what it reads, what it writes, how it is paced."""

from __future__ import annotations

import threading
from datetime import timedelta
from types import SimpleNamespace

import pytest

from shared.effects import OutboxEvent
from shared.errors import StaleState, TransientUpstreamError
from shared.fakes.store import InMemoryRolloutStore
from shared.judge.types import Minute
from shared.model import Phase, Rollout
from shared.ports import IndexEntry, RolloutQuery, Slot, SlotWrite
from shared.ticking import TICK_DEADLINE_S, TICK_TARGET_S, ReconcileOutcome, TickPool
from tests.engine_support import World, make_world

HOLD_POLICY = """
defaults:
  shadow: null
  stages:
    - {weight: 10, min_duration: 1h, max_duration: 10h}
    - {weight: 100}
  watch_window: 0s
  warmup: 0s
rules:
"""

ENDPOINTS = ("ep0", "ep1", "ep2")


def held_world() -> tuple[World, InMemoryRolloutStore]:
    rules = "".join(
        f'  - {{name: r{i}, match: {{model: "m{i}"}}, endpoint: {ep}}}\n'
        for i, ep in enumerate(ENDPOINTS)
    )
    w = make_world(policy=HOLD_POLICY + rules, endpoints=ENDPOINTS)
    w.endpoints.provisioning_reads = 0
    for i in range(len(ENDPOINTS)):
        assert w.engine.on_model_registered(w.model(f"m{i}", "2")).outcome == "started"
    for _ in range(4):  # provisioned, 10 % asked, confirmed, held
        w.tick(60)
    for ep in ENDPOINTS:
        active = w.store.read(ep).active
        assert active is not None and active.phase is Phase.CANARY and active.confirmed
    assert isinstance(w.store, InMemoryRolloutStore)
    return w, w.store


def test_a_tick_reads_each_active_slot_once() -> None:
    w, store = held_world()
    reads = store.reads
    w.tick(60)
    assert store.reads - reads == len(ENDPOINTS)


def test_a_held_rollout_is_not_rewritten_while_only_its_elapsed_time_moves() -> None:
    """Ticks within one metric minute: only elapsed_s moves, so nothing is written. (Each new
    minute changes the settle reading, which is state: that tick writes.)"""
    w, store = held_world()
    w.tick(15)  # confirms the reading of the last tick (two-tick settle rule): a change
    writes = store.transactions + store.index_writes
    for _ in range(2):
        w.tick(15)
    assert store.transactions + store.index_writes == writes


def test_a_tick_makes_one_endpoint_read_per_held_rollout() -> None:
    w, _ = held_world()
    before = len(w.endpoints.calls)
    w.tick(60)
    reads = [c for c in w.endpoints.calls[before:] if c[0] == "get_endpoint"]
    assert sorted(target for _, target in reads) == list(ENDPOINTS)


def test_a_ticks_endpoint_reads_share_one_workspace_listing_one_arm_read_each() -> None:
    """Issue 13: at most one ARM read per active rollout a tick (each endpoint's deployment
    list) plus one listing of the workspace's endpoints for the whole tick."""
    w, _ = held_world()
    before = w.endpoints.arm_reads
    w.tick(60)
    assert w.endpoints.arm_reads - before == len(ENDPOINTS) + 1


def test_a_read_outside_a_tick_is_fresh_two_arm_reads() -> None:
    w, _ = held_world()
    before = w.endpoints.arm_reads
    w.engine.reconcile("ep0")
    assert w.endpoints.arm_reads - before == 2


def test_a_paused_rollout_without_canary_traffic_costs_no_deployment_read() -> None:
    """Only its split is looked at, from the tick's listing of the workspace's endpoints."""
    w = make_world()
    w.engine.on_model_registered(w.model())  # provisioning: no traffic on the canary yet
    w.engine.act("fraud", "pause", "looking at it", "ana")
    before, reads = len(w.endpoints.calls), w.endpoints.arm_reads
    w.tick(60)
    assert [c for c in w.endpoints.calls[before:] if c[1] == "fraud"] == [("get_split", "fraud")]
    assert w.endpoints.arm_reads - reads == 1  # the listing's one page, shared by the tick
    active = w.store.read("fraud").active
    assert active is not None and active.paused and active.phase is Phase.PROVISIONING


def test_a_paused_rollout_at_rest_whose_canary_is_given_traffic_by_hand_is_read() -> None:
    w = make_world()
    w.engine.on_model_registered(w.model())
    w.engine.act("fraud", "pause", "looking at it", "ana")
    w.tick(60)
    w.endpoints.set_traffic("fraud", {"blue": 70, "fraud-v7": 30}, {})  # trying it by hand
    before = len(w.endpoints.calls)
    w.tick(60)
    assert ("get_endpoint", "fraud") in w.endpoints.calls[before:]
    active = w.store.read("fraud").active
    assert active is not None and active.hand_since == w.clock.now()


def test_a_paused_rollout_with_live_canary_traffic_is_still_read() -> None:
    w, _ = held_world()
    w.engine.act("ep0", "pause", "looking at it", "ana")
    before = len(w.endpoints.calls)
    w.tick(60)
    assert ("get_endpoint", "ep0") in w.endpoints.calls[before:]


def test_a_tick_that_starts_while_one_runs_is_skipped() -> None:
    w, store = held_world()
    entered, release = threading.Event(), threading.Event()
    real = store.active_index

    def slow_index() -> list[IndexEntry]:
        entered.set()
        assert release.wait(timeout=10)
        return real()

    store.active_index = slow_index  # type: ignore[method-assign]
    results: list[int] = []
    first = threading.Thread(target=lambda: results.append(len(w.engine.reconcile_all())))
    first.start()
    try:
        assert entered.wait(timeout=10)
        assert w.engine.reconcile_all() == []
    finally:
        release.set()
        first.join(timeout=10)
    assert results == [len(ENDPOINTS)]


def end_by_hand(w: World, endpoint: str) -> Rollout:
    slot = w.store.read(endpoint)
    assert slot.active is not None
    done = slot.active.evolve(phase=Phase.FAILED, updated_at=w.clock.now())
    w.store.write(slot, SlotWrite(active=None, waiting=None, rollouts=(done,)))
    return done


def test_an_idle_slot_left_in_the_index_is_dropped_by_the_tick_after_the_grace() -> None:
    w = make_world()
    assert w.engine.on_model_registered(w.model()).outcome == "started"
    done = end_by_hand(w, "fraud")
    assert w.store.active_endpoints() == []
    with pytest.raises(StaleState):  # index row upserted first, then the slot write refused
        w.store.write(
            Slot("fraud"), SlotWrite(active=done.evolve(id="x", phase=Phase.PENDING), waiting=None)
        )
    assert w.store.active_endpoints() == ["fraud"]
    assert w.engine.reconcile_all() == []  # idle: nothing to do; the entry is still fresh
    assert w.store.active_endpoints() == ["fraud"]
    w.tick(11 * 60)
    assert w.store.active_endpoints() == []


def test_the_pool_is_sized_from_the_measured_seconds_per_rollout_and_bounded() -> None:
    w = make_world()
    engine = w.engine
    assert engine.pool_size(1000) == engine.max_concurrency  # not measured yet: all of it
    assert engine.max_concurrency == 4
    engine.observe_tick(rollouts=100, workers=1, seconds=TICK_TARGET_S / 10)
    assert engine.pool_size(100) == 1  # one worker finishes 100 in a tenth of the target
    assert engine.pool_size(2000) == 2
    engine.observe_tick(rollouts=10, workers=4, seconds=60.0)
    assert engine.pool_size(1000) == 4  # slow: capped at max_concurrency, never more
    assert engine.pool_size(2) == 2  # never more workers than rollouts


def test_purge_history_deletes_only_what_is_older_than_the_retention() -> None:
    w = make_world()
    w.engine.retention = timedelta(days=2)
    w.engine.on_model_registered(w.model())
    end_by_hand(w, "fraud")
    w.clock.advance(86400)
    assert w.engine.purge_history().rows == 0
    w.clock.advance(2 * 86400)
    report = w.engine.purge_history()
    assert report.rollouts == 1 and report.decisions >= 1 and report.done
    assert w.store.list_rollouts(RolloutQuery(endpoint="fraud")) == []


def test_a_held_rollout_whose_stage_serves_nothing_is_not_rewritten_as_minutes_pass() -> None:
    """Minutes with no requests are never reported: a passing minute only moves the settle
    reading's horizon, and the reading stored earlier still holds what the two-tick rule
    needs, so nothing is written (a minute that then arrives enters the reading: a write)."""
    w, store = held_world()
    w.metrics.requests_per_minute = 0
    w.tick(60)
    w.tick(60)
    writes = store.transactions + store.index_writes
    for _ in range(3):
        w.tick(60)
    assert store.transactions + store.index_writes == writes
    w.metrics.requests_per_minute = 6000
    w.tick(60)
    assert store.transactions + store.index_writes > writes


def test_a_paused_rollout_at_rest_whose_split_cannot_be_read_waits_for_the_next_tick() -> None:
    """An ARM outage: the failed split read is logged and the rollout left as it is, with no
    full read after it (which would fail too) and no failure recorded on it."""
    w = make_world()
    w.engine.on_model_registered(w.model())
    w.engine.act("fraud", "pause", "looking at it", "ana")
    w.endpoints.fail_op["get_split"] = [TransientUpstreamError("ARM 503")]
    before = len(w.endpoints.calls)
    w.tick(60)
    assert [c for c in w.endpoints.calls[before:] if c[1] == "fraud"] == [("get_split", "fraud")]
    active = w.store.read("fraud").active
    assert active is not None and active.paused and not active.failure


class _SlowEngine:
    """A reconciler whose every reconcile costs 100 s of a fake clock, over busy slots (each
    holds unsent events: busy without a rollout)."""

    def __init__(self, endpoints: list[str]) -> None:
        self.now = 0.0
        self.reconciled: list[str] = []
        outbox = (OutboxEvent("id", "T", "s", {}),)
        slots = {e: Slot(e, outbox=outbox, etag="1") for e in endpoints}
        entries = [IndexEntry(e, None, "1") for e in endpoints]
        self.store = SimpleNamespace(active_index=lambda: list(entries), read=slots.__getitem__)

    def clock(self) -> float:
        return self.now

    def prefetch(self, slots: object) -> dict[str, list[Minute]]:
        return {}

    def reconcile_slot(
        self, endpoint: str, prefetched: object, slot: object = None, listed_since: object = None
    ) -> ReconcileOutcome:
        self.reconciled.append(endpoint)
        self.now += 100.0
        return ReconcileOutcome(endpoint, None, None, None, False)


def test_a_tick_starts_no_reconcile_past_its_deadline_and_the_next_tick_takes_those_first() -> None:
    engine = _SlowEngine(["a", "b", "c", "d", "e"])
    pool = TickPool(1, deadline_s=TICK_DEADLINE_S, clock=engine.clock)
    first = pool.run(engine)  # type: ignore[arg-type]
    assert [o.endpoint for o in first] == ["a", "b", "c"]  # 0, 100, 200 s: then 300 >= 240
    engine.reconciled.clear()
    pool.run(engine)  # type: ignore[arg-type]
    assert engine.reconciled[:2] == ["d", "e"]  # left last time: first now
