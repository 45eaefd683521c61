"""``get --watch``: follows the rollout until it ends and exits with how it ended."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from rich.console import Console

from autocanary_cli import config, watch
from autocanary_cli.client import Client
from tests.unit.cli.conftest import Cli
from tests.unit.cli.fakeapi import FakeApi, Seen, error, fixture, with_phase

DETAIL = "/api/rollouts/fraud-scoring"


def _sequence(docs: list[tuple[int, Any]]) -> Any:
    """A route answering each document in turn, then the last one forever."""
    replies: Iterator[tuple[int, Any]] = iter(docs)
    last: list[tuple[int, Any]] = [docs[0]]

    def route(seen: Seen) -> tuple[int, Any]:
        last[0] = next(replies, last[0])
        return last[0]

    return route


def _watcher(api: FakeApi, **kw: Any) -> tuple[watch.Watcher, io.StringIO, list[str]]:
    out = io.StringIO()
    lines: list[str] = []
    client = Client(config.Config(url=api.url, key="k", source="flag"))
    watcher = watch.Watcher(
        client,
        "fraud-scoring",
        Console(file=out, width=160),
        interval=0.0,
        sleep=lambda s: None,
        write=lines.append,
        **kw,
    )
    return watcher, out, lines


@pytest.mark.parametrize(
    ("phase", "code"),
    [("Succeeded", 0), ("RolledBack", 10), ("Failed", 11), ("Aborted", 12), ("Superseded", 13)],
)
def test_watch_exits_with_the_code_of_how_the_rollout_ended(
    api: FakeApi, phase: str, code: int
) -> None:
    canary = fixture("detail_canary.json")
    ending = with_phase(canary, "RollingBack") if phase != "Succeeded" else canary
    api.route(
        "GET", DETAIL, _sequence([(200, canary), (200, ending), (200, with_phase(canary, phase))])
    )
    watcher, out, _ = _watcher(api)
    assert watcher.run() == code
    assert f"ended: {phase} (exit {code})" in out.getvalue()


def test_watch_of_an_ended_rollout_exits_at_once(api: FakeApi) -> None:
    api.reply("GET", DETAIL, 200, with_phase(fixture("detail_canary.json"), "RolledBack"))
    watcher, _, _ = _watcher(api)
    assert watcher.run() == 10
    assert len(api.seen) == 1


def test_watch_follows_its_rollout_by_id_once_a_newer_one_starts(api: FakeApi) -> None:
    canary = fixture("detail_canary.json")
    newer = with_phase(canary, "Pending", id="r-newer", version="8")
    api.route("GET", DETAIL, _sequence([(200, canary), (200, newer)]))
    api.reply("GET", DETAIL + "/history/r-20261202-0001", 200, with_phase(canary, "Superseded"))
    watcher, _, _ = _watcher(api)
    assert watcher.run() == 13
    assert api.seen[-1].path == DETAIL + "/history/r-20261202-0001"


def test_watch_rides_out_a_5xx_and_shows_it(api: FakeApi) -> None:
    canary = fixture("detail_canary.json")
    busy = error("upstream_unavailable", "Azure answered 503", "retry in a minute")
    api.route(
        "GET",
        DETAIL,
        _sequence([(200, canary), (503, busy), (200, with_phase(canary, "Succeeded"))]),
    )
    watcher, _, _ = _watcher(api)
    assert watcher.run() == 0
    assert len(api.seen) == 3


def test_watch_stops_on_a_4xx_with_the_api_error(api: FakeApi, cli: Cli) -> None:
    canary = fixture("detail_canary.json")
    gone = error("unknown_endpoint", "no rollout is known for endpoint fraud-scoring", "check it")
    api.route("GET", DETAIL, _sequence([(200, canary), (404, gone)]))
    result = cli("get", "fraud-scoring", "--watch", "--interval", "0.1")
    assert result.exit_code == 1
    assert "unknown_endpoint" in result.stderr


def test_watch_timeout_exits_124(api: FakeApi) -> None:
    api.reply("GET", DETAIL, 200, fixture("detail_canary.json"))
    ticks = iter(range(100))
    watcher, _, _ = _watcher(api, timeout=3.0, monotonic=lambda: float(next(ticks)))
    assert watcher.run() == watch.EXIT_TIMEOUT


def test_watch_output_json_writes_one_line_per_change(api: FakeApi) -> None:
    canary = fixture("detail_canary.json")
    done = with_phase(canary, "Succeeded")
    api.route("GET", DETAIL, _sequence([(200, canary), (200, canary), (200, done)]))
    watcher, _, lines = _watcher(api, as_json=True)
    assert watcher.run() == 0
    assert [json.loads(line)["rollout"]["phase"] for line in lines] == ["Canary", "Succeeded"]


def test_watch_through_the_command_line_exits_with_the_outcome(api: FakeApi, cli: Cli) -> None:
    canary = fixture("detail_canary.json")
    api.route("GET", DETAIL, _sequence([(200, canary), (200, with_phase(canary, "Failed"))]))
    result = cli("get", "fraud-scoring", "-w", "--interval", "0.1")
    assert result.exit_code == 11
    assert "ended: Failed (exit 11)" in result.stdout


def test_watch_version_waits_for_that_versions_rollout_then_follows_it(api: FakeApi) -> None:
    canary = fixture("detail_canary.json")
    none_yet = error("unknown_endpoint", "no rollout is known for endpoint fraud-scoring", "-")
    older = with_phase(canary, "Succeeded", id="r-old", version="6")
    replies = [(404, none_yet), (200, older), (200, canary), (200, with_phase(canary, "Aborted"))]
    api.route("GET", DETAIL, _sequence(replies))
    watcher, out, _ = _watcher(api, version="7")
    assert watcher.run() == 12
    assert len(api.seen) == 4
    assert "ended: Aborted (exit 12)" in out.getvalue()


def test_watch_version_times_out_when_it_never_starts(api: FakeApi) -> None:
    api.reply("GET", DETAIL, 200, with_phase(fixture("detail_canary.json"), "Succeeded"))
    ticks = iter(range(100))
    watcher, _, _ = _watcher(api, version="8", timeout=3.0, monotonic=lambda: float(next(ticks)))
    assert watcher.run() == watch.EXIT_TIMEOUT


def test_watch_without_version_stops_on_an_unknown_endpoint(api: FakeApi, cli: Cli) -> None:
    result = cli("get", "nope", "--watch")
    assert result.exit_code == 1
    assert "not_found" in result.stderr
