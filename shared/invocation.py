"""Log lines from the app's own threads, kept with the invocation that started them.

The Functions Python worker sends a log record to the host with the invocation id it finds in
a thread-local, which it sets only on the thread that runs the function; the host drops a log
whose id matches no running invocation (azure-functions-python-worker ``dispatcher.py``,
``get_current_invocation_id``; azure-functions-host ``GrpcWorkerChannel.cs``, "Ignoring
RpcLog"). So what the reconcile pool, the scoring pool or a chat sender logs never reaches
Application Insights unless that thread carries the id too: azure-functions documents
``Context.thread_local_storage.invocation_id`` for it ("Enables logging from user threads when
set to the current context's invocation ID", ``azure/functions/_abc.py``).

A handler binds its invocation (:func:`bound`); a pool created while it runs takes
:func:`pool_initializer` (its threads log as that invocation, and pools they create in turn do
too); a notice queued meanwhile keeps :func:`current` to stamp its sender thread before it
posts. Without a bound invocation (tests, tools) all of this does nothing. No Functions import:
the context is anything with ``invocation_id`` and ``thread_local_storage``.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger("autocanary")


class Stamp:
    """Sets (``__call__``) or clears (:meth:`clear`) one invocation's id on this thread."""

    __slots__ = ("invocation_id", "storage")

    def __init__(self, invocation_id: str, storage: Any) -> None:
        self.invocation_id = invocation_id
        self.storage = storage

    def __call__(self) -> None:
        self._set(self.invocation_id)

    def clear(self) -> None:
        self._set(None)

    def _set(self, value: str | None) -> None:
        try:
            self.storage.invocation_id = value
        except Exception:  # a log line is never worth failing the work over
            log.debug("could not set the invocation id on this thread", exc_info=True)


_stamp: contextvars.ContextVar[Stamp | None] = contextvars.ContextVar(
    "autocanary_invocation_stamp", default=None
)
# the stamp last applied on this thread by stamp_here (a long-lived thread clears it)
_applied = threading.local()


def _stamp_for(context: Any) -> Stamp | None:
    invocation_id = getattr(context, "invocation_id", None)
    storage = getattr(context, "thread_local_storage", None)
    if not invocation_id or storage is None:
        return None
    return Stamp(str(invocation_id), storage)


@contextmanager
def bound(context: Any) -> Iterator[None]:
    """While the block runs, threads started through this module log as ``context``'s
    invocation (the function's own thread already does)."""
    token = _stamp.set(_stamp_for(context))
    try:
        yield
    finally:
        _stamp.reset(token)


def current() -> Stamp | None:
    """The stamp of the invocation bound on this thread (None when none is)."""
    return _stamp.get()


def pool_initializer() -> Callable[[], None] | None:
    """``ThreadPoolExecutor(initializer=...)``: each of the pool's threads logs as the
    invocation bound where the pool is made, and carries it to pools it makes itself."""
    stamp = _stamp.get()
    if stamp is None:
        return None

    def init() -> None:
        _stamp.set(stamp)
        stamp()

    return init


def stamp_here(stamp: Stamp | None) -> None:
    """Make this thread log as ``stamp``'s invocation, or as none (a long-lived thread, per
    item: an item queued outside any invocation must not log as the one before it)."""
    previous: Stamp | None = getattr(_applied, "stamp", None)
    if stamp is None and previous is not None:
        previous.clear()
    _applied.stamp = stamp
    _stamp.set(stamp)
    if stamp is not None:
        stamp()
