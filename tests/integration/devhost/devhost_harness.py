"""Start ``python -m devhost`` as a subprocess on a free loopback port and talk to it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[3]
APPS_DIR = Path(__file__).resolve().parent / "apps"
START_TIMEOUT = 30.0


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class DevhostProcess:
    process: subprocess.Popen[bytes]
    workdir: Path
    ready_file: Path
    log_file: Path
    ready: dict[str, Any]

    @property
    def base_url(self) -> str:
        return str(self.ready["base_url"])

    @property
    def key(self) -> str:
        return str(self.ready["function_key"])

    def log(self) -> str:
        return self.log_file.read_text(encoding="utf-8", errors="replace")

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        data = body.encode("utf-8") if isinstance(body, str) else body
        req = urllib.request.Request(
            self.base_url + path, data=data, method=method, headers=dict(headers or {})
        )
        try:
            with urllib.request.urlopen(req, timeout=15) as resp:
                return Reply(resp.status, dict(resp.headers.items()), resp.read())
        except urllib.error.HTTPError as err:
            return Reply(err.code, dict(err.headers.items()), err.read())

    def stop(self, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        return self.process.returncode


def devhost_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEVHOST_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), str(APPS_DIR)])
    env.update(extra or {})
    return env


def run_devhost(
    workdir: Path, args: list[str], env: Mapping[str, str] | None = None, timeout: float = 30.0
) -> subprocess.CompletedProcess[str]:
    """Run devhost to completion (for start-up errors)."""
    return subprocess.run(
        [sys.executable, "-m", "devhost", *args],
        cwd=workdir,
        env=devhost_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_devhost(
    workdir: Path,
    args: list[str],
    *,
    settings: Mapping[str, Any] | None = None,
    host_json: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> DevhostProcess:
    """Write the settings/host files into ``workdir``, start devhost there, wait for ready."""
    workdir.mkdir(parents=True, exist_ok=True)
    if settings is not None:
        (workdir / "local.settings.json").write_text(json.dumps(settings), encoding="utf-8")
    if host_json is not None:
        (workdir / "host.json").write_text(json.dumps(host_json), encoding="utf-8")
    ready_file = workdir / "ready.json"
    log_file = workdir / "devhost.log"
    with open(log_file, "wb") as log_handle:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "devhost",
                "--port",
                "0",
                "--ready-file",
                str(ready_file),
                *args,
            ],
            cwd=workdir,
            env=devhost_env(env),
            stdout=log_handle,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if ready_file.exists():
            ready = json.loads(ready_file.read_text(encoding="utf-8"))
            return DevhostProcess(process, workdir, ready_file, log_file, ready)
        if process.poll() is not None:
            raise RuntimeError(f"devhost exited with {process.returncode}:\n{log_file.read_text()}")
        time.sleep(0.05)
    process.kill()
    process.wait(timeout=5)
    raise RuntimeError(f"devhost was not ready in {START_TIMEOUT}s:\n{log_file.read_text()}")


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``condition`` until it returns something truthy; bounded in time."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            return result
        time.sleep(interval)


def read_records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    # The sample app appends a line per record while this reads: a last line without its
    # newline is still being written, and is read on the next poll.
    complete = text if text.endswith("\n") else text[: text.rfind("\n") + 1]
    return [json.loads(line) for line in complete.splitlines() if line.strip()]
