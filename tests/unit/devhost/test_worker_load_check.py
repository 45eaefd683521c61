"""The Python worker's own indexing and binding checks (azure-functions-runtime), run on our app.

The worker refuses a binding annotation that is not a plain type ("binding X has invalid
non-type annotation"; azure_functions_runtime/functions.py, Registry.validate_function_params;
the same check in Azure/azure-functions-python-worker azure_functions_worker/functions.py):
the host then indexes no function of the app at all.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import azure.functions as func
import pytest

from devhost.bindings import AppLoadError
from devhost.worker_check import validate

REPO_ROOT = Path(__file__).resolve().parents[3]

UNION_APP = """
import azure.functions as func

app = func.FunctionApp()

@app.event_grid_trigger(arg_name="event")
def on_event(event: func.EventGridEvent | func.CloudEvent) -> None:
    return None
"""


def _run_check(workdir: Path, module: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devhost.worker_check", module],
        cwd=workdir,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_function_app_is_loaded_by_the_python_worker() -> None:
    """function_app indexes and every one of its six functions passes the worker's checks."""
    done = _run_check(REPO_ROOT, "function_app")
    assert done.returncode == 0, done.stderr
    for name in (
        "on_model_registered",
        "reconcile_rollouts",
        "on_alert",
        "rollout_action",
        "dashboard",
        "dashboard_asset",
        "health",
    ):
        assert name in done.stdout
    assert "loads 18 function(s)" in done.stdout


def test_union_annotation_is_refused_with_the_workers_message(tmp_path: Path) -> None:
    """The defect: an Event Grid parameter annotated EventGridEvent | CloudEvent is refused."""
    (tmp_path / "union_app.py").write_text(UNION_APP, encoding="utf-8")
    done = _run_check(tmp_path, "union_app")
    assert done.returncode == 1
    assert "cannot load the on_event function" in done.stderr
    assert "binding event has invalid non-type annotation" in done.stderr


def test_two_function_apps_in_one_module_are_refused(tmp_path: Path) -> None:
    """The worker's indexing finds exactly one top-level FunctionApp, or refuses the module."""
    source = (
        "import azure.functions as func\napp = func.FunctionApp()\nother = func.FunctionApp()\n"
    )
    (tmp_path / "two_apps.py").write_text(source, encoding="utf-8")
    done = _run_check(tmp_path, "two_apps")
    assert done.returncode == 1
    assert "More than one FunctionApp" in done.stderr


def _app_with(source: str) -> func.FunctionApp:
    namespace: dict[str, object] = {}
    exec(textwrap.dedent(source), namespace)  # builds decorated functions like a module does
    app = namespace["app"]
    assert isinstance(app, func.FunctionApp)
    return app


def test_plain_event_grid_annotation_passes_in_process() -> None:
    """A plain func.EventGridEvent parameter (the fix) is accepted by the worker."""
    plain = UNION_APP.replace("func.EventGridEvent | func.CloudEvent", "func.EventGridEvent")
    app = _app_with(plain)
    validate(app.get_functions(), str(REPO_ROOT))


def test_union_annotation_raises_apploaderror_in_process() -> None:
    """validate() turns the worker's FunctionLoadError into AppLoadError with its message."""
    app = _app_with(UNION_APP)
    with pytest.raises(AppLoadError, match="invalid non-type annotation"):
        validate(app.get_functions(), str(REPO_ROOT))


def test_wrong_trigger_type_is_refused_in_process() -> None:
    """An HTTP trigger annotated as an Event Grid event does not match its converter."""
    app = _app_with(
        """
        import azure.functions as func
        app = func.FunctionApp()

        @app.route(route="x")
        def x(req: func.EventGridEvent) -> func.HttpResponse:
            return func.HttpResponse("x")
        """
    )
    with pytest.raises(AppLoadError, match="do not match the corresponding function parameter"):
        validate(app.get_functions(), str(REPO_ROOT))
