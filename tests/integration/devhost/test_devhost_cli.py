"""devhost start-up options, generated keys, host.json routePrefix, shutdown and bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from devhost_harness import DevhostProcess, run_devhost, start_devhost, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def prefixed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevhostProcess]:
    """prefix_app with host.json routePrefix 'v1', no key in settings, timers off."""
    workdir = tmp_path_factory.mktemp("devhost-prefix")
    proc = start_devhost(
        workdir,
        ["--app", "prefix_app:app", "--no-timers"],
        settings={"Values": {"FUNCTIONS_WORKER_RUNTIME": "python"}},
        host_json={"version": "2.0", "extensions": {"http": {"routePrefix": "v1"}}},
    )
    try:
        yield proc
    finally:
        proc.stop()


def test_generated_key_is_in_the_ready_file_and_works(prefixed: DevhostProcess) -> None:
    """Without DEVHOST_FUNCTION_KEY a random key is generated and published."""
    assert prefixed.ready["key_source"] == "generated"
    assert len(prefixed.key) >= 32
    assert prefixed.request("GET", "/v1/hello").status == 401
    assert prefixed.request("GET", f"/v1/hello?code={prefixed.key}").body == b"hello"


def test_host_json_route_prefix_replaces_api(prefixed: DevhostProcess) -> None:
    """extensions.http.routePrefix 'v1' serves /v1/hello; /api/hello is not a route."""
    assert prefixed.ready["route_prefix"] == "v1"
    assert prefixed.request("GET", f"/api/hello?code={prefixed.key}").status == 404


def test_no_timers_leaves_timers_unscheduled(prefixed: DevhostProcess) -> None:
    """With --no-timers a run_on_startup timer does not run; the ready file says so."""
    ticker = next(f for f in prefixed.ready["functions"] if f["name"] == "ticker")
    assert ticker["scheduled"] is False
    assert "reason=RunOnStartup" not in prefixed.log()


def test_failing_timer_run_is_logged_not_fatal(prefixed: DevhostProcess) -> None:
    """A timer that raises (run via the admin endpoint) is logged as Failed; devhost lives on."""
    reply = prefixed.request(
        "POST",
        "/admin/functions/ticker",
        body='{"input": ""}',
        headers={"x-functions-key": prefixed.key},
    )
    assert reply.status == 202
    assert wait_for(lambda: "Executed 'Functions.ticker' (Failed" in prefixed.log())
    assert prefixed.request("GET", f"/v1/hello?code={prefixed.key}").status == 200


def test_sigterm_stops_gracefully_and_removes_ready_file(tmp_path: Path) -> None:
    """SIGTERM: exit code 0, 'devhost stopped' logged, ready file removed."""
    proc = start_devhost(
        tmp_path, ["--app", "prefix_app:app", "--no-timers"], settings={"Values": {}}
    )
    assert proc.ready_file.exists()
    assert proc.stop() == 0
    assert not proc.ready_file.exists()
    assert "devhost stopped" in proc.log()


def test_missing_explicit_settings_file_is_an_error(tmp_path: Path) -> None:
    """--settings naming a missing file exits 2 with a clear message."""
    done = run_devhost(tmp_path, ["--app", "prefix_app:app", "--settings", "nope.json"])
    assert done.returncode == 2
    assert "nope.json does not exist" in done.stderr


def test_invalid_settings_json_is_an_error(tmp_path: Path) -> None:
    """A local.settings.json that is not JSON exits 2 and names the file."""
    (tmp_path / "local.settings.json").write_text("{oops", encoding="utf-8")
    done = run_devhost(tmp_path, ["--app", "prefix_app:app"])
    assert done.returncode == 2
    assert "local.settings.json is not valid JSON" in done.stderr


def test_unimportable_app_is_an_error(tmp_path: Path) -> None:
    """An app module that cannot be imported exits 1."""
    done = run_devhost(tmp_path, ["--app", "no_such_module_here:app"])
    assert done.returncode == 1
    assert "cannot import no_such_module_here:app" in done.stderr


def test_app_attribute_that_is_not_a_function_app_is_an_error(tmp_path: Path) -> None:
    """--app pointing at something without get_functions() exits 1."""
    done = run_devhost(tmp_path, ["--app", "prefix_app:func"])
    assert done.returncode == 1
    assert "has no get_functions()" in done.stderr


def test_non_loopback_host_is_refused(tmp_path: Path) -> None:
    """devhost is for local runs: --host 0.0.0.0 is refused."""
    done = run_devhost(tmp_path, ["--host", "0.0.0.0"])
    assert done.returncode == 2
    assert "not a loopback address" in done.stderr


def test_ready_file_is_json_with_pid(prefixed: DevhostProcess) -> None:
    """The ready file on disk is the JSON the fixture read, with the server's pid."""
    on_disk = json.loads(prefixed.ready_file.read_text(encoding="utf-8"))
    assert on_disk["pid"] == prefixed.process.pid
    assert on_disk["base_url"] == prefixed.base_url
