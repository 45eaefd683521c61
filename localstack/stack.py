"""Start the local stack: Azurite, the emulator, and devhost serving ``function_app``.

    with Stack(StackOptions(bucket_seconds=2)) as stack:
        stack.app.api("GET", "rollouts")

Every process listens on a free loopback port. devhost gets a generated
``local.settings.json`` (in the stack's state directory) that points the production adapters
at the emulator (``AUTOCANARY_CREDENTIAL=local``, ``AUTOCANARY_ARM_ENDPOINT``,
``AUTOCANARY_CA_BUNDLE``, the metrics endpoint and its bucket length) and the rollout store at
Azurite; Azurite's blob service is the data collection store the emulator's deployments write
to and the app reads (``AUTOCANARY_DATA_COLLECTION_*``). :meth:`Stack.stop` (also run by the
context manager on errors and Ctrl-C) stops devhost, then the emulator (with its deployment
workers), then Azurite, and removes the state directory unless asked to keep it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from devhost.azurite import ACCOUNT_NAME, AzuriteBlobs, AzuriteTables
from emulator.connection import Connection
from emulator.testing import admin_request, running_emulator
from localstack.appclient import AppClient
from localstack.options import StackError, StackOptions
from localstack.processes import Process, tail, terminate

ROOT = Path(__file__).resolve().parent.parent
FUNCTION_KEY_SETTING = "DEVHOST_FUNCTION_KEY"
API_KEYS_SETTING = "AUTOCANARY_API_KEYS"
# The metrics adapter's bucket length must be the emulator's (see shared.settings).
GRANULARITY_SETTING = "AUTOCANARY_METRICS_GRANULARITY_SECONDS"
DATA_COLLECTION_CONTAINER = "azureml-blobstore"
# Environment variables that would make requests trust another CA bundle than the emulator's.
_TLS_OVERRIDES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


class Stack:
    """Azurite + emulator + devhost. Use as a context manager, or ``start()``/``stop()``."""

    def __init__(self, options: StackOptions | None = None) -> None:
        self.options = options or StackOptions()
        self._exit = contextlib.ExitStack()
        self._state_dir: Path | None = None
        self._owns_state = False
        self._emulator: Connection | None = None
        self._storage: str | None = None
        self._blob: str | None = None  # Azurite's blob service: the data collection store
        self._devhost: Process | None = None
        self._app: AppClient | None = None
        self.settings_file: Path | None = None
        self.logs: dict[str, Path] = {}
        self.kept_logs: dict[str, Path] = {}  # where the logs are after stop (keep_logs)
        # Set to keep the state directory (logs) when the stack stops, e.g. after a failure.
        self.keep_state_on_stop = False
        self.started_in: dict[str, float] = {}

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Stack:
        self.options.check()
        try:
            self._start()
        except BaseException:
            self.stop(keep_state=True)
            raise
        return self

    def _start(self) -> None:
        opts = self.options
        if opts.state_dir is None:
            self._state_dir = Path(tempfile.mkdtemp(prefix="autocanary-stack-"))
            self._owns_state = not opts.keep_state
        else:
            self._state_dir = opts.state_dir.resolve()
            self._state_dir.mkdir(parents=True, exist_ok=True)
        state = self._state_dir

        t0 = time.monotonic()
        azurite = AzuriteTables()
        self._exit.callback(azurite.stop)
        try:
            self._storage = azurite.start()
        except (RuntimeError, OSError) as exc:  # AzuriteMissing is a RuntimeError
            raise StackError(f"Azurite could not start: {exc}") from exc
        blobs = AzuriteBlobs()
        self._exit.callback(blobs.stop)
        try:
            self._blob = blobs.start()
        except (RuntimeError, OSError) as exc:
            raise StackError(f"Azurite's blob service could not start: {exc}") from exc
        self.started_in["azurite"] = time.monotonic() - t0

        t0 = time.monotonic()
        self.logs["emulator"] = state / "emulator.log"
        try:
            self._emulator = self._exit.enter_context(
                running_emulator(
                    state / "emulator",
                    bucket_seconds=opts.bucket_seconds,
                    provisioning_delay=opts.provisioning_delay,
                    retry_after=opts.retry_after,
                    start_timeout=opts.start_timeout,
                    log_path=self.logs["emulator"],
                    extra_args=[
                        *opts.emulator_args(),
                        "--data-collection-blob",
                        str(self._blob),
                        "--data-collection-container",
                        DATA_COLLECTION_CONTAINER,
                    ],
                )
            )
        except (RuntimeError, OSError) as exc:  # TimeoutError is an OSError
            raise StackError(f"the emulator could not start: {exc}") from exc
        self.started_in["emulator"] = time.monotonic() - t0

        t0 = time.monotonic()
        self._start_devhost(state)
        self.started_in["devhost"] = time.monotonic() - t0

    def stop(self, keep_state: bool | None = None) -> None:
        """Stop devhost, the emulator and Azurite (in that order); idempotent."""
        if self._devhost is not None:
            terminate(self._devhost.process)
            self._devhost = None
        try:
            self._exit.close()
        finally:
            keep = self.options.keep_state if keep_state is None else keep_state
            keep = keep or self.keep_state_on_stop
            removing = self._state_dir is not None and self._owns_state and not keep
            if self.options.keep_logs and self.logs:
                self.kept_logs = self._keep_logs(move=removing)
            if removing and self._state_dir is not None:
                shutil.rmtree(self._state_dir, ignore_errors=True)

    def _keep_logs(self, *, move: bool) -> dict[str, Path]:
        """The log files, moved to a directory of their own when the state directory is about
        to be deleted (else left where they are)."""
        if not move:
            return {k: v for k, v in self.logs.items() if v.exists()}
        target = Path(tempfile.mkdtemp(prefix="autocanary-logs-"))
        kept: dict[str, Path] = {}
        for name, path in self.logs.items():
            if path.exists():
                kept[name] = Path(shutil.move(str(path), target / path.name))
        return kept

    # ------------------------------------------------------------------ parts
    @property
    def state_dir(self) -> Path:
        if self._state_dir is None:
            raise StackError("the stack is not running")
        return self._state_dir

    @property
    def emulator(self) -> Connection:
        if self._emulator is None:
            raise StackError("the stack is not running")
        return self._emulator

    @property
    def storage_connection(self) -> str:
        if self._storage is None:
            raise StackError("the stack is not running")
        return self._storage

    @property
    def app(self) -> AppClient:
        if self._app is None:
            raise StackError("the stack is not running")
        return self._app

    @property
    def devhost_pid(self) -> int | None:
        return self._devhost.process.pid if self._devhost else None

    def dead(self) -> list[str]:
        """The parts that stopped on their own (devhost, the emulator)."""
        out: list[str] = []
        if self._devhost is not None and self._devhost.process.poll() is not None:
            out.append("devhost")
        if self._emulator is not None:
            try:
                os.kill(self._emulator.pid, 0)
            except ProcessLookupError:
                out.append("the emulator")
            except PermissionError:
                pass
        return out

    def emulator_admin(self, method: str, path: str, body: Any = None) -> Any:
        """The emulator's admin API (``path`` under ``/_emulator/``); raises on HTTP errors."""
        return admin_request(self.emulator, method, path, body)

    def app_settings(self, function_key: str) -> dict[str, str]:
        """The ``Values`` of the generated local.settings.json."""
        conn = self.emulator
        return {
            "FUNCTIONS_WORKER_RUNTIME": "python",
            "AzureWebJobsStorage": self.storage_connection,
            "AZURE_SUBSCRIPTION_ID": conn.subscription,
            "AZURE_RESOURCE_GROUP": conn.resource_group,
            "AZUREML_WORKSPACE_NAME": conn.workspace,
            "AUTOCANARY_POLICY_FILE": str(self.options.policy_file.resolve()),
            "AUTOCANARY_METRICS_ENDPOINT": conn.metrics_url.rstrip("/"),
            GRANULARITY_SETTING: f"{conn.bucket_seconds:g}",
            "AUTOCANARY_TABLE_NAME": self.options.table_name,
            "AUTOCANARY_CREDENTIAL": "local",
            "AUTOCANARY_ARM_ENDPOINT": conn.arm_url,
            "AUTOCANARY_CA_BUNDLE": conn.cert_path,
            FUNCTION_KEY_SETTING: function_key,
            # deployments with data collection write to Azurite's blob service; the app reads
            # the live deployment's inputs there for data_collection samples
            "AUTOCANARY_DATA_COLLECTION_CONTAINER_URL": (
                f"http://127.0.0.1/{ACCOUNT_NAME}/{DATA_COLLECTION_CONTAINER}"
            ),
            "AUTOCANARY_DATA_COLLECTION_CONNECTION": self._blob or "",
            # The HTTP API checks its own key (handlers._http): the same one, so every client
            # of the stack sends one key to the API, the alerts webhook and Event Grid.
            API_KEYS_SETTING: function_key,
        }

    def _start_devhost(self, state: Path) -> None:
        opts = self.options
        key = secrets.token_urlsafe(24)
        values = self.app_settings(key)
        self.settings_file = state / "local.settings.json"
        fd = os.open(self.settings_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"IsEncrypted": False, "Values": values}, handle, indent=2)
        ready_file = state / "devhost-ready.json"
        ready_file.unlink(missing_ok=True)
        log_path = state / "devhost.log"
        self.logs["devhost"] = log_path
        # The generated settings must win: devhost lets the environment override them.
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in values and k not in _TLS_OVERRIDES and not k.startswith("AUTOCANARY_")
        }
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
        )
        argv = [
            sys.executable,
            "-m",
            "devhost",
            "--app",
            "function_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--settings",
            str(self.settings_file),
            "--host-json",
            str(ROOT / "host.json"),
            "--ready-file",
            str(ready_file),
            "--log-level",
            opts.devhost_log_level,
        ]
        if not opts.run_timers:
            argv.append("--no-timers")
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # stopped by us, after the calls in flight
            )
        self._devhost = Process("devhost", process, log_path)
        deadline = time.monotonic() + opts.start_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise StackError(
                    f"devhost exited with code {process.returncode}:\n{tail(log_path)}"
                )
            if ready_file.exists():
                with contextlib.suppress(json.JSONDecodeError, OSError):
                    ready = json.loads(ready_file.read_text(encoding="utf-8"))
                    if ready.get("pid") == process.pid:
                        self._app = AppClient(
                            str(ready["base_url"]),
                            str(ready["function_key"]),
                            str(ready.get("route_prefix", "api")),
                        )
                        return
            time.sleep(0.05)
        raise StackError(f"devhost was not ready within {opts.start_timeout:g} s")

    def summary(self) -> dict[str, Any]:
        """What a person needs to use the running stack (URLs, keys, files)."""
        conn, app = self.emulator, self.app
        return {
            "devhost": app.base_url,
            "function_key": app.key,
            "api": f"{app.base_url}/{app.route_prefix}",
            "alerts_webhook": app.alerts_url,
            "event_grid_webhook": app.event_grid_url("on_model_registered"),
            "emulator_arm": conn.arm_url,
            "emulator_scoring": conn.scoring_url,
            "emulator_metrics": conn.metrics_url,
            "emulator_admin_key": conn.admin_key,
            "emulator_connection_file": str(Path(conn.state_dir) / "connection.json"),
            "emulator_cert": conn.cert_path,
            "azurite": self.storage_connection,
            "settings_file": str(self.settings_file),
            "state_dir": str(self.state_dir),
            "logs": {k: str(v) for k, v in self.logs.items()},
        }
