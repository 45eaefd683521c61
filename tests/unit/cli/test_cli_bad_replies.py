"""Replies the CLI cannot use: a broken HTTP message is a connection error (exit 3); a body that
is not the document the command expects is an "unexpected reply" (exit 1). Never a traceback,
never a view of nothing."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from rich.console import Console
from typer.testing import Result

from autocanary_cli import config, fmt, replies, watch
from autocanary_cli.client import ApiError, Client
from tests.unit.cli.conftest import Cli
from tests.unit.cli.fakeapi import FakeApi, fixture, with_phase

DETAIL = "/api/rollouts/fraud-scoring"


def _no_traceback(result: Result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception


def _unexpected(result: Result, problem: str) -> None:
    assert result.exit_code == 1, result.output
    _no_traceback(result)
    assert "unexpected_reply: unexpected reply from the server to " in result.stderr
    assert problem in result.stderr
    assert "hint: check that --url is an autocanary app" in result.stderr


def test_a_garbled_status_line_is_a_connection_error_exiting_3(api: FakeApi, cli: Cli) -> None:
    api.raw("GET", DETAIL, b"HELLO WORLD\r\n\r\n")
    result = cli("get", "fraud-scoring")
    assert result.exit_code == 3, result.output
    _no_traceback(result)
    assert "sent a broken HTTP reply: BadStatusLine" in result.stderr


def test_a_body_cut_short_is_a_connection_error_exiting_3(api: FakeApi, cli: Cli) -> None:
    cut = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":'
    api.raw("GET", DETAIL, cut)
    result = cli("get", "fraud-scoring")
    assert result.exit_code == 3, result.output
    _no_traceback(result)
    assert "sent a broken HTTP reply: IncompleteRead(5 bytes read" in result.stderr


def test_an_error_reply_cut_short_still_gives_its_status(api: FakeApi, cli: Cli) -> None:
    cut = b"HTTP/1.1 503 Unavailable\r\nContent-Length: 100\r\n\r\n{"
    api.raw("GET", DETAIL, cut)
    result = cli("get", "fraud-scoring")
    assert result.exit_code == 1, result.output
    _no_traceback(result)
    assert "error 503 http_503: Unavailable" in result.stderr


def test_watch_rides_out_a_broken_reply_like_an_unreachable_api(api: FakeApi) -> None:
    canary = fixture("detail_canary.json")
    api.reply("GET", DETAIL, 200, canary)
    between_reads = iter(
        [
            lambda: api.raw("GET", DETAIL, b"HELLO WORLD\r\n\r\n"),
            lambda: api.reply("GET", DETAIL, 200, with_phase(canary, "Succeeded")),
        ]
    )
    problems: list[str | None] = []

    def sleep(seconds: float) -> None:
        problems.append(watcher.problem)
        next(between_reads)()

    watcher = watch.Watcher(
        Client(config.Config(url=api.url, key="k", source="flag")),
        "fraud-scoring",
        Console(file=io.StringIO(), width=160),
        interval=0.0,
        sleep=sleep,
    )
    assert watcher.run() == 0
    assert len(api.seen) == 3
    assert problems[0] is None and "sent a broken HTTP reply: BadStatusLine" in str(problems[1])


def test_a_reply_nested_deeper_than_the_recursion_limit_is_an_unexpected_reply(
    api: FakeApi, cli: Cli
) -> None:
    api.reply("GET", DETAIL, 200, b"[" * 100_000)
    _unexpected(cli("get", "fraud-scoring"), "JSON nested deeper than 100 levels")


def test_a_reply_nested_deeper_than_max_depth_is_an_unexpected_reply(
    api: FakeApi, cli: Cli
) -> None:
    deep: Any = {}
    for _ in range(replies.MAX_DEPTH):  # json.loads reads it: the depth check refuses it
        deep = {"a": deep}
    doc = fixture("detail_canary.json")
    doc["rollout"]["policy"]["deep"] = deep
    api.reply("GET", DETAIL, 200, json.dumps(doc).encode())
    _unexpected(cli("get", "fraud-scoring", "-o", "json"), "JSON nested deeper than 100 levels")


def test_an_error_reply_nested_too_deeply_still_gives_its_status(api: FakeApi, cli: Cli) -> None:
    api.reply("GET", DETAIL, 404, b"[" * 100_000)
    result = cli("get", "fraud-scoring")
    assert result.exit_code == 1, result.output
    _no_traceback(result)
    assert "error 404 http_404" in result.stderr


def test_a_number_out_of_any_range_is_an_unexpected_reply(api: FakeApi, cli: Cli) -> None:
    doc = fixture("detail_canary.json")
    doc["rollout"]["readings"][0]["canary"] = 10**400
    api.reply("GET", DETAIL, 200, json.dumps(doc).encode())
    _unexpected(cli("get", "fraud-scoring"), "a number out of range")


def test_a_reply_that_is_not_json_is_an_unexpected_reply(api: FakeApi, cli: Cli) -> None:
    api.reply("GET", DETAIL, 200, b"<html>")
    _unexpected(cli("get", "fraud-scoring"), "GET /api/rollouts/fraud-scoring: not JSON")


def _detail_with(**rollout: Any) -> dict[str, Any]:
    doc = fixture("detail_canary.json")
    doc["rollout"].update(rollout)
    return doc


PAUSE = "/api/rollouts/fraud-scoring/pause"
ACT = ("-r", "x", "--actor", "ann")


@pytest.mark.parametrize(
    ("args", "method", "route", "body", "problem"),
    [
        (("get", "fraud-scoring"), "GET", DETAIL, {"rollout": "x"}, "rollout is a string"),
        (("get", "fraud-scoring"), "GET", DETAIL, [1, 2], "the reply is a list, not an object"),
        (
            ("get", "fraud-scoring"),
            "GET",
            DETAIL,
            _detail_with(why={"canary": 5}),
            "rollout.why.canary is a number, not an object",
        ),
        (
            ("get", "fraud-scoring"),
            "GET",
            DETAIL,
            _detail_with(traffic={"wanted": [1]}),
            "rollout.traffic.wanted is a list, not an object",
        ),
        (
            ("get", "fraud-scoring"),
            "GET",
            DETAIL,
            {**fixture("detail_canary.json"), "decisions": [{}, 1]},
            "decisions[1] is a number, not an object",
        ),
        (("get", "fraud-scoring", "--watch"), "GET", DETAIL, {"rollout": "x"}, "rollout is"),
        (("list",), "GET", "/api/rollouts", {"rollouts": [1]}, "rollouts[0] is a number"),
        (("list",), "GET", "/api/rollouts", {"rollouts": "x"}, "rollouts is a string"),
        (
            ("history", "fraud-scoring"),
            "GET",
            DETAIL + "/history",
            {"rollouts": [1]},
            "rollouts[0] is a number",
        ),
        (("why", "fraud-scoring"), "GET", DETAIL, _detail_with(why="s"), "rollout.why is a"),
        (("events",), "GET", "/api/events", {"events": [1]}, "events[0] is a number"),
        (
            ("events",),
            "GET",
            "/api/events",
            {"events": [{"model": "x"}]},
            "events[0].model is a string",
        ),
        (("pause", "fraud-scoring", *ACT), "POST", PAUSE, {"rollout": 5}, "rollout is a number"),
        (
            ("pause", "fraud-scoring", *ACT),
            "POST",
            PAUSE,
            {"outcome": "done", "waiting": {"model": "x"}},
            "waiting.model is a string",
        ),
    ],
)
def test_a_reply_of_the_wrong_shape_is_an_unexpected_reply_exiting_1(
    api: FakeApi,
    cli: Cli,
    args: tuple[str, ...],
    method: str,
    route: str,
    body: Any,
    problem: str,
) -> None:
    api.reply(method, route, 200, body)
    result = cli(*args)
    _unexpected(result, problem)
    if "--watch" not in args:
        assert result.stdout == ""


def test_an_empty_reply_to_get_is_an_unexpected_reply_not_an_empty_view(
    api: FakeApi, cli: Cli
) -> None:
    api.reply("GET", DETAIL, 200, {})
    result = cli("get", "fraud-scoring")
    _unexpected(result, "the reply has no rollout")
    assert result.stdout == ""


def test_an_empty_reply_to_get_watch_stops_at_once(api: FakeApi, cli: Cli) -> None:
    api.reply("GET", DETAIL, 200, {})
    result = cli("get", "fraud-scoring", "--watch", "--interval", "0.1", "--timeout", "5")
    _unexpected(result, "the reply has no rollout")
    assert len(api.seen) == 1


def test_a_rollout_without_id_or_phase_is_an_unexpected_reply(api: FakeApi, cli: Cli) -> None:
    api.reply("GET", DETAIL, 200, {"rollout": {"phase": "Canary"}})
    _unexpected(cli("get", "fraud-scoring"), "rollout has no id")


def test_an_empty_reply_to_pause_is_an_unexpected_reply_not_done(api: FakeApi, cli: Cli) -> None:
    api.reply("POST", PAUSE, 200, {})
    result = cli("pause", "fraud-scoring", *ACT)
    _unexpected(result, "the reply has no rollout and no outcome")
    assert "done" not in result.stdout


def test_an_empty_reply_to_list_is_an_unexpected_reply(api: FakeApi, cli: Cli) -> None:
    api.reply("GET", "/api/rollouts", 200, {})
    _unexpected(cli("list"), "the reply has no rollouts")


def test_an_unexpected_reply_gives_the_status_it_came_with(api: FakeApi, cli: Cli) -> None:
    api.reply("POST", "/api/rollouts", 202, {})
    result = cli("start", "fraud", "8", *ACT)
    _unexpected(result, "POST /api/rollouts: the reply has no rollout and no outcome")
    assert "error 202 unexpected_reply" in result.stderr


def test_fields_the_cli_does_not_read_may_be_of_any_type(api: FakeApi, cli: Cli) -> None:
    doc = _detail_with(readings={"cursor": "an older app's"}, extra=[1], policy="x")
    doc["history"] = "whatever"
    api.reply("GET", DETAIL, 200, doc)
    result = cli("get", "fraud-scoring")
    assert result.exit_code == 0, result.output
    assert "no reading yet" in result.stdout


def test_a_time_in_stage_that_is_no_finite_number_is_shown_as_a_dash(
    api: FakeApi, cli: Cli
) -> None:
    doc = fixture("detail_canary.json")
    doc["rollout"]["stage_timing"].update(started_at=None, time_in_stage_s="soon")
    doc["rollout"]["stage_timing"].update(deadline=None, time_left_s=float("nan"))
    api.reply("GET", DETAIL, 200, json.dumps(doc).encode())  # NaN as Python writes it
    result = cli("get", "fraud-scoring")
    assert result.exit_code == 0, result.output
    assert "- in stage, - left" in result.stdout


def test_a_unit_that_is_no_string_is_left_out(api: FakeApi, cli: Cli) -> None:
    doc = fixture("detail_canary.json")
    doc["rollout"]["readings"][0]["unit"] = 5
    api.reply("GET", DETAIL, 200, doc)
    result = cli("get", "fraud-scoring")
    assert result.exit_code == 0, result.output
    row = [line.split() for line in result.stdout.splitlines() if line.startswith(" error rate")]
    assert row[0][:4] == ["error", "rate", "0.31", "0.29"]


def test_the_shape_check_names_the_first_wrong_place() -> None:
    with pytest.raises(replies.Unexpected, match=r"^rollout\.why\.minutes_used is an object"):
        replies.check(_detail_with(why={"minutes_used": {}}), replies.DETAIL)


def test_a_watch_that_fails_ends_its_last_line_before_the_error() -> None:
    out = io.StringIO()

    class Failing(Client):
        def get(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            raise ApiError(200, "unexpected_reply", "unexpected reply from the server")

    client = Failing(config.Config(url="http://127.0.0.1:9", key=None, source="flag"))
    watcher = watch.Watcher(client, "fraud-scoring", Console(file=out, width=80))
    with pytest.raises(ApiError):
        watcher.run()
    assert out.getvalue().endswith("\n")


def test_fmt_duration_of_what_is_no_finite_number_is_a_dash() -> None:
    assert [fmt.duration(v) for v in (None, float("nan"), float("inf"), 61)] == [
        "-",
        "-",
        "-",
        "1m 01s",
    ]


def test_a_redirect_is_never_followed_so_the_api_key_stays_here(api: FakeApi, cli: Cli) -> None:
    """urllib copies every header, x-functions-key included, into the redirected request
    (HTTPRedirectHandler.redirect_request): the CLI refuses to follow instead."""
    elsewhere = f"{api.url}/api/elsewhere"
    api.raw("GET", DETAIL, f"HTTP/1.1 302 Found\r\nLocation: {elsewhere}\r\n\r\n".encode())
    result = cli("get", "fraud-scoring")
    assert result.exit_code == 1, result.output
    _no_traceback(result)
    assert "was redirected to" in result.stderr and "never follows a redirect" in result.stderr
    assert [s.path for s in api.seen] == [DETAIL]  # nothing was sent to the redirect's target
