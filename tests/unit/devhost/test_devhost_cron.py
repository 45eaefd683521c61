"""NCRONTAB schedules and the timer loop (with a fake clock: no waiting)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest

from devhost.cron import (
    NcrontabSchedule,
    ScheduleError,
    TimerRunner,
    resolve_setting_reference,
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_every_second_schedule_counts_seconds_first() -> None:
    """'*/1 * * * * *' fires each second: the first field is seconds."""
    schedule = NcrontabSchedule.parse("*/1 * * * * *")
    got = schedule.occurrences(at("2026-03-01T10:00:00"), 3)
    assert got == [at("2026-03-01T10:00:01"), at("2026-03-01T10:00:02"), at("2026-03-01T10:00:03")]


def test_every_five_minutes() -> None:
    """'0 */5 * * * *' fires at second 0 of every fifth minute."""
    schedule = NcrontabSchedule.parse("0 */5 * * * *")
    assert schedule.next_after(at("2026-03-01T10:03:10")) == at("2026-03-01T10:05:00")


def test_next_is_strictly_after_the_given_time() -> None:
    """An occurrence exactly at the start time is not returned again."""
    schedule = NcrontabSchedule.parse("0 * * * * *")
    assert schedule.next_after(at("2026-03-01T10:00:00")) == at("2026-03-01T10:01:00")


def test_fraction_of_a_second_rounds_up_to_the_next_second() -> None:
    """From 10:00:00.5 an every-second timer fires at 10:00:01."""
    schedule = NcrontabSchedule.parse("* * * * * *")
    start = at("2026-03-01T10:00:00") + timedelta(milliseconds=500)
    assert schedule.next_after(start) == at("2026-03-01T10:00:01")


def test_day_names_and_ranges() -> None:
    """'0 30 9 * * Mon-Fri' skips the weekend (2026-03-07 is a Saturday)."""
    schedule = NcrontabSchedule.parse("0 30 9 * * Mon-Fri")
    assert schedule.next_after(at("2026-03-06T10:00:00")) == at("2026-03-09T09:30:00")


def test_day_of_month_and_day_of_week_must_both_match() -> None:
    """NCrontab ANDs day and day-of-week: '0 0 0 1 * 1' is the 1st when it is a Monday."""
    schedule = NcrontabSchedule.parse("0 0 0 1 * 1")
    # 2026-06-01 is the first Monday-the-1st after 2026-01-01.
    assert schedule.next_after(at("2026-01-01T00:00:00")) == at("2026-06-01T00:00:00")


def test_result_is_utc_even_for_other_zones() -> None:
    """A start time in another zone gives the same instant, in UTC."""
    schedule = NcrontabSchedule.parse("0 0 * * * *")
    plus_two = datetime(2026, 3, 1, 12, 30, tzinfo=UTC).astimezone(timezone(timedelta(hours=2)))
    nxt = schedule.next_after(plus_two)
    assert nxt == at("2026-03-01T13:00:00") and nxt.tzinfo == UTC


def test_naive_time_is_refused() -> None:
    """next_after needs an aware datetime (schedules are UTC)."""
    with pytest.raises(ValueError):
        NcrontabSchedule.parse("* * * * * *").next_after(datetime(2026, 1, 1))


@pytest.mark.parametrize(
    "expression",
    [
        "* * * * *",
        "0 * * * * * 2026",
        "60 * * * * *",
        "0 0 24 * * *",
        "0 0 0 0 * *",
        "0 0 0 * 13 *",
        "0 0 0 * * 7",
        "0 0 0 L * *",
        "0 0 0 * * 1#2",
        "H * * * * *",
        "*/0 * * * * *",
        "0 5-1 * * * *",
        "0 0 0 * Foo *",
        "",
    ],
)
def test_invalid_schedules_are_refused(expression: str) -> None:
    """Wrong field counts, out-of-range values and non-NCRONTAB syntax raise ScheduleError."""
    with pytest.raises(ScheduleError):
        NcrontabSchedule.parse(expression)


def test_setting_reference_is_resolved_from_environment() -> None:
    """'%NAME%' takes the schedule from app setting NAME."""
    assert resolve_setting_reference("%SCHED%", {"SCHED": "0 */1 * * * *"}) == "0 */1 * * * *"
    assert resolve_setting_reference("0 * * * * *", {}) == "0 * * * * *"


def test_missing_setting_reference_is_an_error() -> None:
    """'%NAME%' with NAME unset raises ScheduleError naming it."""
    with pytest.raises(ScheduleError, match="SCHED"):
        resolve_setting_reference("%SCHED%", {})


class FakeClock:
    """Time that moves only when the runner sleeps (plus any ``lag`` added per sleep)."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.lag = timedelta(0)
        self.sleeps = 0

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += timedelta(seconds=seconds) + self.lag
        await asyncio.sleep(0)


