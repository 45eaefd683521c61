"""Retry and backoff of shared.azure.retry (no network); the error mapping is
test_azure_error_map.py."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseTimeoutError,
)
from azure_test_helpers import http_error

from shared.azure import error_map, retry
from shared.errors import (
    AzureBusy,
    NotFound,
    TransientUpstreamError,
    UpstreamError,
)

FAST = retry.RetryPolicy(attempts=4, base_delay=0.5, max_delay=4.0, budget=10.0)


class Flaky:
    """Fails with the given exceptions, then returns "ok"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def run(fn: Any, policy: retry.RetryPolicy = FAST) -> tuple[Any, list[float]]:
    sleeps: list[float] = []
    return retry.call(fn, "op", policy=policy, sleep=sleeps.append, rand=lambda: 1.0), sleeps


@pytest.mark.parametrize(
    "error",
    [
        http_error(429, "TooManyRequests"),
        http_error(500, "InternalServerError"),
        http_error(503),
        http_error(504),
        http_error(408),
        ServiceRequestError("connection refused"),
        ServiceResponseTimeoutError("read timed out"),
        ConnectionResetError("reset by peer"),
    ],
    ids=["429", "500", "503", "504", "408", "conn", "timeout", "reset"],
)
def test_transient_errors_are_retried_until_success(error: Exception) -> None:
    """Throttling, server errors, connection errors and timeouts are retried."""
    fn = Flaky(error, error)
    result, sleeps = run(fn)
    assert result == "ok"
    assert fn.calls == 3
    assert len(sleeps) == 2


def test_a_conflict_with_a_running_operation_is_busy_at_once_not_retried() -> None:
    """409 (the resource or its endpoint is Creating/Updating) lasts minutes: no retry in the
    call, AzureBusy (transient) for the engine to re-issue on a later tick."""
    fn = Flaky(
        http_error(
            409,
            "Conflict",
            "Cannot create a deployment in endpoint ep because it is in Updating provisioning "
            "state.",
        )
    )
    with pytest.raises(AzureBusy) as info:
        run(fn)
    assert fn.calls == 1
    assert isinstance(info.value, TransientUpstreamError)
    assert info.value.details["status"] == 409


@pytest.mark.parametrize(
    "error,expected",
    [
        (http_error(400, "BadArgument"), UpstreamError),
        (http_error(403, "AuthorizationFailed", cls=ClientAuthenticationError), UpstreamError),
        (http_error(404, "ResourceNotFound", cls=ResourceNotFoundError), NotFound),
    ],
    ids=["400", "403", "404"],
)
def test_permanent_errors_fail_at_once(error: Exception, expected: type[Exception]) -> None:
    """4xx answers other than 408/429 are not retried."""
    fn = Flaky(error)
    with pytest.raises(expected):
        run(fn)
    assert fn.calls == 1


def test_persistent_outage_ends_as_transient_upstream_error_after_all_attempts() -> None:
    """After ``attempts`` calls the failure is a TransientUpstreamError keeping Azure's code."""
    fn = Flaky(*[http_error(503, "ServiceUnavailable")] * 10)
    with pytest.raises(TransientUpstreamError) as info:
        run(fn, retry.RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.01, budget=5.0))
    assert fn.calls == 4
    assert info.value.code == "ServiceUnavailable"
    assert info.value.details["attempts"] == 4
    assert info.value.details["status"] == 503


def test_backoff_is_exponential_full_jitter_capped() -> None:
    """The wait is uniform in [0, min(max_delay, base * 2^(n-1))]."""
    policy = retry.RetryPolicy(attempts=6, base_delay=0.5, max_delay=3.0, budget=100.0)
    caps = [retry.backoff(n, policy, rand=lambda: 1.0) for n in range(1, 6)]
    assert caps == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert retry.backoff(3, policy, rand=lambda: 0.0) == 0.0
    assert retry.backoff(3, policy, rand=lambda: 0.25) == 0.5


def test_retry_after_header_lengthens_the_wait() -> None:
    """A service's Retry-After (seconds or milliseconds) is honoured as the minimum wait."""
    fn = Flaky(http_error(429, "TooManyRequests", headers={"Retry-After": "2"}))
    sleeps: list[float] = []
    result = retry.call(fn, "op", policy=FAST, sleep=sleeps.append, rand=lambda: 0.0)
    assert result == "ok"
    assert sleeps == [2.0]
    assert error_map.retry_after(http_error(429, headers={"retry-after-ms": "1500"})) == 1.5


def test_retry_budget_stops_before_overrunning() -> None:
    """A wait that would take the total sleep over the budget is not started."""
    fn = Flaky(*[http_error(429, headers={"Retry-After": "3"})] * 5)
    sleeps: list[float] = []
    with pytest.raises(TransientUpstreamError):
        retry.call(
            fn,
            "op",
            policy=retry.RetryPolicy(attempts=10, budget=5.0),
            sleep=sleeps.append,
            rand=lambda: 0.0,
        )
    assert sleeps == [3.0]
    assert fn.calls == 2


def test_bugs_are_not_retried_nor_mapped() -> None:
    """An exception that does not come from talking to Azure propagates unchanged."""
    fn = Flaky(TypeError("bug"))
    with pytest.raises(TypeError):
        run(fn)
    assert fn.calls == 1


def test_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        retry.RetryPolicy(attempts=0)
    with pytest.raises(ValueError):
        retry.RetryPolicy(budget=-1)
