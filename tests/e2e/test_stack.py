"""The local stack stops everything it started, and refuses options that cannot work."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import pytest

from localstack.appclient import http
from localstack.options import StackError, StackOptions
from localstack.stack import Stack

pytestmark = pytest.mark.e2e


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_stop_ends_every_process_and_removes_the_state_and_the_api_wants_its_key() -> None:
    stack = Stack(StackOptions()).start()
    try:
        assert stack.app.api("GET", "rollouts/none-here").status == 404  # the app answers
        # devhost serves the API routes ANONYMOUS, as the host would: the app itself answers a
        # missing key, in the JSON error shape
        keyless = http("GET", f"{stack.app.base_url}/api/rollouts")
        assert keyless.status == 401 and keyless.body["error"]["code"] == "unauthorized"
        assert keyless.body["error"]["hint"]
        devhost, emulator = stack.devhost_pid, stack.emulator.pid
        found = re.search(r"TableEndpoint=http://127\.0\.0\.1:(\d+)/", stack.storage_connection)
        assert devhost is not None and found is not None
        azurite_port = int(found.group(1))
        state = stack.state_dir
        assert _alive(devhost) and _alive(emulator) and _answers(azurite_port)
    finally:
        stack.stop()
    assert not _alive(devhost)
    assert not _alive(emulator)
    assert not _answers(azurite_port)
    assert not state.exists()


def test_missing_policy_file_is_refused_before_anything_starts(tmp_path: Path) -> None:
    stack = Stack(StackOptions(policy_file=tmp_path / "missing.yaml", state_dir=tmp_path / "s"))
    with pytest.raises(StackError, match="does not exist"):
        stack.start()
    assert not (tmp_path / "s").exists()
