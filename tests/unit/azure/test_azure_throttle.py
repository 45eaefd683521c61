"""Throttling in shared.azure.retry: 429s and ARM's remaining-reads header slow callers down."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from azure_test_helpers import http_error

from shared import deadline
from shared.azure import retry
from shared.errors import TransientUpstreamError

THROTTLED = retry.RetryPolicy(attempts=2, base_delay=0.0, max_delay=0.0, throttle_budget=10.0)


class Flaky:
    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def throttled(seconds: str = "1") -> Exception:
    return http_error(429, "TooManyRequests", headers={"Retry-After": seconds})


def test_throttled_calls_wait_and_succeed_beyond_the_attempts() -> None:
    fn = Flaky(*[throttled("1")] * 5)
    sleeps: list[float] = []
    assert retry.call(fn, "op", policy=THROTTLED, sleep=sleeps.append) == "ok"
    assert fn.calls == 6 and sleeps == [1.0] * 5


def test_throttling_past_the_throttle_budget_fails_as_transient() -> None:
    fn = Flaky(*[throttled("4")] * 5)
    sleeps: list[float] = []
    with pytest.raises(TransientUpstreamError):
        retry.call(fn, "op", policy=THROTTLED, sleep=sleeps.append)
    assert fn.calls == 4 and sum(sleeps) <= THROTTLED.budget + (THROTTLED.throttle_budget or 0)


def test_throttling_without_any_wait_is_still_bounded() -> None:
    fn = Flaky(*[http_error(429, "TooManyRequests")] * 100)
    with pytest.raises(TransientUpstreamError):
        retry.call(fn, "op", policy=THROTTLED, sleep=lambda s: None, rand=lambda: 0.0)
    assert fn.calls <= retry.MAX_THROTTLED_RETRIES + THROTTLED.attempts


def test_without_a_throttle_budget_a_429_counts_as_an_attempt() -> None:
    policy = retry.RetryPolicy(attempts=2, base_delay=0.0, max_delay=0.0)
    fn = Flaky(*[throttled("0")] * 3)
    with pytest.raises(TransientUpstreamError):
        retry.call(fn, "op", policy=policy, sleep=lambda s: None)
    assert fn.calls == 2


def test_a_429_holds_every_caller_of_the_pacer_for_its_retry_after() -> None:
    clock = Clock()
    pacer = retry.Pacer(clock=clock)
    fn = Flaky(throttled("3"))
    assert retry.call(fn, "a", policy=THROTTLED, sleep=clock.sleep, pacer=pacer) == "ok"
    assert clock.t == pytest.approx(103.0)
    pacer.hold(2.0)
    assert pacer.delay() == pytest.approx(2.0)  # another caller waits too


def test_low_remaining_reads_space_calls_at_the_refill_rate_until_they_recover() -> None:
    clock = Clock()
    pacer = retry.Pacer(refill_per_s=25.0, low_water=50, clock=clock)
    assert pacer.delay() == 0.0
    pacer.note_remaining(10)
    delays = [pacer.delay() for _ in range(3)]
    assert delays == pytest.approx([0.0, 0.04, 0.08])
    pacer.note_remaining(200)
    assert pacer.delay() == 0.0


def test_the_response_policy_reads_arm_remaining_reads_header() -> None:
    clock = Clock()
    pacer = retry.Pacer(clock=clock)
    policy = retry.throttle_policy(pacer)
    response = SimpleNamespace(
        http_response=SimpleNamespace(headers={"x-ms-ratelimit-remaining-subscription-reads": "3"})
    )
    policy.on_response(None, response)
    pacer.delay()
    assert pacer.delay() == pytest.approx(1 / retry.ARM_REFILL_PER_S)


def test_a_pacer_refuses_nonsense_settings() -> None:
    with pytest.raises(ValueError):
        retry.Pacer(refill_per_s=0)
    with pytest.raises(ValueError):
        retry.RetryPolicy(throttle_budget=-1)


def test_under_an_alerts_budget_a_throttled_gate_is_not_waited_for() -> None:
    """A tick's 429 holds every ARM caller of the process (up to 60 s): an alert's call that
    would wait past its budget answers at once as transient (503: the action group sends the
    alert again), instead of holding the webhook call for the whole hold."""
    pacer = retry.Pacer()
    pacer.hold(30)
    slept: list[float] = []
    with pytest.raises(TransientUpstreamError), deadline.within(6.0):
        retry.call(lambda: "ok", "get endpoint fraud", pacer=pacer, sleep=slept.append)
    assert slept == []
    assert retry.call(lambda: "ok", "get endpoint fraud", pacer=pacer, sleep=slept.append) == "ok"
    assert slept and slept[0] > 29  # the timer's calls still wait for the gate
