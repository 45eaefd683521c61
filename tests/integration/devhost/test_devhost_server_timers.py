"""devhost's timers for the sample app, and its admin endpoint running functions by hand."""

from __future__ import annotations

import itertools
import json
import uuid

import pytest
from devhost_harness import DevhostProcess, wait_for
from sample_host import KEY, event, events_with, records

pytestmark = pytest.mark.integration


# --------------------------------------------------------------------------- timers
def test_timer_fires_every_second(host: DevhostProcess) -> None:
    """A '*/1 * * * * *' timer fires repeatedly with past_due False."""
    fired = wait_for(lambda: len(records(host, "every_second")) >= 2, timeout=6)
    assert fired
    assert all(r["past_due"] is False for r in records(host, "every_second"))


def test_timer_run_on_startup(host: DevhostProcess) -> None:
    """A yearly timer with run_on_startup ran once right after start."""
    assert wait_for(lambda: records(host, "yearly_on_startup"), timeout=5)
    assert len(records(host, "yearly_on_startup")) == 1


def test_timer_runs_never_overlap(host: DevhostProcess) -> None:
    """A 1.5 s run on a 1 s schedule: never two runs at once; each overrun is followed at
    once by the next run, logged (TimerListener.cs restarts the timer when a run ends)."""
    assert wait_for(
        lambda: len([r for r in records(host, "slow_tick") if r["phase"] == "end"]) >= 2,
        timeout=10,
    )
    phases = [r["phase"] for r in records(host, "slow_tick")]
    # strictly start, end, start, end, ...: never two starts in a row
    assert all(a != b for a, b in itertools.pairwise(phases))
    assert "Timer 'slow_tick': the run outlasted its period" in host.log()


def test_admin_endpoint_runs_a_timer_once(host: DevhostProcess) -> None:
    """POST /admin/functions/NAME {"input": ""} answers 202 and runs the timer."""
    before = len(records(host, "from_setting"))
    reply = host.request(
        "POST",
        "/admin/functions/from_setting",
        body='{"input": ""}',
        headers={"x-functions-key": KEY, "Content-Type": "application/json"},
    )
    assert reply.status == 202
    assert wait_for(lambda: len(records(host, "from_setting")) == before + 1)


def test_admin_endpoint_refuses_a_second_run_while_running(host: DevhostProcess) -> None:
    """A manual run while the previous one is still going answers 409."""
    headers = {"x-functions-key": KEY}
    first = host.request("POST", "/admin/functions/slow_manual", body="{}", headers=headers)
    second = host.request("POST", "/admin/functions/slow_manual", body="{}", headers=headers)
    assert (first.status, second.status) == (202, 409)
    assert wait_for(lambda: [r for r in records(host, "slow_manual") if r["phase"] == "end"])


def test_admin_endpoint_runs_an_event_grid_function(host: DevhostProcess) -> None:
    """The admin endpoint also delivers one event (given as a JSON string) to Event Grid
    functions."""
    manual = f"manual-{uuid.uuid4()}"
    reply = host.request(
        "POST",
        "/admin/functions/on_event",
        body=json.dumps({"input": json.dumps(event(manual))}),
        headers={"x-functions-key": KEY},
    )
    assert reply.status == 202
    assert wait_for(lambda: events_with(host, manual))


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/admin/functions/from_setting", {}, 401),
        ("/admin/functions/nope", {"x-functions-key": KEY}, 404),
        ("/admin/functions/echo", {"x-functions-key": KEY}, 400),
    ],
    ids=["no-key", "unknown", "http-function"],
)
def test_admin_endpoint_errors(
    host: DevhostProcess, path: str, headers: dict[str, str], status: int
) -> None:
    """Admin runs need the key, a known function, and a non-HTTP trigger."""
    assert host.request("POST", path, body='{"input": ""}', headers=headers).status == status


def test_admin_endpoint_refuses_bad_event_input(host: DevhostProcess) -> None:
    """An Event Grid admin run whose input is not an event is 400."""
    reply = host.request(
        "POST",
        "/admin/functions/on_event",
        body=json.dumps({"input": "not an event"}),
        headers={"x-functions-key": KEY},
    )
    assert reply.status == 400
