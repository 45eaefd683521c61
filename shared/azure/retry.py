"""Bounded retries shared by the Azure adapters (what an error means to autocanary is
:mod:`shared.azure.error_map`).

Transient failures (HTTP 408, 429, 5xx; connection errors and timeouts) are retried with
exponential backoff and full jitter (sleep ``uniform(0, min(max_delay, base_delay * 2**n))``,
raised to a ``Retry-After`` the service sent), bounded both in attempts and in total sleep, and
end as :class:`~shared.errors.TransientUpstreamError`. Everything else fails at once, mapped by
:func:`shared.azure.error_map.map_error` (404 NotFound, a 400 about traffic
AzureRuleViolation, any other service error UpstreamError, each with Azure's codes).

409 Conflict is transient but not retried here: Azure ML answers it while another operation on
the same endpoint or deployment is in progress ("Cannot create a deployment in endpoint X
because it is in Updating provisioning state", azure-sdk-for-net issue 36961), which lasts from
seconds (a traffic update) to 15 minutes (a deployment create), far beyond a call's retry
budget. It ends at once as :class:`~shared.errors.AzureBusy` (a TransientUpstreamError) and the
engine re-issues its idempotent effect on a later tick. Where a caller is worth waiting for
(a traffic update, which an alert's rollback needs before the webhook answers),
:func:`until_free` calls again while the answer is AzureBusy, within a budget of seconds,
each wait the 409's ``Retry-After`` when it sent one.

Throttling slows callers down rather than failing them. A :class:`Pacer` shared by every call
made as one principal gates them: a 429 holds every caller until its Retry-After has passed,
and when ARM's ``x-ms-ratelimit-remaining-subscription-reads`` (read from each response by
:func:`throttle_policy`, an azure-core per-call policy) runs low, calls are spaced at the
bucket's refill rate. ARM's read limit is a token bucket of 250 refilled at 25 a second per
principal and subscription (learn.microsoft.com/azure/azure-resource-manager/management/
request-limits-and-throttling). With ``RetryPolicy.throttle_budget`` set, throttled answers
are retried within that budget of waiting, apart from ``attempts`` and ``budget``.

The SDK clients are built with their own retry policy off (``retry_total=0``), so that this is
the only retry loop. azure.core is imported lazily, inside the functions.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from shared import deadline
from shared.azure.error_map import (
    header,
    is_service_error,
    is_transient,
    map_error,
    retry_after,
    status_of,
)
from shared.errors import (
    AutocanaryError,
    AzureBusy,
    TransientUpstreamError,
)

T = TypeVar("T")
# a call through the one retry loop, as the adapters pass it on: call(fn, what) -> fn()'s value
Call = Callable[[Callable[[], T], str], T]
log = logging.getLogger("autocanary.azure")


# The options every SDK client of the adapters is built with: no SDK retries (this module is
# the retry loop), and bounded socket timeouts instead of azure-core's 300 s defaults.
# azure-core RetryPolicy and RequestsTransport read these keywords (Azure/azure-sdk-for-python
# sdk/core/azure-core/azure/core/pipeline/policies/_retry.py, transport/_requests_basic.py).
SDK_OPTIONS: dict[str, Any] = {"retry_total": 0, "connection_timeout": 10, "read_timeout": 60}


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry: at most ``attempts`` calls and ``budget`` seconds of
    sleep in all (a wait that would overrun the budget is not started)."""

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 4.0
    budget: float = 10.0
    throttle_budget: float | None = None  # seconds of waiting on 429s, counted apart

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.budget < 0:
            raise ValueError("delays and budget must not be negative")
        if self.throttle_budget is not None and self.throttle_budget < 0:
            raise ValueError("throttle_budget must not be negative")


ARM_READS_HEADER = "x-ms-ratelimit-remaining-subscription-reads"
ARM_REFILL_PER_S = 25.0
ARM_LOW_WATER = 50
MAX_THROTTLED_RETRIES = 16


