"""Concurrent writers against the RolloutStore (fake and Table Storage on Azurite): the ETag and
the event inbox, not luck, keep exactly-once creation and every transition."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TypeVar

import pytest

from shared.azure.tables import TableRolloutStore
from shared.errors import DuplicateEvent, StaleState
from shared.fakes.store import InMemoryRolloutStore
from shared.model import DecisionRecord, ModelRef, Phase, Rollout
from shared.policy import RolloutPolicy
from shared.ports import RolloutQuery, RolloutStore, SlotWrite
from shared.store_plan import retry_on_stale

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WORKERS = 8
ENDPOINTS = 100
TRANSITIONS_PER_WORKER = 20
R = TypeVar("R")
DEADLINE = 120.0  # seconds any whole scenario may take before the test fails


@pytest.fixture(params=["fake", "table"])
def store(request: pytest.FixtureRequest) -> Iterator[RolloutStore]:
    if request.param == "fake":
        yield InMemoryRolloutStore()
        return
    table = TableRolloutStore.from_connection_string(
        request.getfixturevalue("azurite"), request.getfixturevalue("table_name")
    )
    try:
        yield table
    finally:
        table.close()


def rollout(rid: str, endpoint: str, event_id: str = "", message: str = "") -> Rollout:
    return Rollout(
        id=rid,
        endpoint=endpoint,
        model=ModelRef("fraud", "2", event_id=event_id),
        policy=RolloutPolicy(endpoint=endpoint),
        phase=Phase.PENDING,
        baseline="blue",
        canary="fraud-v2",
        created_at=T0,
        phase_since=T0,
        message=message,
    )


def run_all(workers: int, fn: Callable[[int], R]) -> list[R]:
    """Run fn(0..workers-1) on threads released together; fail if any overruns DEADLINE."""
    barrier = threading.Barrier(workers)

    def released(i: int) -> R:
        barrier.wait(timeout=DEADLINE)
        return fn(i)

    with ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(released, i) for i in range(workers)]
        return [f.result(timeout=DEADLINE) for f in futures]


def test_ten_deliveries_of_one_event_create_exactly_one_rollout(store: RolloutStore) -> None:
    event_id = "evt-model-registered-42"

    def deliver(i: int) -> str:
        # The rollout id comes from the event (as the service derives it); the message tells
        # the deliveries apart.
        def attempt() -> str:
            before = store.read("ep-1")
            new = rollout("r-evt-42", "ep-1", event_id, message=f"delivery {i}")
            store.write(before, SlotWrite(active=new, waiting=None, event_id=event_id))
            return f"created {i}"

        try:
            return retry_on_stale(attempt, attempts=50)
        except DuplicateEvent:
            return "duplicate"

    outcomes = run_all(10, deliver)

    created = [o for o in outcomes if o.startswith("created")]
    assert len(created) == 1 and outcomes.count("duplicate") == 9
    winner = created[0].split()[1]
    rollouts = store.list_rollouts(RolloutQuery())
    assert [(r.id, r.message) for r in rollouts] == [("r-evt-42", f"delivery {winner}")]
    slot = store.read("ep-1")
    assert slot.active == rollouts[0] and store.event_seen("ep-1", event_id)


def test_concurrent_reconcilers_apply_every_transition_exactly_once(store: RolloutStore) -> None:
    endpoints = [f"ep-{i:03d}" for i in range(ENDPOINTS)]
    for ep in endpoints:
        store.write(store.read(ep), SlotWrite(active=rollout(f"r-{ep}", ep), waiting=None))
    stale = Counter[int]()

    def transition(endpoint: str, worker: int) -> int:
        """One reconcile: read, advance seq by one, record the decision; returns the seq."""
        before = store.read(endpoint)
        current = before.active
        assert current is not None
        nxt = current.evolve(seq=current.seq + 1, updated_at=T0 + timedelta(seconds=worker))
        record = DecisionRecord(
            seq=nxt.seq,
            at=T0,
            rollout_id=nxt.id,
            phase_from=current.phase,
            phase_to=nxt.phase,
            stage_from=current.stage,
            stage_to=nxt.stage,
            reason="Tick",
            message=f"worker {worker}",
        )
        try:
            store.write(
                before, SlotWrite(active=nxt, waiting=None, rollouts=(nxt,), decisions=(record,))
            )
        except StaleState:
            stale[worker] += 1
            raise
        return nxt.seq

    def reconciler(worker: int) -> Counter[str]:
        done = Counter[str]()
        rng = random.Random(worker)
        # Every fourth transition goes to one hot endpoint that all workers fight over; the rest
        # spread over the other endpoints at random (seeded).
        for step in range(TRANSITIONS_PER_WORKER):
            ep = endpoints[0] if step % 4 == 0 else rng.choice(endpoints[1:])
            retry_on_stale(partial(transition, ep, worker), attempts=200)
            done[ep] += 1
        return done

    results = run_all(WORKERS, reconciler)

    applied: Counter[str] = Counter()
    for counts in results:
        applied.update(counts)
    assert sum(applied.values()) == WORKERS * TRANSITIONS_PER_WORKER
    for ep in endpoints:
        slot = store.read(ep)
        assert slot.active is not None and slot.active.seq == applied[ep]
        seqs = [d.seq for d in store.decisions(ep, f"r-{ep}")]
        assert seqs == list(range(1, applied[ep] + 1))
    rows = {r.endpoint: r.seq for r in store.list_rollouts(RolloutQuery(limit=ENDPOINTS))}
    assert rows == {ep: applied[ep] for ep in endpoints}
    print(f"hot endpoint: {applied[endpoints[0]]} transitions, {sum(stale.values())} stale retries")
