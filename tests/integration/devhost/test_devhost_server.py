"""devhost serving tests/integration/devhost/apps/sample_app.py over loopback HTTP."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from devhost_harness import DevhostProcess, read_records, start_devhost, wait_for

pytestmark = pytest.mark.integration

KEY = "test-function-key-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevhostProcess]:
    workdir = tmp_path_factory.mktemp("devhost-sample")
    record = workdir / "record.jsonl"
    settings = {
        "IsEncrypted": False,
        "Values": {
            "FUNCTIONS_WORKER_RUNTIME": "python",
            "DEVHOST_FUNCTION_KEY": KEY,
            "DEVHOST_TEST_RECORD": str(record),
            "DEVHOST_TEST_SCHEDULE": "0 0 0 1 1 *",
            "DEVHOST_TEST_GREETING": "from-settings",
            "DEVHOST_TEST_ONLY_SETTINGS": "settings-value",
        },
    }
    proc = start_devhost(
        workdir,
        ["--app", "sample_app:app"],
        settings=settings,
        env={"DEVHOST_TEST_GREETING": "from-environment"},
    )
    try:
        yield proc
    finally:
        proc.stop()


def records(host: DevhostProcess, function: str | None = None) -> list[dict[str, Any]]:
    found = read_records(host.workdir / "record.jsonl")
    return [r for r in found if function is None or r["function"] == function]


def event(event_id: str, subject: str = "models/m:1", **extra: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "topic": "/subscriptions/s/resourceGroups/rg/providers/X/workspaces/ws",
        "subject": subject,
        "eventType": "Microsoft.MachineLearningServices.ModelRegistered",
        "eventTime": "2026-01-02T03:04:05Z",
        "data": {"ModelName": "m", "ModelVersion": "1"},
        "dataVersion": "2",
        **extra,
    }


def post_events(
    host: DevhostProcess, body: Any, *, function: str = "on_event", key: str | None = KEY
) -> Any:
    raw = body if isinstance(body, (str, bytes)) else json.dumps(body)
    query = f"?functionName={function}" + (f"&code={key}" if key else "")
    return host.request(
        "POST",
        "/runtime/webhooks/EventGrid" + query,
        body=raw,
        headers={"aeg-event-type": "Notification", "Content-Type": "application/json"},
    )


def events_with(host: DevhostProcess, event_id: str) -> list[dict[str, Any]]:
    return [r for r in records(host, "on_event") if r["id"] == event_id]


# --------------------------------------------------------------------------- ready file
def test_ready_file_lists_functions_routes_and_key(host: DevhostProcess) -> None:
    """The ready file names base URL, key, pid and each function with its trigger."""
    ready = host.ready
    assert ready["function_key"] == KEY and ready["key_source"] == "local settings"
    assert ready["pid"] == host.process.pid
    assert ready["base_url"].startswith("http://127.0.0.1:")
    by_name = {f["name"]: f for f in ready["functions"]}
    assert by_name["echo"]["route"] == "/api/echo/{id:int}/{name:alpha?}"
    assert by_name["echo"]["methods"] == ["GET", "POST"]
    assert by_name["on_event"]["webhook_url"].endswith(
        "/runtime/webhooks/EventGrid?functionName=on_event"
    )
    assert by_name["every_second"]["schedule"] == "*/1 * * * * *"
    assert by_name["from_setting"]["schedule"] == "0 0 0 1 1 *"


def test_unsupported_trigger_is_skipped_with_a_reason(host: DevhostProcess) -> None:
    """A queue trigger is skipped (listed with its reason), not served, and nothing crashes."""
    skipped = {s["name"]: s for s in host.ready["skipped"]}
    assert skipped["on_queue"]["trigger"] == "queueTrigger"
    assert "not supported by devhost" in skipped["on_queue"]["reason"]
    assert "on_queue" not in {f["name"] for f in host.ready["functions"]}
    assert "Function 'on_queue' skipped" in host.log()


# --------------------------------------------------------------------------- settings
def test_local_settings_reach_the_app_environment(host: DevhostProcess) -> None:
    """Values of local.settings.json are environment variables inside the functions."""
    reply = host.request("GET", "/api/setting/DEVHOST_TEST_ONLY_SETTINGS")
    assert reply.status == 200 and reply.body == b"settings-value"


def test_environment_wins_over_local_settings(host: DevhostProcess) -> None:
    """A variable already set in the environment is not overridden by local settings."""
    reply = host.request("GET", "/api/setting/DEVHOST_TEST_GREETING")
    assert reply.body == b"from-environment"
    assert "Skipping 'DEVHOST_TEST_GREETING'" in host.log()


# --------------------------------------------------------------------------- HTTP
def test_route_params_query_headers_and_body_reach_the_function(host: DevhostProcess) -> None:
    """POST /api/echo/7/bob?x=1 passes route params, query, headers and body through."""
    reply = host.request(
        "POST", "/api/echo/7/bob?x=1&y=two", body="payload", headers={"x-test": "hdr"}
    )
    assert reply.status == 200
    seen = reply.json()
    assert seen["method"] == "POST"
    assert seen["route_params"] == {"id": "7", "name": "bob"}
    assert seen["params"] == {"x": "1", "y": "two"}
    assert seen["body"] == "payload" and seen["header"] == "hdr"
    assert seen["url"].endswith("/api/echo/7/bob?x=1&y=two")


def test_optional_route_param_may_be_left_out(host: DevhostProcess) -> None:
    """{name:alpha?} is optional: /api/echo/7 matches without it."""
    reply = host.request("GET", "/api/echo/7")
    assert reply.status == 200 and reply.json()["route_params"] == {"id": "7"}


def test_int_constraint_refuses_non_numbers(host: DevhostProcess) -> None:
    """{id:int} does not match 'abc': no route, 404."""
    assert host.request("GET", "/api/echo/abc").status == 404


def test_alpha_constraint_refuses_digits(host: DevhostProcess) -> None:
    """{name:alpha} does not match '123'."""
    assert host.request("GET", "/api/echo/7/123").status == 404


def test_literal_route_wins_over_parameter(host: DevhostProcess) -> None:
    """/api/echo/special goes to the literal route, not to echo/{id:int}."""
    reply = host.request("GET", "/api/echo/special")
    assert reply.status == 200 and reply.body == b"special"


def test_undeclared_method_is_404(host: DevhostProcess) -> None:
    """DELETE on a GET/POST route answers 404, as the host does."""
    assert host.request("DELETE", "/api/echo/7").status == 404


def test_unknown_path_is_404(host: DevhostProcess) -> None:
    """A path no function routes is 404."""
    assert host.request("GET", "/api/no-such-function").status == 404


def test_function_level_needs_the_key(host: DevhostProcess) -> None:
    """FUNCTION auth: 401 without a key or with a wrong one."""
    assert host.request("GET", "/api/secure").status == 401
    assert host.request("GET", "/api/secure?code=wrong").status == 401
    assert host.request("GET", "/api/secure", headers={"x-functions-key": "nope"}).status == 401


def test_function_level_accepts_header_or_code(host: DevhostProcess) -> None:
    """FUNCTION auth: the key works in x-functions-key and in ?code=."""
    assert host.request("GET", "/api/secure", headers={"x-functions-key": KEY}).body == b"secret"
    assert host.request("GET", f"/api/secure?code={KEY}").body == b"secret"


def test_admin_level_needs_the_key(host: DevhostProcess) -> None:
    """ADMIN auth: 401 without the key, 200 with it."""
    assert host.request("GET", "/api/admin-only").status == 401
    assert host.request("GET", f"/api/admin-only?code={KEY}").body == b"admin"


def test_http_response_status_headers_and_charset(host: DevhostProcess) -> None:
    """HttpResponse status, headers, mimetype and charset are encoded as given."""
    reply = host.request("POST", "/api/made")
    assert reply.status == 201
    assert reply.headers["X-Custom"] == "yes"
    assert reply.headers["Location"] == "/api/made/1"
    assert reply.headers["Content-Type"] == "text/html; charset=latin-1"
    assert reply.body == b"<p>made</p>"


def test_plain_string_return_is_text_200(host: DevhostProcess) -> None:
    """A str return value becomes a 200 text/plain response."""
    reply = host.request("GET", f"/api/secure?code={KEY}")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/plain")


def test_exception_is_500_without_details(host: DevhostProcess) -> None:
    """An unhandled exception answers 500 with no trace in the body; the log has it."""
    reply = host.request("GET", "/api/boom")
    assert reply.status == 500
    assert b"kaboom" not in reply.body and b"Traceback" not in reply.body
    log = wait_for(lambda: "kaboom-secret-detail" in host.log() and host.log())
    assert "Traceback" in log and "Executed 'Functions.boom' (Failed" in log


def test_none_return_is_a_failed_invocation(host: DevhostProcess) -> None:
    """Returning None from an HTTP function is a 500, as in the Python worker."""
    assert host.request("GET", "/api/nothing").status == 500


def test_async_function_is_awaited(host: DevhostProcess) -> None:
    """Coroutine functions are awaited and their response returned."""
    reply = host.request("GET", "/api/async?who=devhost")
    assert reply.status == 200 and reply.body == b"async devhost"


def test_context_parameter_gets_function_context(host: DevhostProcess) -> None:
    """A 'context' parameter receives an azure.functions.Context for the invocation."""
    seen = host.request("GET", "/api/context").json()
    assert seen["function_name"] == "with_context"
    assert uuid.UUID(seen["invocation_id"])


def test_invocations_are_logged_with_outcome_and_duration(host: DevhostProcess) -> None:
    """Each invocation logs function, trigger, outcome and duration at INFO."""
    host.request("GET", "/api/echo/1")
    log = wait_for(lambda: "Executed 'Functions.echo' (Succeeded" in host.log() and host.log())
    line = next(ln for ln in log.splitlines() if "Executed 'Functions.echo' (Succeeded" in ln)
    assert "INFO" in line and "trigger=httpTrigger" in line and "Duration=" in line


# --------------------------------------------------------------------------- Event Grid
def test_event_grid_subscription_validation_handshake(host: DevhostProcess) -> None:
    """aeg-event-type SubscriptionValidation answers {"validationResponse": code}."""
    body = [
        {
            "id": "v1",
            "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
            "subject": "",
            "data": {"validationCode": "ABC-123", "validationUrl": "https://example.invalid"},
            "dataVersion": "2",
        }
    ]
    reply = host.request(
        "POST",
        f"/runtime/webhooks/EventGrid?functionName=on_event&code={KEY}",
        body=json.dumps(body),
        headers={"aeg-event-type": "SubscriptionValidation"},
    )
    assert reply.status == 200 and reply.json() == {"validationResponse": "ABC-123"}


def test_event_grid_notification_invokes_once_per_event(host: DevhostProcess) -> None:
    """An array of two events invokes the function twice, with the event fields."""
    a, b = f"a-{uuid.uuid4()}", f"b-{uuid.uuid4()}"
    reply = post_events(host, [event(a), event(b, subject="models/m:2")])
    assert reply.status == 200
    got = wait_for(lambda: events_with(host, a) and events_with(host, b))
    assert got
    first = events_with(host, a)[0]
    assert first["kind"] == "eventgrid"
    assert first["type"] == "Microsoft.MachineLearningServices.ModelRegistered"
    assert first["subject"] == "models/m:1"
    assert first["data"] == {"ModelName": "m", "ModelVersion": "1"}
    assert first["time"].startswith("2026-01-02T03:04:05")


def test_event_grid_single_object_body_is_accepted(host: DevhostProcess) -> None:
    """One event object (not in an array) is delivered too."""
    one = f"one-{uuid.uuid4()}"
    assert post_events(host, event(one)).status == 200
    assert len(events_with(host, one)) == 1


def test_event_grid_duplicates_are_all_delivered(host: DevhostProcess) -> None:
    """At-least-once: the same event twice in a batch and again in a second POST reaches
    the function three times (deduplication is the app's job, as in Azure)."""
    dup = f"dup-{uuid.uuid4()}"
    assert post_events(host, [event(dup), event(dup)]).status == 200
    assert post_events(host, [event(dup)]).status == 200
    assert len(events_with(host, dup)) == 3


def test_event_grid_cloud_event_schema(host: DevhostProcess) -> None:
    """CloudEvents 1.0 (specversion) events are delivered as func.CloudEvent."""
    ce = f"ce-{uuid.uuid4()}"
    body = {
        "specversion": "1.0",
        "id": ce,
        "source": "/subscriptions/s/workspaces/ws",
        "type": "Microsoft.MachineLearningServices.ModelRegistered",
        "time": "2026-01-02T03:04:05Z",
        "data": {"ModelName": "m"},
    }
    assert post_events(host, [body]).status == 200
    seen = events_with(host, ce)
    assert seen and seen[0]["kind"] == "cloud" and seen[0]["data"] == {"ModelName": "m"}


def test_event_grid_failure_is_500_and_others_still_run(host: DevhostProcess) -> None:
    """One raising event makes the answer 500 (Event Grid retries); the rest ran."""
    ok, bad = f"ok-{uuid.uuid4()}", f"bad-{uuid.uuid4()}"
    reply = post_events(host, [event(ok), event(bad, subject="fail")])
    assert reply.status == 500
    assert b"Traceback" not in reply.body
    assert len(events_with(host, ok)) == 1 and len(events_with(host, bad)) == 1


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "[1, 2]",
        '"a string"',
        json.dumps([{"id": "x", "subject": "s"}]),
    ],
    ids=["invalid-json", "not-objects", "scalar", "missing-eventType"],
)
def test_event_grid_malformed_body_is_400_and_invokes_nothing(
    host: DevhostProcess, body: str
) -> None:
    """A malformed Notification body is refused with 400 before any invocation."""
    before = len(records(host, "on_event"))
    assert post_events(host, body).status == 400
    assert len(records(host, "on_event")) == before


