"""The dispatcher's bounds: a full queue drops its oldest notice, a stale notice is dropped, a
channel failing repeatedly is skipped for a while, and one channel never delays another."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from shared.fakes.notifier import RecordingNotifier
from shared.notify.channels import Channel, ChannelBook
from shared.notify.dispatch import Notifications
from shared.notify.notice import Notice

TEAMS = "https://example.webhook.office.com/workflows/ops"
SLACK = "https://hooks.slack.com/services/T0/B0/ops"


def notice(i: int) -> Notice:
    return Notice(kind="started", title=f"n{i}", cause="c", severity="info", key=f"k{i}")


def wait_until(cond: Callable[[], bool]) -> None:
    end = time.monotonic() + 10.0
    while not cond() and time.monotonic() < end:
        time.sleep(0.01)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def book(*kinds: str) -> ChannelBook:
    urls = {"teams": TEAMS, "slack": SLACK}
    names = {"teams": "AUTOCANARY_TEAMS_WEBHOOK_URL", "slack": "AUTOCANARY_SLACK_WEBHOOK_URL"}
    return ChannelBook.from_webhooks({names[k]: urls[k] for k in kinds})


def test_full_queue_drops_the_oldest_notice_and_counts_it() -> None:
    fake = RecordingNotifier()
    fake.block = threading.Event()
    n = Notifications(fake, book("slack"), queue_size=2)
    for i in range(5):
        n.send(notice(i))
    fake.block.set()
    assert n.drain(5.0)
    stats = n.stats()
    assert stats["queued"] == 5 and stats["sent"] + stats["dropped"] == 5
    assert stats["dropped"] >= 2
    assert fake.texts()[-1].startswith('{"text": "n4')  # the newest always goes out


def test_notice_queued_too_long_ago_is_dropped() -> None:
    fake = RecordingNotifier()
    fake.block = threading.Event()
    clock = Clock()
    n = Notifications(fake, book("slack"), max_age_s=60, clock=clock)
    n.send(notice(1))
    wait_until(lambda: fake.attempts == 1)  # taken by the sender, which blocks
    n.send(notice(2))
    clock.t += 120
    fake.block.set()
    assert n.drain(5.0)
    assert n.stats()["sent"] == 1 and n.stats()["dropped"] == 1


def test_channel_failing_repeatedly_is_skipped_for_a_while() -> None:
    fake = RecordingNotifier()
    fake.fail = True
    clock = Clock()
    n = Notifications(fake, book("slack"), breaker_failures=2, breaker_s=300, clock=clock)
    for i in range(5):
        n.send(notice(i))
    assert n.drain(5.0)
    assert n.stats()["failed"] == 2 and n.stats()["skipped"] == 3
    assert fake.attempts == 2
    fake.fail = False
    clock.t += 301
    n.send(notice(9))
    assert n.drain(5.0) and n.stats()["sent"] == 1


def test_a_blocked_channel_does_not_delay_another() -> None:
    class TeamsHangs(RecordingNotifier):
        def post(self, channel: Channel, payload: object) -> None:  # type: ignore[override]
            if channel.kind == "teams":
                release.wait(30.0)
            super().post(channel, payload)  # type: ignore[arg-type]

    release = threading.Event()
    fake = TeamsHangs()
    n = Notifications(fake, book("teams", "slack"))
    try:
        n.send(notice(1))
        assert not n.drain(0.3)  # Teams still pending ...
        assert fake.kinds() == ["slack"]  # ... while Slack went out
    finally:
        release.set()
    assert n.drain(5.0) and sorted(fake.kinds()) == ["slack", "teams"]


def test_no_channel_configured_sends_nothing_and_starts_no_thread() -> None:
    fake = RecordingNotifier()
    n = Notifications(fake, ChannelBook())
    n.send(notice(1))
    assert n.stats()["queued"] == 0 and n.drain(0.0)


def test_close_drops_what_is_queued() -> None:
    fake = RecordingNotifier()
    fake.block = threading.Event()
    n = Notifications(fake, book("slack"))
    n.send(notice(1))
    n.send(notice(2))
    n.close()
    fake.block.set()
    assert n.drain(5.0)
    assert n.stats()["dropped"] >= 1
