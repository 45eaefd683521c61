"""Calling user functions the way the Python worker does, and logging each invocation.

Synchronous functions run in a thread pool (size from ``PYTHON_THREADPOOL_THREAD_COUNT``
when set, else Python's default), coroutine functions are awaited on the event loop. A
function that declares a ``context`` parameter gets an ``azure.functions.Context``.
Every invocation is logged at INFO with its function, trigger, duration and outcome.

Log lines as strict as the host: the worker tags a log record with the invocation id it finds
in a thread-local it sets only on the thread running the function, and the host drops a line
whose id matches no running invocation (azure-functions-python-worker ``dispatcher.py``
``get_current_invocation_id``; azure-functions-host ``GrpcWorkerChannel.cs``, "Ignoring
RpcLog"). :class:`HostLogFilter` drops the app's (``autocanary``) lines the same way, so a
thread of the app's that does not carry the invocation (``shared.invocation``) loses its lines
here as it would in Azure; devhost's own lines are kept.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import azure.functions as func
from azure.functions import _abc as func_abc

from devhost.bindings import FunctionSpec

log = logging.getLogger("devhost.invocations")

T = TypeVar("T")


class InvocationFailed(Exception):
    """The user function raised (or returned something its output binding cannot encode)."""

    def __init__(self, function: str, cause: BaseException) -> None:
        super().__init__(f"function {function!r} failed: {type(cause).__name__}: {cause}")
        self.function = function
        self.cause = cause


class _TraceContext(func_abc.TraceContext):
    def __init__(self) -> None:
        self._parent = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-00"

    @property
    def trace_state(self) -> str:
        return ""

    @property
    def trace_parent(self) -> str:
        return self._parent

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class _RetryContext(func_abc.RetryContext):
    @property
    def retry_count(self) -> int:
        return 0

    @property
    def max_retry_count(self) -> int:
        return 0

    @property
    def exception(self) -> func_abc.RpcException:
        raise AttributeError("no retry exception: devhost does not retry invocations")


class DevContext(func.Context):
    """``azure.functions.Context`` for one invocation."""

    _local = threading.local()

    def __init__(self, invocation_id: str, function_name: str, directory: str) -> None:
        self._invocation_id = invocation_id
        self._function_name = function_name
        self._directory = directory
        self._trace = _TraceContext()
        self._retry = _RetryContext()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return self._local

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._directory

    @property
    def trace_context(self) -> func_abc.TraceContext:
        return self._trace

    @property
    def retry_context(self) -> func_abc.RetryContext:
        return self._retry


def _pool_size() -> int | None:
    raw = os.environ.get("PYTHON_THREADPOOL_THREAD_COUNT")
    if not raw:
        return None
    try:
        size = int(raw)
    except ValueError:
        log.warning("PYTHON_THREADPOOL_THREAD_COUNT=%r is not a number: using the default", raw)
        return None
    return size if size > 0 else None


_running: set[str] = set()
_running_lock = threading.Lock()


class HostLogFilter(logging.Filter):
    """Drops the app's log lines written on a thread that carries no running invocation's id
    (see the module docstring); counts them in ``dropped``."""

    def __init__(self, prefix: str = "autocanary") -> None:
        super().__init__()
        self.prefix = prefix
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if not (record.name == self.prefix or record.name.startswith(self.prefix + ".")):
            return True
        invocation_id = getattr(DevContext._local, "invocation_id", None)
        with _running_lock:
            kept = invocation_id in _running
        if not kept:
            self.dropped += 1
        return kept


class Invoker:
    """Runs user functions; one per host."""

    def __init__(self, app_directory: str) -> None:
        self._pool = ThreadPoolExecutor(max_workers=_pool_size(), thread_name_prefix="devhost-fn")
        self._directory = app_directory
        self._busy = 0
        self._busy_lock = threading.Lock()

    @property
    def busy_threads(self) -> int:
        """Synchronous functions still running in the pool (they cannot be cancelled)."""
        with self._busy_lock:
            return self._busy

    def _in_thread(self, fn: Callable[..., Any], kwargs: dict[str, Any], invocation_id: str) -> Any:
        with self._busy_lock:
            self._busy += 1
        DevContext._local.invocation_id = invocation_id  # as the worker does, on this thread
        try:
            return fn(**kwargs)
        finally:
            with self._busy_lock:
                self._busy -= 1

    async def call(
        self,
        spec: FunctionSpec,
        trigger_value: Any,
        reason: str,
        convert: Callable[[Any], T] | None = None,
    ) -> T | Any:
        """Invoke ``spec`` with its trigger value; ``convert`` encodes the return value.

        Raises InvocationFailed when the function (or ``convert``) raises; the traceback is
        logged here and nowhere else.
        """
        invocation_id = str(uuid.uuid4())
        kwargs: dict[str, Any] = {spec.trigger_arg: trigger_value}
        if spec.wants_context:
            kwargs["context"] = DevContext(invocation_id, spec.name, self._directory)
        log.debug("Executing 'Functions.%s' (Reason=%s, Id=%s)", spec.name, reason, invocation_id)
        started = time.perf_counter()
        outcome = "Failed"
        with _running_lock:
            _running.add(invocation_id)
        try:
            if spec.is_async:
                result = await spec.user_function(**kwargs)
            else:
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(
                    self._pool, self._in_thread, spec.user_function, kwargs, invocation_id
                )
            value = convert(result) if convert is not None else result
            outcome = "Succeeded"
            return value
        except asyncio.CancelledError:
            outcome = "Cancelled"
            raise
        except Exception as exc:
            log.error(
                "Function '%s' (Id=%s) raised %s: %s",
                spec.name,
                invocation_id,
                type(exc).__name__,
                exc,
                exc_info=exc,
            )
            raise InvocationFailed(spec.name, exc) from exc
        finally:
            with _running_lock:
                _running.discard(invocation_id)
            log.info(
                "Executed 'Functions.%s' (%s, trigger=%s, reason=%s, Id=%s, Duration=%.1fms)",
                spec.name,
                outcome,
                spec.trigger_type,
                reason,
                invocation_id,
                (time.perf_counter() - started) * 1000.0,
            )

    def shutdown(self) -> None:
        """Stop taking work; threads still running a function are not waited for."""
        self._pool.shutdown(wait=False, cancel_futures=True)
