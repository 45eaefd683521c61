"""Run an emulator for tests and demos: ``with running_emulator(tmp_path) as conn: ...``."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from emulator.connection import CONNECTION_FILE, Connection, load_connection

_PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)


def admin_request(
    conn: Connection, method: str, path: str, body: Any = None, timeout: float = 30.0
) -> Any:
    """Call the emulator's admin API (``path`` relative to ``/_emulator/``); return JSON."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"{conn.arm_url}_emulator/{path.lstrip('/')}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **conn.admin_headers()},
    )
    ctx = ssl.create_default_context(cafile=conn.cert_path)
    with urllib.request.urlopen(req, context=ctx, timeout=timeout) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


@contextlib.contextmanager
def running_emulator(
    state_dir: str | os.PathLike[str],
    *,
    bucket_seconds: float | None = None,
    provisioning_delay: float | None = None,
    retry_after: float | None = None,
    extra_args: list[str] | None = None,
    start_timeout: float = 30.0,
    log_path: str | os.PathLike[str] | None = None,
) -> Iterator[Connection]:
    """Start ``python -m emulator`` on a free loopback port; yield its connection.

    The process runs in its own process group, so stopping it at exit also stops its
    deployment workers.
    """
    state = Path(state_dir).resolve()
    state.mkdir(parents=True, exist_ok=True)
    conn_file = state / CONNECTION_FILE
    conn_file.unlink(missing_ok=True)
    args = [sys.executable, "-m", "emulator", "--port", "0", "--state-dir", str(state)]
    if bucket_seconds is not None:
        args += ["--bucket-seconds", str(bucket_seconds)]
    if provisioning_delay is not None:
        args += ["--provisioning-delay", str(provisioning_delay)]
    if retry_after is not None:
        args += ["--retry-after", str(retry_after)]
    args += extra_args or []
    env = dict(os.environ)
    env["PYTHONPATH"] = _PACKAGE_PARENT + os.pathsep + env.get("PYTHONPATH", "")
    out_path = Path(log_path) if log_path else state / "emulator.log"
    out = out_path.open("ab")
    proc = subprocess.Popen(
        args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    try:
        conn = _wait_ready(proc, conn_file, start_timeout, out_path)
        yield conn
    finally:
        _stop(proc)
        out.close()


def _wait_ready(
    proc: subprocess.Popen[bytes], conn_file: Path, timeout: float, out_path: Path
) -> Connection:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = out_path.read_text(errors="replace")[-4000:]
            raise RuntimeError(f"the emulator exited with code {proc.returncode}:\n{tail}")
        if conn_file.exists():
            try:
                conn = load_connection(conn_file)
                if conn.pid == proc.pid:
                    admin_request(conn, "GET", "health", timeout=5)
                    return conn
            except Exception as exc:
                last_error = exc
        time.sleep(0.05)
    raise TimeoutError(f"the emulator was not ready within {timeout:.0f} s ({last_error})")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=15)
    # Workers live in the emulator's process group; make sure none is left behind.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


SAMPLE_ENVIRONMENT = "azureml://registries/azureml/environments/sklearn-1.5/versions/1"


def make_deployment(
    endpoint: str,
    name: str,
    model: str,
    code: str = "azureml:score:1",
    instance_count: int = 1,
    **kwargs: Any,
) -> Any:
    """A ManagedOnlineDeployment of the sample scoring code (registered as ``code``)."""
    from azure.ai.ml.entities import CodeConfiguration, ManagedOnlineDeployment

    return ManagedOnlineDeployment(
        name=name,
        endpoint_name=endpoint,
        model=model,
        environment=SAMPLE_ENVIRONMENT,
        code_configuration=CodeConfiguration(code=code, scoring_script="score.py"),
        instance_type="Standard_DS3_v2",
        instance_count=instance_count,
        **kwargs,
    )


def workspace_path(conn: Connection) -> str:
    """The ARM path of the emulator's workspace (``/subscriptions/.../workspaces/NAME``)."""
    return (
        f"/subscriptions/{conn.subscription}/resourceGroups/{conn.resource_group}"
        f"/providers/Microsoft.MachineLearningServices/workspaces/{conn.workspace}"
    )


def arm_deployment_body(conn: Connection, **props: Any) -> dict[str, Any]:
    """The raw ARM body of a managed deployment of fraud v1 with the sample scoring code, one
    instance; ``props`` are added to (or replace) its properties."""
    ws = workspace_path(conn)
    return {
        "location": conn.location,
        "sku": {"name": "Default", "capacity": 1},
        "properties": {
            "endpointComputeType": "Managed",
            "model": f"{ws}/models/fraud/versions/1",
            "codeConfiguration": {
                "codeId": f"{ws}/codes/score/versions/1",
                "scoringScript": "score.py",
            },
            **props,
        },
    }


def create_endpoint(ml: Any, name: str, **kwargs: Any) -> Any:
    """Create an online endpoint (key auth unless ``auth_mode`` says otherwise) with MLClient
    and wait for it."""
    from azure.ai.ml.entities import ManagedOnlineEndpoint

    endpoint = ManagedOnlineEndpoint(name=name, **{"auth_mode": "key", **kwargs})
    return ml.online_endpoints.begin_create_or_update(endpoint).result()


def set_traffic(
    ml: Any, name: str, traffic: dict[str, int], mirror: dict[str, int] | None = None
) -> Any:
    """Set an endpoint's traffic and mirror with MLClient, wait for the update, then read the
    endpoint until it shows the new split (the emulator's reads trail a traffic update, as
    Azure's can: ``--traffic-read-lag``), for at most 10 s; the endpoint as last read."""
    endpoint = ml.online_endpoints.get(name)
    endpoint.traffic = traffic
    endpoint.mirror_traffic = mirror or {}
    ml.online_endpoints.begin_create_or_update(endpoint).result()
    want = ({k: v for k, v in traffic.items() if v}, {k: v for k, v in (mirror or {}).items() if v})
    deadline = time.monotonic() + 10.0
    while True:
        got = ml.online_endpoints.get(name)
        shown = (
            {k: v for k, v in (got.traffic or {}).items() if v},
            {k: v for k, v in (got.mirror_traffic or {}).items() if v},
        )
        if shown == want or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def app_settings(conn: Connection, metrics_url: str | None = None) -> Any:
    """The app's Settings pointed at a running emulator (ARM, metrics, its certificate), for
    tests that build the production adapters against it. ``metrics_url`` overrides the
    emulator's own metrics endpoint (e.g. a dead port for an outage)."""
    from shared.settings import Settings

    return Settings(
        subscription_id=conn.subscription,
        resource_group=conn.resource_group,
        workspace=conn.workspace,
        metrics_endpoint=(metrics_url or conn.metrics_url).rstrip("/"),
        policy_text="",
        policy_source="test",
        storage_connection=None,
        table_endpoint=None,
        table_name="autocanary",
        eventgrid_endpoint=None,
        eventgrid_key=None,
        max_concurrency=2,
        credential="local",
        client_id=None,
        arm_endpoint=conn.arm_url,
        ca_bundle=conn.cert_path,
    )
