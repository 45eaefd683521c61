"""A time budget for the work under way in this context: how long waits may still take.

An alert's webhook call is answered while the action group waits for it, about 10 s (Azure
Monitor: "The webhook response timeout period is 10 seconds", MicrosoftDocs/azure-docs
``articles/azure-monitor/alerts/alerts-troubleshoot.md``, quoted in azure-docs issue 116611);
an answer later than that counts as a failure, is retried while the first call still runs,
and after the retries the action group calls no webhook for 15 minutes (``action-groups.md``).
The waits of the calls to Azure (a busy endpoint, a traffic update's operation, retries)
would hold it for up to a minute, so the alert path sets a budget (:func:`within`) and every
wait takes at most what is left (:func:`capped`): the traffic update is then sent, and the
timer sees it land. No budget set: waits are as configured. Pure: ``time.monotonic`` only.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_until: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "autocanary_deadline", default=None
)


@contextmanager
def within(seconds: float, clock: Callable[[], float] = time.monotonic) -> Iterator[None]:
    """While the block runs, waits end ``seconds`` from now at the latest (or earlier, when
    an enclosing budget ends first)."""
    if seconds < 0:
        raise ValueError("a budget must not be negative")
    until = clock() + seconds
    outer = _until.get()
    token = _until.set(until if outer is None else min(outer, until))
    try:
        yield
    finally:
        _until.reset(token)


def left(clock: Callable[[], float] = time.monotonic) -> float | None:
    """Seconds left in the budget (0 once spent), None when no budget is set."""
    until = _until.get()
    return None if until is None else max(0.0, until - clock())


def capped(seconds: float, clock: Callable[[], float] = time.monotonic) -> float:
    """``seconds``, or what is left of the budget when that is less."""
    remaining = left(clock)
    return seconds if remaining is None else min(seconds, remaining)
