"""Azurite's Table service, in memory, on a free loopback port.

Usage::

    with azurite_tables() as connection_string:
        store = TableRolloutStore.from_connection_string(connection_string)

Azurite comes from npm (``make node`` installs it into ``node_modules`` at the repo root). The
process is started with ``--inMemoryPersistence`` so nothing is written to disk, and it is
terminated when the context manager exits.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Azurite's well-known development account (public, documented in Azurite's README).
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

REPO_ROOT = Path(__file__).resolve().parent.parent


class AzuriteMissing(RuntimeError):
    """node_modules/.bin/azurite-table is not installed."""


def azurite_binary(root: Path = REPO_ROOT, service: str = "table") -> Path:
    """The azurite-table (or -blob) launcher under the repo's node_modules; a clear error if
    missing."""
    binary = root / "node_modules" / ".bin" / f"azurite-{service}"
    if not binary.exists():
        raise AzuriteMissing(f"{binary} not found: run `make node` to install Azurite")
    return binary


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def connection_string(port: int, host: str = "127.0.0.1") -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
        f"TableEndpoint=http://{host}:{port}/{ACCOUNT_NAME};"
    )


def _answers_http(host: str, port: int) -> bool:
    """Whether an HTTP server answers on host:port (any status will do)."""
    conn = http.client.HTTPConnection(host, port, timeout=1.0)
    try:
        conn.request("GET", f"/{ACCOUNT_NAME}/Tables")
        conn.getresponse().read()
        return True
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


class _ExitedEarly(Exception):
    """Azurite's process ended before it answered; carries the tail of its output."""


class AzuriteTables:
    """One Azurite table service process. ``start()`` returns its connection string."""

    service = "table"

    def __init__(
        self, host: str = "127.0.0.1", port: int | None = None, startup_timeout: float = 30.0
    ) -> None:
        self.host = host
        self.port = port
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def connection_string(self) -> str:
        if self.port is None or self._process is None:
            raise RuntimeError("Azurite is not running")
        return self._connection(self.port)

    def _connection(self, port: int) -> str:
        return connection_string(port, self.host)

    def start(self) -> str:
        """Launch Azurite and wait until it answers HTTP; a free port is chosen when none was
        given (and chosen again, up to three times, if another process takes it first)."""
        if self._process is not None:
            return self.connection_string
        binary = azurite_binary(service=self.service)
        fixed_port = self.port is not None
        for attempt in range(1 if fixed_port else 3):
            if not fixed_port:
                self.port = free_port(self.host)
            try:
                return self._launch(binary)
            except _ExitedEarly as exc:
                if fixed_port or attempt == 2:
                    raise RuntimeError(f"Azurite exited at start-up:\n{exc}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _launch(self, binary: Path) -> str:
        assert self.port is not None
        # Run from a scratch directory so nothing Azurite might write lands in the working tree
        # (--location cannot be combined with --inMemoryPersistence).
        self._workdir = tempfile.TemporaryDirectory(prefix="azurite-")
        log_path = Path(self._workdir.name) / "azurite.log"
        argv = [
            str(binary),
            "--inMemoryPersistence",
            f"--{self.service}Host",
            self.host,
            f"--{self.service}Port",
            str(self.port),
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
            "--silent",
        ]
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self._workdir.name,
                env={**os.environ, "AZURITE_ACCEPT_EULA": "true"},
            )
        self._process = process
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                output = log_path.read_text(errors="replace")[-2000:]
                self.stop()
                raise _ExitedEarly(output)
            if _answers_http(self.host, self.port) and process.poll() is None:
                return self.connection_string
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"Azurite did not answer on {self.host}:{self.port} in time")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None


class AzuriteBlobs(AzuriteTables):
    """One Azurite blob service process (data collection locally)."""

    service = "blob"

    def _connection(self, port: int) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint=http://{self.host}:{port}/{ACCOUNT_NAME};"
        )


@contextmanager
def azurite_tables(host: str = "127.0.0.1", port: int | None = None) -> Iterator[str]:
    """Run Azurite's table service for the duration of the block; yields the connection
    string."""
    server = AzuriteTables(host, port)
    try:
        yield server.start()
    finally:
        server.stop()
