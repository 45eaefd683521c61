"""Timer triggers: six-field NCRONTAB schedules and the loop that fires them.

Azure Functions timers use NCRONTAB with a leading seconds field::

    {second} {minute} {hour} {day} {month} {day-of-week}

croniter computes the occurrences: ``second_at_beginning=True`` makes a sixth field the
*first* (seconds) field instead of croniter's default trailing one, and ``day_or=False``
requires both day-of-month and day-of-week to match, as NCrontab does (it checks the day of
week after it has found a day of month: atifaziz/NCrontab, NCrontab/CrontabSchedule.cs,
TryGetNextOccurrence). Only NCRONTAB syntax is accepted (numbers, ``*``, ``,``, ``-``, ``/``
and English month/day names); croniter extensions such as ``L``, ``#`` or ``H`` are refused
so a schedule that works here also works in Azure. Times are UTC, the Functions default.

The runner keeps at most one run of a timer at a time (the host's timer listener holds an
invocation lock and is a singleton: Azure/azure-webjobs-sdk-extensions,
src/WebJobs.Extensions/Extensions/Timers/Listener/TimerListener.cs). As there, the next
occurrence is the first after a run's start and the timer restarts when the run ends: a run
that outlasts its period is followed at once by the next (logged), the occurrences missed
meanwhile are not replayed; ``past_due`` is never set on a scheduled run.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from croniter import croniter

log = logging.getLogger("devhost.timers")

_FIELDS = (
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 6),
)
_MONTHS = {
    name: i + 1
    for i, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    )
}
_DAYS = {name: i for i, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_SETTING_REF = re.compile(r"^%([^%]+)%$")


class ScheduleError(ValueError):
    """A timer schedule that is not a valid six-field NCRONTAB expression."""


def _value(token: str, index: int) -> int:
    name, low, high = _FIELDS[index]
    names = _MONTHS if index == 4 else _DAYS if index == 5 else {}
    if token.lower() in names:
        return names[token.lower()]
    if not token.isdigit():
        raise ScheduleError(f"{name} field: {token!r} is not a number")
    number = int(token)
    if not low <= number <= high:
        raise ScheduleError(f"{name} field: {number} is outside {low}-{high}")
    return number


def _check_field(text: str, index: int) -> None:
    name = _FIELDS[index][0]
    for part in text.split(","):
        base, slash, step = part.partition("/")
        if slash and (not step.isdigit() or int(step) < 1):
            raise ScheduleError(f"{name} field: step {step!r} must be a positive number")
        if base == "*":
            continue
        first, dash, last = base.partition("-")
        if not first or (dash and not last):
            raise ScheduleError(f"{name} field: {part!r} is not a value, range or step")
        low = _value(first, index)
        if dash and _value(last, index) < low:
            raise ScheduleError(f"{name} field: range {base!r} runs backwards")


def resolve_setting_reference(schedule: str, environ: Mapping[str, str]) -> str:
    """``%NAME%`` schedules are read from the app setting NAME, as the host resolves them."""
    found = _SETTING_REF.match(schedule.strip())
    if not found:
        return schedule
    name = found.group(1)
    value = environ.get(name)
    if not value:
        raise ScheduleError(f"schedule refers to app setting {name!r}, which is not set")
    return value


@dataclass(frozen=True)
class NcrontabSchedule:
    """A parsed six-field NCRONTAB expression (seconds first), evaluated in UTC."""

    expression: str

    @classmethod
    def parse(cls, expression: str) -> NcrontabSchedule:
        fields = expression.split()
        if len(fields) != 6:
            raise ScheduleError(
                f"{expression!r} has {len(fields)} fields; NCRONTAB needs six: "
                "{second} {minute} {hour} {day} {month} {day-of-week}"
            )
        for index, text in enumerate(fields):
            _check_field(text, index)
        normalized = " ".join(fields)
        try:
            croniter(normalized, datetime(2000, 1, 1, tzinfo=UTC), second_at_beginning=True)
        except (ValueError, KeyError) as exc:  # croniter's own checks, should ours miss one
            raise ScheduleError(f"{expression!r}: {exc}") from exc
        return cls(normalized)

    def next_after(self, moment: datetime) -> datetime:
        """The first occurrence strictly after ``moment`` (an aware datetime), in UTC."""
        if moment.tzinfo is None:
            raise ValueError("next_after needs an aware datetime")
        start = moment.astimezone(UTC)
        it = croniter(
            self.expression, start, ret_type=datetime, second_at_beginning=True, day_or=False
        )
        nxt: datetime = it.get_next(datetime)
        if nxt <= start:  # never hand back the start itself
            nxt = it.get_next(datetime)
        return nxt.astimezone(UTC)

    def occurrences(self, moment: datetime, count: int) -> list[datetime]:
        result: list[datetime] = []
        for _ in range(count):
            moment = self.next_after(moment)
            result.append(moment)
        return result


def utc_now() -> datetime:
    return datetime.now(UTC)


Invoke = Callable[[bool, str], Coroutine[Any, Any, None]]


class TimerRunner:
    """Fires one timer function on its schedule, as the Functions host's timer listener does
    (Azure/azure-webjobs-sdk-extensions ``TimerListener.cs``): at most one run at a time; the
    next occurrence is the first after the run's start, and the timer is started again only
    once the run has ended, so a run that outlasts its period is followed at once by the next
    (once: the occurrences missed meanwhile are not replayed) instead of that occurrence being
    dropped. ``past_due`` is never set on a scheduled run: the listener sets it only when it
    starts and its schedule monitor finds an occurrence missed while the host was down (the
    devhost keeps no schedule status across restarts). A manual run (``try_start``) is refused
    while a run is going; a scheduled occurrence during a manual run waits for it to end.
    ``clock`` and ``sleep`` are injectable so the loop can be tested without waiting.
    """

    def __init__(
        self,
        name: str,
        schedule: NcrontabSchedule,
        invoke: Invoke,
        *,
        run_on_startup: bool = False,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.name = name
        self.schedule = schedule
        self.run_on_startup = run_on_startup
        self._invoke = invoke
        self._clock = clock
        self._sleep = sleep
        self._current: asyncio.Task[None] | None = None
        self.fired = 0
        self.refused = 0  # manual runs refused while a run was going
        self.overran = 0  # scheduled runs that outlasted their period (the next ran at once)

    @property
    def running(self) -> bool:
        return self._current is not None and not self._current.done()

    def try_start(self, *, past_due: bool, reason: str) -> bool:
        """Start a run unless one is going; False (and a log line) when it was refused."""
        if self.running:
            self.refused += 1
            log.warning(
                "Timer '%s': not starting the %s run, the previous run is still going",
                self.name,
                reason,
            )
            return False
        self.fired += 1
        self._current = asyncio.create_task(
            self._invoke(past_due, reason), name=f"devhost-timer-{self.name}"
        )
        return True

    async def _run_once(self, reason: str) -> None:
        """Start a run and wait for its end (a cancelled loop leaves the run to finish)."""
        if self.running and self._current is not None:
            await asyncio.wait({self._current})  # a manual run: wait for it, as the lock would
        if self.try_start(past_due=False, reason=reason) and self._current is not None:
            await asyncio.wait({self._current})

    async def run_forever(self) -> None:
        """Fire on schedule until cancelled."""
        upcoming = ", ".join(
            t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in self.schedule.occurrences(self._clock(), 3)
        )
        log.info(
            "Timer '%s': schedule '%s' (UTC), next: %s",
            self.name,
            self.schedule.expression,
            upcoming,
        )
        if self.run_on_startup:
            await self._run_once("RunOnStartup")
        due = self.schedule.next_after(self._clock())
        while True:
            delay = (due - self._clock()).total_seconds()
            if delay > 0:
                await self._sleep(delay)
                continue  # re-check: the sleep may end a little early
            started = self._clock()
            await self._run_once("Timer")
            due = self.schedule.next_after(started)
            if due <= self._clock():
                self.overran += 1
                log.warning(
                    "Timer '%s': the run outlasted its period; the next one starts now",
                    self.name,
                )

    async def wait_idle(self, timeout: float) -> bool:
        """Wait for a run in progress (bounded); True when none is left."""
        task = self._current
        if task is None or task.done():
            return True
        done, _ = await asyncio.wait({task}, timeout=timeout)
        return bool(done)
