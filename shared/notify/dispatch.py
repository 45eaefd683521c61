"""Notifications off the reconcile's path: one bounded queue and one sender thread per channel.

The engine hands a notice over after the decision is committed (``rollout_event`` from the
``PublishEvent`` path, ``model_ignored`` from ingest) and goes on at once: building and queueing
a notice never blocks on a webhook and never raises. Each channel has its own queue and thread,
so a Teams webhook that hangs does not delay Slack. Bounds:

- a post is bounded by the Notifier adapter (a short timeout, retried within a small budget
  through the one retry loop, shared/azure/retry.py);
- a queue holds at most ``queue_size`` notices; when full the oldest is dropped (counted);
- a notice older than ``max_age_s`` when its turn comes is dropped (late news is noise);
- after ``breaker_failures`` failed notices in a row a channel is skipped for ``breaker_s``
  (counted), so a dead webhook costs one failure, not one per notice;
- the timer tick calls :meth:`Notifications.drain` with a budget (``DRAIN_S``) so that what the
  tick decided is sent within the invocation when the webhooks answer, and the tick's total
  time stays bounded when they do not; an alert, an event or an operator's request drains
  for a shorter budget before it answers (``shared.services.REQUEST_DRAIN_S``).

Every failure is logged with the channel's app setting name (never its URL) and counted in
:meth:`Notifications.stats`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shared import invocation
from shared.notify.channels import Channel, ChannelBook
from shared.notify.notice import Notice, ignored_notice, lifecycle_notice, one_line
from shared.notify.routes import Routes
from shared.notify.slack import slack_message
from shared.notify.teams import teams_message

if TYPE_CHECKING:
    from shared.effects import PublishEvent
    from shared.model import ModelRef, Rollout
    from shared.ports import Notifier

log = logging.getLogger("autocanary.notify")

DRAIN_S = 5.0  # what a timer tick waits, at most, for its notices to go out
QUEUE_SIZE = 100
MAX_AGE_S = 900.0
BREAKER_FAILURES = 3
BREAKER_S = 300.0
COUNTERS = ("queued", "sent", "failed", "dropped", "skipped")

RENDERERS: dict[str, Callable[[Notice], dict[str, Any]]] = {
    "teams": teams_message,
    "slack": slack_message,
}


@dataclass
class _Item:
    notice: Notice
    payload: Mapping[str, Any]
    queued_at: float
    # the invocation that queued it: the sender thread logs as that one while posting it
    # (shared.invocation: otherwise the host drops what this thread logs)
    stamp: invocation.Stamp | None = field(default_factory=invocation.current)


class Notifications:
    """Builds notices and sends them to the channels they are for (see the module docstring)."""

    def __init__(
        self,
        notifier: Notifier,
        channels: ChannelBook,
        *,
        public_url: str | None = None,
        queue_size: int = QUEUE_SIZE,
        max_age_s: float = MAX_AGE_S,
        breaker_failures: int = BREAKER_FAILURES,
        breaker_s: float = BREAKER_S,
        drain_s: float = DRAIN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.notifier = notifier
        self.channels = channels
        self.public_url = public_url
        self.queue_size = max(1, queue_size)
        self.max_age_s = max_age_s
        self.breaker_failures = max(1, breaker_failures)
        self.breaker_s = breaker_s
        self.drain_s = drain_s
        self._clock = clock
        self._lock = threading.Condition()
        self._lanes: dict[tuple[str, str], _Lane] = {}
        self._pending = 0
        self._counts = dict.fromkeys(COUNTERS, 0)
        self._reported = dict(self._counts)
        self._closed = False

    # ------------------------------------------------------------------ what the engine calls
    def rollout_event(self, r: Rollout, event: PublishEvent) -> None:
        """A lifecycle event of ``r`` was published: tell the channels, if it is news."""
        if self.channels.empty:
            return
        try:
            notice = lifecycle_notice(event.type, event.data, r, public_url=self.public_url)
        except Exception:  # a notice is never worth failing a decision over
            log.exception("building the notice for %s of %s failed", event.type, r.id)
            return
        if notice is not None:
            self.send(notice)

    def model_ignored(
        self,
        model: ModelRef,
        reason: str,
        detail: str,
        *,
        endpoint: str | None = None,
        routes: Routes = (),
    ) -> None:
        """A registered model started no rollout: tell the app-wide channels and the team's."""
        if self.channels.empty:
            return
        try:
            notice = ignored_notice(
                model, reason, detail, endpoint=endpoint, routes=routes, public_url=self.public_url
            )
        except Exception:
            log.exception("building the notice for an ignored model failed")
            return
        self.send(notice)

    def send(self, notice: Notice) -> None:
        """Queue ``notice`` for each of its channels; returns at once, never raises."""
        for channel in self.channels.channels(notice.routes):
            try:
                payload = RENDERERS[channel.kind](notice)
            except Exception:
                log.exception("rendering %s for %s failed", notice.key, channel.label)
                continue
            self._lane(channel).put(_Item(notice, payload, self._clock()))

    # ------------------------------------------------------------------ bounds and counts
    def drain(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds (default ``drain_s``) until every queued notice was
        sent or given up; True when nothing is pending. Logs the counts when they changed."""
        budget = self.drain_s if timeout is None else timeout
        deadline = time.monotonic() + max(0.0, budget)
        with self._lock:
            while self._pending > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(min(left, 0.5))
            done = self._pending == 0
            changed = {k: v - self._reported[k] for k, v in self._counts.items()}
            self._reported = dict(self._counts)
            pending = self._pending
        if any(changed.values()):
            log.info(
                "notifications: %d sent, %d failed, %d dropped, %d skipped; %d still pending",
                changed["sent"],
                changed["failed"],
                changed["dropped"],
                changed["skipped"],
                pending,
                extra={f"notify_{k}": v for k, v in changed.items()} | {"notify_pending": pending},
            )
        return done

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {**self._counts, "pending": self._pending}

    def close(self) -> None:
        """Stop the sender threads (what is still queued is dropped): for tests and tools."""
        with self._lock:
            self._closed = True
            lanes = list(self._lanes.values())
            self._lock.notify_all()
        for lane in lanes:
            lane.stop()

    # ------------------------------------------------------------------ internals
    def _lane(self, channel: Channel) -> _Lane:
        key = (channel.kind, channel.url)
        with self._lock:
            lane = self._lanes.get(key)
            if lane is None:
                lane = self._lanes[key] = _Lane(self, channel)
            return lane

    def _count(self, name: str, n: int = 1, *, done: int = 0) -> None:
        with self._lock:
            self._counts[name] += n
            self._pending -= done
            if done:
                self._lock.notify_all()


class _Lane:
    """One channel's queue and sender thread (started on the first notice)."""

    def __init__(self, owner: Notifications, channel: Channel) -> None:
        self.owner = owner
        self.channel = channel
        self._items: deque[_Item] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._failures = 0
        self._open_until = 0.0

    def put(self, item: _Item) -> None:
        owner = self.owner
        with self._cond:
            if self._stopped:
                return
            owner._count("queued")
            with owner._lock:
                owner._pending += 1
            if len(self._items) >= owner.queue_size:
                old = self._items.popleft()
                log.warning(
                    "notification queue for %s is full; dropped %s",
                    self.channel.label,
                    old.notice.key,
                )
                owner._count("dropped", done=1)
            self._items.append(item)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"notify-{self.channel.setting}", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            dropped = len(self._items)
            self._items.clear()
            self._cond.notify_all()
        if dropped:
            self.owner._count("dropped", dropped, done=dropped)

    def _run(self) -> None:
        owner = self.owner
        while True:
            with self._cond:
                while not self._items and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                item = self._items.popleft()
            self._deliver(item)
            if owner._closed:
                return

    def _deliver(self, item: _Item) -> None:
        invocation.stamp_here(item.stamp)
        owner, label, key = self.owner, self.channel.label, one_line(item.notice.key, 300)
        now = owner._clock()
        if now - item.queued_at > owner.max_age_s:
            log.warning("notice %s to %s dropped: queued too long ago", key, label)
            owner._count("dropped", done=1)
            return
        if now < self._open_until:
            log.info("notice %s to %s skipped: the channel failed repeatedly", key, label)
            owner._count("skipped", done=1)
            return
        try:
            owner.notifier.post(self.channel, item.payload)
        except Exception as exc:
            self._failures += 1
            log.warning(
                "notice %s to %s failed: %s",
                key,
                label,
                _summary(exc),
                extra={"notify_channel": label, "notify_key": key},
            )
            if self._failures >= owner.breaker_failures:
                self._open_until = owner._clock() + owner.breaker_s
                self._failures = 0
                log.warning(
                    "%s failed %d times in a row; its notices are skipped for %.0f s",
                    label,
                    owner.breaker_failures,
                    owner.breaker_s,
                )
            owner._count("failed", done=1)
            return
        self._failures = 0
        owner._count("sent", done=1)


def _summary(exc: BaseException) -> str:
    text = one_line(str(exc), 300)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