async def _run_for(runner: TimerRunner, clock: FakeClock, sleeps: int) -> None:
    task = asyncio.create_task(runner.run_forever())
    while clock.sleeps < sleeps:
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await runner.wait_idle(1.0)


def test_runner_fires_on_schedule_not_past_due() -> None:
    """On time, every occurrence runs once with past_due False."""
    clock = FakeClock(at("2026-03-01T10:00:00.200000"))
    calls: list[tuple[bool, str]] = []

    async def invoke(past_due: bool, reason: str) -> None:
        calls.append((past_due, reason))

    runner = TimerRunner(
        "t", NcrontabSchedule.parse("* * * * * *"), invoke, clock=clock, sleep=clock.sleep
    )
    asyncio.run(_run_for(runner, clock, sleeps=4))
    assert len(calls) >= 3
    assert all(c == (False, "Timer") for c in calls)


def test_runner_run_on_startup_fires_first() -> None:
    """run_on_startup runs once immediately, before the first occurrence."""
    clock = FakeClock(at("2026-03-01T10:00:00"))
    calls: list[str] = []

    async def invoke(past_due: bool, reason: str) -> None:
        calls.append(reason)

    runner = TimerRunner(
        "t",
        NcrontabSchedule.parse("0 0 0 1 1 *"),
        invoke,
        run_on_startup=True,
        clock=clock,
        sleep=clock.sleep,
    )
    asyncio.run(_run_for(runner, clock, sleeps=1))
    assert calls[0] == "RunOnStartup"


def test_runner_never_marks_a_scheduled_run_past_due() -> None:
    """The host's listener sets isPastDue only when it starts and its schedule monitor finds
    a missed occurrence (TimerListener.cs: HandleTimerEvent invokes with isPastDue false),
    so a run that starts late is not past due."""
    clock = FakeClock(at("2026-03-01T10:00:00"))
    clock.lag = timedelta(seconds=3)  # every sleep overshoots by 3 s
    calls: list[bool] = []

    async def invoke(past_due: bool, reason: str) -> None:
        calls.append(past_due)

    runner = TimerRunner(
        "t", NcrontabSchedule.parse("0 * * * * *"), invoke, clock=clock, sleep=clock.sleep
    )
    asyncio.run(_run_for(runner, clock, sleeps=3))
    assert calls and not any(calls)


def test_a_run_that_outlasts_its_period_is_followed_at_once_not_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """TimerListener.cs: the next occurrence is the first after the run's start and the timer
    restarts when the run ends, so an overrun is followed by one run at once (the occurrences
    missed meanwhile are not replayed); never two runs at once."""
    clock = FakeClock(at("2026-03-01T10:00:00.500000"))
    starts: list[datetime] = []
    active = 0
    most = 0

    async def invoke(past_due: bool, reason: str) -> None:
        nonlocal active, most
        active += 1
        most = max(most, active)
        starts.append(clock.now)
        if len(starts) == 1:
            clock.now += timedelta(seconds=3.2)  # the first run lasts over three periods
        await asyncio.sleep(0)
        active -= 1

    runner = TimerRunner(
        "slow", NcrontabSchedule.parse("* * * * * *"), invoke, clock=clock, sleep=clock.sleep
    )
    with caplog.at_level("WARNING", logger="devhost.timers"):
        asyncio.run(_run_for(runner, clock, sleeps=3))
    assert most == 1
    assert starts[0] == at("2026-03-01T10:00:01")
    assert starts[1] == at("2026-03-01T10:00:04.200000")  # at once, when the first ended
    assert starts[2] == at("2026-03-01T10:00:05")  # then on schedule: nothing replayed
    assert runner.overran == 1 and "outlasted its period" in caplog.text


def test_try_start_refuses_while_running() -> None:
    """try_start returns False while a run is going (manual runs are refused then)."""
    gate = asyncio.Event()

    async def invoke(past_due: bool, reason: str) -> None:
        await gate.wait()

    runner = TimerRunner("t", NcrontabSchedule.parse("0 0 0 1 1 *"), invoke)

    async def scenario() -> tuple[bool, bool, bool]:
        first = runner.try_start(past_due=False, reason="Manual")
        second = runner.try_start(past_due=False, reason="Manual")
        gate.set()
        await runner.wait_idle(1.0)
        third = runner.try_start(past_due=False, reason="Manual")
        await runner.wait_idle(1.0)
        return first, second, third

    assert asyncio.run(scenario()) == (True, False, True)
