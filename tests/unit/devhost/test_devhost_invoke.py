"""devhost keeps the app's log lines as the Functions host does: only those written on a thread
that carries a running invocation's id (the function's own thread, or one the app stamped)."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import azure.functions as func

from devhost.bindings import FunctionSpec
from devhost.invoke import HostLogFilter, Invoker
from shared import invocation


def _spec(fn: Any) -> FunctionSpec:
    return FunctionSpec(
        name="tick",
        trigger_type="timerTrigger",
        trigger_arg="timer",
        user_function=fn,
        is_async=False,
        wants_context=True,
        binding={},
    )


def test_lines_from_an_unstamped_thread_are_dropped_and_stamped_ones_kept() -> None:
    filt = HostLogFilter()
    kept: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if filt.filter(record):
                kept.append(record.getMessage())

    logger = logging.getLogger("autocanary.test_devhost")
    logger.addHandler(handler := Keep())
    logger.setLevel(logging.INFO)
    stamp_seen: list[invocation.Stamp | None] = []

    def function(timer: Any, context: func.Context) -> None:
        logger.info("on the function's thread")
        bare = threading.Thread(target=lambda: logger.info("on a bare thread"))
        bare.start()
        bare.join()
        with invocation.bound(context):
            stamp = invocation.current()
        stamp_seen.append(stamp)
        carried = threading.Thread(
            target=lambda: (invocation.stamp_here(stamp), logger.info("on a stamped thread"))
        )
        carried.start()
        carried.join()

    invoker = Invoker(".")
    try:
        asyncio.run(invoker.call(_spec(function), None, "test"))
        late = threading.Thread(  # stamped, but its invocation has ended: dropped too
            target=lambda: (invocation.stamp_here(stamp_seen[0]), logger.info("too late"))
        )
        late.start()
        late.join()
    finally:
        invoker.shutdown()
        logger.removeHandler(handler)
    assert kept == ["on the function's thread", "on a stamped thread"]
    assert filt.dropped == 2
    assert filt.filter(logging.LogRecord("devhost", logging.INFO, "", 0, "own", None, None))
