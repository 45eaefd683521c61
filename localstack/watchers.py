"""Helpers that run beside a scenario on a running stack: a :class:`ReconcilePump` that runs
the app's reconcile timer function every second or so through devhost's admin endpoint (in
Azure it fires every minute; the demo's stages last seconds), and a :class:`SplitWatcher` that
samples the endpoint's live split on the emulator, to time what the app's API reports. Each is a
daemon thread with a bounded run time, stopped on exit from its ``with`` block."""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import urlsplit

from localstack.appclient import AppClient
from localstack.stack import Stack

RECONCILE_FUNCTION = "reconcile_rollouts"


class _Background:
    """A daemon thread running ``_run`` until stopped (or its own time bound), from ``start``
    or a ``with`` block."""

    thread_name = "background"
    join_timeout = 10.0

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.join_timeout)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        raise NotImplementedError


class ReconcilePump(_Background):
    """Runs the app's reconcile timer function every ``interval`` seconds (bounded in time)."""

    thread_name = "reconcile-pump"
    join_timeout = 15.0

    def __init__(self, app: AppClient, interval: float = 1.0, max_seconds: float = 3600.0) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        super().__init__()
        self.app = app
        self.interval = interval
        self.max_seconds = max_seconds
        self.runs = 0
        self.busy = 0  # 409: the previous run was still going
        self.errors = 0

    def _run(self) -> None:
        end = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < end:
            try:
                status = self.app.run_function(RECONCILE_FUNCTION)
            except OSError:
                status = 0
            if status == 202:
                self.runs += 1
            elif status == 409:
                self.busy += 1
            else:
                self.errors += 1
            self._stop.wait(self.interval)


@dataclass(frozen=True)
class SplitSample:
    at: float  # epoch seconds, the middle of the request that read it
    traffic: dict[str, int]
    mirror: dict[str, int]
    deployments: frozenset[str]


class SplitWatcher(_Background):
    """Samples one endpoint's live split on the emulator (admin ``GET /_emulator/state``)
    every ``interval`` seconds over one kept-alive HTTPS connection."""

    thread_name = "split-watcher"

    def __init__(
        self, stack: Stack, endpoint: str, interval: float = 0.05, max_seconds: float = 3600.0
    ) -> None:
        super().__init__()
        self.endpoint = endpoint.lower()
        self.interval = interval
        self.max_seconds = max_seconds
        conn = stack.emulator
        parts = urlsplit(conn.arm_url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 443
        self._headers = conn.admin_headers()
        self._context = ssl.create_default_context(cafile=conn.cert_path)
        self.samples: deque[SplitSample] = deque(maxlen=20_000)
        self._lock = threading.Lock()

    def _run(self) -> None:
        end = time.monotonic() + self.max_seconds
        connection: http.client.HTTPSConnection | None = None
        while not self._stop.is_set() and time.monotonic() < end:
            try:
                if connection is None:
                    connection = http.client.HTTPSConnection(
                        self._host, self._port, context=self._context, timeout=5
                    )
                sent = time.time()
                connection.request("GET", "/_emulator/state", headers=self._headers)
                response = connection.getresponse()
                body = response.read()
                got = time.time()
                if response.status == 200:
                    self._absorb(json.loads(body), (sent + got) / 2)
            except (OSError, http.client.HTTPException, json.JSONDecodeError):
                if connection is not None:
                    connection.close()
                connection = None
            self._stop.wait(self.interval)
        if connection is not None:
            connection.close()

    def _absorb(self, state: Mapping[str, Any], at: float) -> None:
        for ep in state.get("endpoints", []):
            if ep.get("name") != self.endpoint:
                continue
            sample = SplitSample(
                at=at,
                traffic={k: int(v) for k, v in (ep.get("traffic") or {}).items() if int(v) > 0},
                mirror={
                    k: int(v) for k, v in (ep.get("mirror_traffic") or {}).items() if int(v) > 0
                },
                deployments=frozenset(d["name"] for d in ep.get("deployments", [])),
            )
            with self._lock:
                self.samples.append(sample)

    def first_without(self, deployment: str, after: float) -> float | None:
        """When the emulator was first seen routing no traffic (live or mirrored) to
        ``deployment`` at or after ``after`` (epoch seconds), or None."""
        name = deployment.lower()
        with self._lock:
            samples = list(self.samples)
        routed = False  # it must have been seen routed first, or there is nothing to time
        for sample in samples:
            serving = name in sample.traffic or name in sample.mirror
            if sample.at < after:
                routed = routed or serving
            elif not serving:
                return sample.at if routed else None
        return None
