"""devhost serving the sample app over loopback HTTP: ready file, settings, HTTP functions."""

from __future__ import annotations

import uuid

import pytest
from devhost_harness import DevhostProcess, wait_for
from sample_host import KEY

pytestmark = pytest.mark.integration


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
