"""Log lines of the app's own threads carry the invocation id the Functions host keeps them by
(shared.invocation): the worker sets it only on the function's thread, and the host drops a
log line whose id matches no running invocation."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

from shared import invocation
from shared.notify.dispatch import Notifications
from tests.unit.notify.test_dispatch import book, notice
from tests.unit.test_engine_tick import held_world


class Seen(logging.Handler):
    """What the worker would send: each autocanary record with its thread's invocation id."""

    def __init__(self, storage: threading.local) -> None:
        super().__init__()
        self.storage = storage
        self.records: list[tuple[str, str | None]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("autocanary"):
            self.records.append((record.getMessage(), getattr(self.storage, "invocation_id", None)))


def context(storage: threading.local, invocation_id: str = "inv-1") -> Any:
    return SimpleNamespace(invocation_id=invocation_id, thread_local_storage=storage)


def test_pools_made_while_bound_and_the_pools_they_make_log_as_the_invocation() -> None:
    storage = threading.local()

    def inner() -> str | None:
        return getattr(storage, "invocation_id", None)

    def outer() -> list[str | None]:
        with ThreadPoolExecutor(2, initializer=invocation.pool_initializer()) as pool:
            return [getattr(storage, "invocation_id", None), *pool.map(lambda _: inner(), [1, 2])]

    # the pool's initializer is taken once the invocation is bound (left to right)
    with (
        invocation.bound(context(storage)),
        ThreadPoolExecutor(2, initializer=invocation.pool_initializer()) as pool,
    ):
        seen = list(pool.map(lambda _: outer(), [1, 2]))
    assert seen == [["inv-1", "inv-1", "inv-1"]] * 2
    # unbound (tests, tools): nothing is set
    with ThreadPoolExecutor(1, initializer=invocation.pool_initializer()) as pool:
        assert pool.submit(inner).result() is None


def test_a_ticks_reconcile_pool_logs_as_the_timer_invocation() -> None:
    """A store read failing in the reconcile pool is logged there: with the timer's invocation
    bound, the line carries its id (before, none: the host dropped it)."""
    w, store = held_world()
    storage = threading.local()
    seen = Seen(storage)
    logger = logging.getLogger("autocanary")
    logger.addHandler(seen)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    real_read = store.read

    def failing_read(endpoint: str) -> Any:
        if threading.current_thread().name.startswith("reconcile"):
            raise RuntimeError(f"cannot read {endpoint}")
        return real_read(endpoint)

    store.read = failing_read  # type: ignore[method-assign]
    try:
        with invocation.bound(context(storage, "timer-7")):
            w.engine.reconcile_all()
    finally:
        logger.removeHandler(seen)
        logger.setLevel(old_level)
        store.read = real_read  # type: ignore[method-assign]
    pooled = [(m, i) for m, i in seen.records if m.startswith("reading the slot of")]
    assert pooled, seen.records
    assert {i for _, i in pooled} == {"timer-7"}


def test_a_notice_is_posted_and_its_failure_logged_as_the_invocation_that_queued_it() -> None:
    storage = threading.local()
    seen = Seen(storage)
    logger = logging.getLogger("autocanary.notify")
    logger.addHandler(seen)
    # other tests in the same process may have quietened or disabled it
    old_level, old_disabled = logger.level, logger.disabled
    logger.setLevel(logging.INFO)
    logger.disabled = False
    posted: list[str | None] = []

    class Failing:
        def post(self, channel: Any, payload: Any) -> None:
            posted.append(getattr(storage, "invocation_id", None))
            raise RuntimeError("webhook down")

    notes = Notifications(Failing(), book("slack"))  # type: ignore[arg-type]
    try:
        with invocation.bound(context(storage, "alert-3")):
            notes.send(notice(1))
        assert notes.drain(5.0)
    finally:
        notes.close()
        logger.removeHandler(seen)
        logger.setLevel(old_level)
        logger.disabled = old_disabled
    assert posted == ["alert-3"]
    assert [i for m, i in seen.records if "webhook down" in m] == ["alert-3"]


def test_a_notice_queued_outside_any_invocation_is_not_posted_as_the_one_before() -> None:
    """The sender thread lives on: after a tick's notice, one an alert queued (no context
    bound) is posted with no invocation id, not the tick's."""
    storage = threading.local()
    posted: list[str | None] = []

    class Recording:
        def post(self, channel: Any, payload: Any) -> None:
            posted.append(getattr(storage, "invocation_id", None))

    notes = Notifications(Recording(), book("slack"))  # type: ignore[arg-type]
    try:
        with invocation.bound(context(storage, "timer-1")):
            notes.send(notice(1))
        assert notes.drain(5.0)
        notes.send(notice(2))
        assert notes.drain(5.0)
    finally:
        notes.close()
    assert posted == ["timer-1", None]