class Pacer:
    """Gates the calls of one principal: after a 429 none starts before its Retry-After has
    passed; while the remaining ARM reads are under ``low_water`` calls start at most
    ``refill_per_s`` a second. Thread safe; ``clock`` is monotonic seconds."""

    def __init__(
        self,
        *,
        refill_per_s: float = ARM_REFILL_PER_S,
        low_water: int = ARM_LOW_WATER,
        max_hold: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if refill_per_s <= 0 or low_water < 0 or max_hold < 0:
            raise ValueError("refill_per_s must be positive; low_water, max_hold not negative")
        self._refill = refill_per_s
        self._low = low_water
        self._max_hold = max_hold
        self._clock = clock
        self._lock = threading.Lock()
        self._gate = 0.0  # no call starts before this
        self._next_slot = 0.0  # the next spaced start, while pacing
        self._pacing = False
        self.holds = 0  # times a 429 held the callers (for logs and benchmarks)

    def hold(self, seconds: float) -> None:
        """A throttled answer: no call starts for ``seconds`` (at most ``max_hold``)."""
        with self._lock:
            self._gate = max(self._gate, self._clock() + min(max(0.0, seconds), self._max_hold))
            self.holds += 1

    def note_remaining(self, remaining: int) -> None:
        """ARM's count of reads left in the bucket, from a response header."""
        with self._lock:
            self._pacing = remaining < self._low

    def delay(self) -> float:
        """Reserve a start and return how long to wait for it."""
        with self._lock:
            now = self._clock()
            start = max(now, self._gate)
            if self._pacing:
                start = max(start, self._next_slot)
                self._next_slot = start + 1.0 / self._refill
            return start - now

    def wait(self, sleep: Callable[[float], None] = time.sleep) -> float:
        """Wait for this caller's start. Under a budget (``shared.deadline``: an alert's call)
        a start later than the budget allows is not waited for: TransientUpstreamError (the
        webhook is answered 503 in time, and the action group sends the alert again)."""
        seconds = self.delay()
        if seconds > 0 and _past_deadline(seconds):
            raise TransientUpstreamError(
                f"Azure Resource Manager is throttling this app for {seconds:.0f} s more",
                details={"retry_after": round(seconds, 3)},
            )
        if seconds > 0:
            sleep(seconds)
        return seconds

    def observe(self, headers: Mapping[str, str] | None) -> None:
        if not headers:
            return
        value = header(headers, ARM_READS_HEADER)
        if value is not None and value.strip().isdigit():
            self.note_remaining(int(value.strip()))


def throttle_policy(pacer: Pacer) -> Any:
    """An azure-core per-call policy feeding ``pacer`` the throttling headers of every response
    (``per_call_policies=[...]`` of an SDK client; azure-core's PipelineClient takes it,
    sdk/core/azure-core/azure/core/_pipeline_client.py, and MLClient passes its keywords to
    each of its service clients, azure-ai-ml azure/ai/ml/_ml_client.py)."""
    from azure.core.pipeline.policies import SansIOHTTPPolicy

    class ThrottleHeaders(SansIOHTTPPolicy):  # type: ignore[type-arg]
        def on_response(self, request: Any, response: Any) -> None:
            pacer.observe(getattr(response.http_response, "headers", None))

    return ThrottleHeaders()


# Every ARM call of this process is made as the app's one identity.
ARM_PACER = Pacer()

DEFAULT_RETRY = RetryPolicy(throttle_budget=45.0)
NO_RETRY = RetryPolicy(attempts=1, budget=0.0)


def call(
    fn: Callable[[], T],
    what: str,
    *,
    policy: RetryPolicy = DEFAULT_RETRY,
    sleep: Callable[[float], None] = time.sleep,
    rand: Callable[[], float] = random.random,
    map_errors: bool = True,
    pacer: Pacer | None = None,
    transient: Callable[[BaseException], bool] | None = None,
) -> T:
    """Call ``fn`` and retry transient failures under ``policy``.

    ``what`` names the operation in messages (``"get endpoint fraud"``). With ``map_errors``
    the final failure is raised as an :class:`AutocanaryError` (see
    :func:`shared.azure.error_map.map_error`); without
    it the SDK exception itself is re-raised, for callers that inspect it. With a ``pacer``
    each attempt first waits for its gate, and a 429 holds every caller of that pacer.
    ``transient`` replaces :func:`is_transient` for a service whose answers mean otherwise
    (Table Storage's 409 is an entity that exists, never worth retrying).
    """
    retryable = transient or is_transient
    waits = deadline.capped(policy.budget)  # within the budget of the work under way, if any
    slept = 0.0
    throttled = 0.0
    throttles = 0
    attempt = 0
    while True:
        attempt += 1
        if pacer is not None:
            pacer.wait(sleep)
        try:
            return fn()
        except AutocanaryError:
            raise
        except Exception as exc:
            if not is_service_error(exc):
                raise  # a bug, not an answer from Azure: surface it as it is
            if status_of(exc) == 429 and policy.throttle_budget is not None:
                wait = backoff(attempt, policy, rand, retry_after(exc))
                fits = throttled + wait <= policy.throttle_budget and not _past_deadline(wait)
                if fits and throttles < MAX_THROTTLED_RETRIES:
                    # Throttled: slow down (every caller of the pacer with us), never fail
                    # while the throttle budget lasts; attempts and budget are not spent.
                    log.info("%s: throttled; waiting %.2f s", what, wait)
                    throttled += wait
                    throttles += 1
                    attempt -= 1
                    if pacer is not None:
                        pacer.hold(wait)
                    else:
                        sleep(wait)
                    continue
            if not retryable(exc) or attempt >= policy.attempts:
                if retryable(exc):
                    log.warning("%s: giving up after %d attempt(s): %s", what, attempt, exc)
                if map_errors:
                    raise map_error(exc, what, attempts=attempt) from exc
                raise
            delay = backoff(attempt, policy, rand, retry_after(exc))
            if slept + delay > waits or _past_deadline(delay):
                log.warning("%s: retry budget spent after %d attempt(s): %s", what, attempt, exc)
                if map_errors:
                    raise map_error(exc, what, attempts=attempt) from exc
                raise
            log.info("%s: transient failure (%s); retry %d in %.2f s", what, exc, attempt, delay)
            sleep(delay)
            slept += delay


BUSY_BASE_DELAY = 1.0
BUSY_MAX_DELAY = 5.0


def until_free(
    fn: Callable[[], T],
    what: str,
    *,
    budget: float,
    sleep: Callable[[float], None] = time.sleep,
    rand: Callable[[], float] = random.random,
) -> T:
    """Call ``fn`` (which raises mapped errors, e.g. one made of :func:`call`) again while it
    raises :class:`~shared.errors.AzureBusy`, waiting at most ``budget`` seconds in all: each
    wait is the 409's Retry-After (``details["retry_after"]``) when Azure sent one, else a
    jittered backoff (1 s doubling, at most 5 s). A wait that would overrun the budget is not
    started: the last AzureBusy is raised."""
    budget = deadline.capped(budget)  # an alert's call: at most what its budget has left
    policy = RetryPolicy(base_delay=BUSY_BASE_DELAY, max_delay=BUSY_MAX_DELAY, budget=budget)
    waited = 0.0
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except AzureBusy as exc:
            hint = exc.details.get("retry_after")
            wait = backoff(attempt, policy, rand, hint if isinstance(hint, int | float) else None)
            if waited + wait > budget or _past_deadline(wait):
                raise
            log.info("%s: Azure is busy (%s); trying again in %.2f s", what, exc.message, wait)
            sleep(wait)
            waited += wait


def _past_deadline(wait: float) -> bool:
    """Whether a wait would outlast the budget of the work under way (``shared.deadline``:
    an alert's webhook call): then it is not started, and the failure is raised."""
    remaining = deadline.left()
    return remaining is not None and wait > remaining


def backoff(
    attempt: int,
    policy: RetryPolicy,
    rand: Callable[[], float] = random.random,
    retry_after_s: float | None = None,
) -> float:
    """The wait after failed attempt ``attempt`` (1-based): full jitter over the exponential
    cap, never shorter than the service's Retry-After."""
    cap = min(policy.max_delay, policy.base_delay * 2.0 ** (attempt - 1))
    delay = float(rand()) * cap
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return delay


class LazyClient:
    """An SDK client built on first use, once per instance, thread-safe: the SDKs are heavy to
    import and to construct, so nothing is built before the first call needs it."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._client: Any = None
        self._lock = threading.Lock()

    def get(self) -> Any:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._factory()
                client = self._client
        return client
