"""devhost runs the Python worker's own load checks at start-up (devhost.worker_check)."""

from __future__ import annotations

from pathlib import Path

import pytest
from devhost_harness import run_devhost, start_devhost

pytestmark = pytest.mark.integration

UNION_APP = """
import azure.functions as func

app = func.FunctionApp()

@app.event_grid_trigger(arg_name="event")
def on_event(event: func.EventGridEvent | func.CloudEvent) -> None:
    return None
"""


def test_app_the_worker_refuses_is_not_served(tmp_path: Path) -> None:
    """A union-annotated Event Grid parameter: devhost exits 1 with the worker's message."""
    (tmp_path / "union_app.py").write_text(UNION_APP, encoding="utf-8")
    done = run_devhost(tmp_path, ["--app", "union_app:app", "--port", "0"])
    assert done.returncode == 1
    assert "cannot load the on_event function" in done.stderr
    assert "binding event has invalid non-type annotation" in done.stderr


def test_no_worker_check_serves_it_anyway(tmp_path: Path) -> None:
    """--no-worker-check skips the worker's checks (devhost's own discovery still runs)."""
    (tmp_path / "union_app.py").write_text(UNION_APP, encoding="utf-8")
    proc = start_devhost(tmp_path, ["--app", "union_app:app", "--no-worker-check", "--no-timers"])
    try:
        assert [f["name"] for f in proc.ready["functions"]] == ["on_event"]
    finally:
        proc.stop()
