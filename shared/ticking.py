"""One reconcile tick over every active endpoint: the worker pool, its size, and the outcome of
each endpoint's reconcile.

The tick reads each indexed slot once in the pool, fetches the metrics of every judgeable
rollout in batches, then reconciles each endpoint from the slot it read (the engine's
``reconcile_slot``). The pool is sized from the seconds a rollout has cost a worker in earlier
ticks, so that a tick finishes well inside its one-minute schedule.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from shared import invocation
from shared.errors import AutocanaryError
from shared.judge.types import Minute
from shared.ports import IndexEntry, RolloutStore, Slot
from shared.store_index import slot_busy

log = logging.getLogger("autocanary")

# A tick aims to finish well inside its one-minute schedule: the pool is sized so that the
# per-rollout work takes about this long (at most max_concurrency workers).
TICK_TARGET_S = 5.0
# A tick starts no endpoint's reconcile after this many seconds: the ones left are reconciled
# first by the next tick (level-triggered: nothing is lost). Under the 5 min default
# functionTimeout of a Consumption plan and host.json's 10 min: a tick the host times out
# restarts the worker mid-call (learn.microsoft.com azure-functions functions-scale, "Function
# app timeout duration"), and a tick that outlasts its minute is followed at once by the next
# (TimerListener.cs), so one slow Azure call after another would otherwise hold every tick.
TICK_DEADLINE_S = 240.0
# Endpoints per metrics prefetch: Azure Monitor's metrics:getBatch takes up to 50 resources of
# one region and subscription per call (shared/azure/metrics.py BATCH_SIZE).
METRICS_BATCH = 50


@dataclass(frozen=True)
class ReconcileOutcome:
    endpoint: str
    rollout_id: str | None
    phase: str | None
    reason: str | None
    changed: bool
    error: dict[str, Any] | None = None
    # a call to Azure this step asked for failed and may succeed if asked again (the next
    # tick re-issues it; an alert's webhook answers 5xx so that Azure retries it too)
    effect_retryable: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def error_dict(exc: BaseException) -> dict[str, Any]:
    """An outcome's error: the product's own errors as they describe themselves, any other
    exception by its type and message."""
    if isinstance(exc, AutocanaryError):
        return exc.to_dict()
    return {"code": "internal_error", "message": f"{type(exc).__name__}: {exc}"}


class Reconciler(Protocol):
    """What a tick needs of the engine."""

    store: RolloutStore

    def prefetch(self, slots: Mapping[str, Slot]) -> dict[str, Sequence[Minute]]: ...

    def reconcile_slot(
        self,
        endpoint: str,
        prefetched: Mapping[str, Sequence[Minute]],
        slot: Slot | None = None,
        listed_since: float | None = None,
    ) -> ReconcileOutcome: ...


class TickPool:
    """Runs ticks with a pool sized from what earlier ticks cost."""

    def __init__(
        self,
        max_concurrency: int,
        deadline_s: float = TICK_DEADLINE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_concurrency = max(1, max_concurrency)
        self.deadline_s = deadline_s
        self._clock = clock
        self._seconds_per_rollout: float | None = None  # measured, smoothed across ticks
        self._deferred: set[str] = set()  # endpoints the last tick left for its deadline

    def pool_size(self, rollouts: int) -> int:
        """Workers for ``rollouts``: enough to finish within TICK_TARGET_S at the measured
        seconds per rollout (all of max_concurrency until measured), at most max_concurrency."""
        if rollouts <= 0:
            return 1
        per = self._seconds_per_rollout
        wanted = self.max_concurrency if per is None else math.ceil(rollouts * per / TICK_TARGET_S)
        return max(1, min(self.max_concurrency, rollouts, wanted))

    def observe(self, rollouts: int, workers: int, seconds: float) -> None:
        """Learn the seconds one rollout costs a worker from a tick that took ``seconds``
        (smoothed over ticks); :meth:`pool_size` sizes the next tick's pool from it."""
        if rollouts < 1 or workers < 1 or seconds < 0:
            return
        per = seconds * workers / rollouts
        old = self._seconds_per_rollout
        self._seconds_per_rollout = per if old is None else 0.5 * old + 0.5 * per

    def run(self, engine: Reconciler) -> list[ReconcileOutcome]:
        """One tick: every indexed endpoint reconciled (idle slots dropped from the index)."""
        entries = engine.store.active_index()
        if not entries:
            return []
        # what the last tick left for its deadline goes first (no endpoint starves)
        entries = sorted(entries, key=lambda e: e.endpoint not in self._deferred)
        workers = self.pool_size(len(entries))
        # The tick's endpoint reads may share one listing of the workspace taken since now (one
        # ARM read per endpoint, plus the listing's pages): nothing the tick decides on is older
        # than the tick. Reads outside a tick (events, alerts, operators) stay fresh.
        tick_start = time.monotonic()
        deadline = self._clock() + self.deadline_s
        deferred: set[str] = set()
        with ThreadPoolExecutor(
            max_workers=workers,
            thread_name_prefix="reconcile",
            initializer=invocation.pool_initializer(),  # its log lines reach the host
        ) as pool:
            started = time.monotonic()  # the per-rollout work (reads, reconciles) is timed
            reads = list(pool.map(lambda e: _read_safely(engine.store, e), entries))
            pooled = time.monotonic() - started
            slots = [s for s in reads if isinstance(s, Slot) and slot_busy(s)]
            # Metrics in batches of METRICS_BATCH endpoints (what one getBatch call takes),
            # fetched side by side in the pool rather than one after another.
            prefetched: dict[str, Sequence[Minute]] = {}
            groups = [
                {s.endpoint: s for s in slots[i : i + METRICS_BATCH]}
                for i in range(0, len(slots), METRICS_BATCH)
            ]
            for minutes in pool.map(engine.prefetch, groups):
                prefetched.update(minutes)
            started = time.monotonic()

            def one(pair: tuple[IndexEntry, Slot | ReconcileOutcome]) -> ReconcileOutcome | None:
                if self._clock() >= deadline:
                    deferred.add(pair[0].endpoint)
                    return None
                return _reconcile_entry(engine, pair[0], pair[1], prefetched, tick_start)

            outcomes = list(pool.map(one, zip(entries, reads, strict=True)))
            pooled += time.monotonic() - started
        self._deferred = deferred
        if deferred:
            log.warning(
                "tick deadline (%.0fs) reached: %d endpoint(s) left for the next tick, first",
                self.deadline_s,
                len(deferred),
                extra={"tick_deferred": len(deferred)},
            )
        self.observe(len(entries) - len(deferred), workers, pooled)
        return [o for o in outcomes if o is not None]


def _read_safely(store: RolloutStore, entry: IndexEntry) -> Slot | ReconcileOutcome:
    try:
        return store.read(entry.endpoint)
    except Exception as exc:
        log.exception("reading the slot of %s failed", entry.endpoint)
        return ReconcileOutcome(entry.endpoint, None, None, None, False, error_dict(exc))


def _reconcile_entry(
    engine: Reconciler,
    entry: IndexEntry,
    read: Slot | ReconcileOutcome,
    prefetched: Mapping[str, Sequence[Minute]],
    listed_since: float | None = None,
) -> ReconcileOutcome | None:
    if isinstance(read, ReconcileOutcome):
        return read
    if not slot_busy(read):
        try:
            engine.store.unindex(entry, read)  # an idle slot left in the index
        except Exception:
            log.exception("dropping %s from the index failed", entry.endpoint)
        return None
    return engine.reconcile_slot(entry.endpoint, prefetched, read, listed_since)