def test_event_grid_malformed_batch_invokes_none_of_it(host: DevhostProcess) -> None:
    """A batch with one bad event is refused whole: its good event is not invoked."""
    good = f"good-{uuid.uuid4()}"
    assert post_events(host, [event(good), {"id": "no-type"}]).status == 400
    assert events_with(host, good) == []


def test_event_grid_unknown_function_is_404(host: DevhostProcess) -> None:
    """functionName that is not an Event Grid function: 404."""
    assert post_events(host, [event("x")], function="nope").status == 404
    assert post_events(host, [event("x")], function="echo").status == 404


def test_event_grid_needs_the_key(host: DevhostProcess) -> None:
    """The webhook needs the key (code or x-functions-key)."""
    assert post_events(host, [event("x")], key=None).status == 401
    reply = host.request(
        "POST",
        "/runtime/webhooks/EventGrid?functionName=on_event",
        body=json.dumps([event(f"h-{uuid.uuid4()}")]),
        headers={"aeg-event-type": "Notification", "x-functions-key": KEY},
    )
    assert reply.status == 200


def test_event_grid_without_event_type_header_is_400(host: DevhostProcess) -> None:
    """No aeg-event-type header: 400, as the extension answers."""
    reply = host.request(
        "POST",
        f"/runtime/webhooks/EventGrid?functionName=on_event&code={KEY}",
        body=json.dumps([event("x")]),
    )
    assert reply.status == 400


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
    """A 1.5 s run on a 1 s schedule: occurrences during a run are skipped and logged."""
    assert wait_for(
        lambda: len([r for r in records(host, "slow_tick") if r["phase"] == "end"]) >= 2,
        timeout=10,
    )
    phases = [r["phase"] for r in records(host, "slow_tick")]
    # strictly start, end, start, end, ...: never two starts in a row
    assert all(a != b for a, b in itertools.pairwise(phases))
    assert "Timer 'slow_tick': skipping" in host.log()


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


def test_event_grid_unsubscribe_is_accepted(host: DevhostProcess) -> None:
    """aeg-event-type Unsubscribe answers 202 and invokes nothing, as the extension does."""
    before = len(records(host, "on_event"))
    reply = host.request(
        "POST",
        f"/runtime/webhooks/EventGrid?functionName=on_event&code={KEY}",
        body="[]",
        headers={"aeg-event-type": "Unsubscribe"},
    )
    assert reply.status == 202
    assert len(records(host, "on_event")) == before
