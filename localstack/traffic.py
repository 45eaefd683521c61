"""A bounded load generator: scores an endpoint at a steady rate from a background thread.

Requests go out on a fixed schedule (``rate`` per second) over HTTPS with the endpoint key;
at most ``max_in_flight`` are outstanding (a tick with no room is counted as skipped, never
queued), and the generator stops by itself after ``max_seconds`` or ``max_requests``, whichever
comes first. It counts answers by the deployment that served them (the
``azureml-model-deployment`` response header) and by status, so the demo can show the split
the endpoint really applies.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

DEPLOYMENT_HEADER = "azureml-model-deployment"
FEATURES = 3  # the sample model's input width


@dataclass
class Window:
    """Answers seen since the previous :meth:`TrafficGenerator.window` call."""

    seconds: float = 0.0
    by_deployment: Counter[str] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)
    skipped: int = 0

    @property
    def answered(self) -> int:
        return sum(self.by_status.values())

    @property
    def rate(self) -> float:
        return self.answered / self.seconds if self.seconds > 0 else 0.0

    def split(self) -> dict[str, int]:
        """Percent of answered requests per deployment (rounded)."""
        total = sum(self.by_deployment.values())
        if not total:
            return {}
        return {d: round(100 * n / total) for d, n in sorted(self.by_deployment.items())}


class TrafficGenerator:
    def __init__(
        self,
        url: str,
        key: str,
        cert_path: str,
        *,
        rate: float = 60.0,
        max_in_flight: int = 64,
        max_seconds: float = 600.0,
        max_requests: int | None = None,
        timeout: float = 10.0,
    ) -> None:
        if not 0 < rate <= 1000:
            raise ValueError("rate must be in (0, 1000] requests per second")
        if max_in_flight < 1 or max_seconds <= 0:
            raise ValueError("max_in_flight and max_seconds must be positive")
        self.url = url
        self.key = key
        self.cert_path = cert_path
        self.rate = rate
        self.max_in_flight = max_in_flight
        self.max_seconds = max_seconds
        self.max_requests = max_requests if max_requests is not None else int(rate * max_seconds)
        self.timeout = timeout
        self.sent = 0
        self.failed = 0  # no answer at all (connection error, timeout)
        self.total_by_status: Counter[int] = Counter()
        self._lock = threading.Lock()
        self._window = Window()
        self._window_start = time.monotonic()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._rng = random.Random(7)

    # ------------------------------------------------------------------ control
    def start(self) -> TrafficGenerator:
        if self._thread is not None:
            raise RuntimeError("the generator is already running")
        started = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(started,), name="traffic", daemon=True
        )
        self._thread.start()
        started.wait(timeout=10)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> TrafficGenerator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def window(self) -> Window:
        """The answers since the last call (and start a new window)."""
        with self._lock:
            now = time.monotonic()
            window, self._window = self._window, Window()
            window.seconds = now - self._window_start
            self._window_start = now
            return window

    # ------------------------------------------------------------------ the loop
    def _run(self, started: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main(started))
        finally:
            loop.close()

    async def _main(self, started: threading.Event) -> None:
        self._stop = asyncio.Event()
        started.set()
        context = ssl.create_default_context(cafile=self.cert_path)
        connector = aiohttp.TCPConnector(limit=self.max_in_flight, ssl=context)
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        in_flight: set[asyncio.Task[None]] = set()
        interval = 1.0 / self.rate
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            begin = time.monotonic()
            due = begin
            while not self._stop.is_set():
                now = time.monotonic()
                if now - begin >= self.max_seconds or self.sent >= self.max_requests:
                    break
                if now < due:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), due - now)
                    continue
                due += interval
                if due < now - 1.0:  # fell far behind (a stalled machine): do not burst
                    due = now
                if len(in_flight) >= self.max_in_flight:
                    with self._lock:
                        self._window.skipped += 1
                    continue
                self.sent += 1
                task = asyncio.create_task(self._one(session))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            if in_flight:
                await asyncio.wait(in_flight, timeout=self.timeout)

    async def _one(self, session: aiohttp.ClientSession) -> None:
        row = [round(self._rng.uniform(-2.0, 2.0), 3) for _ in range(FEATURES)]
        try:
            async with session.post(
                self.url,
                json={"data": [row]},
                headers={"Authorization": f"Bearer {self.key}"},
            ) as response:
                await response.read()
                status = response.status
                deployment = response.headers.get(DEPLOYMENT_HEADER, "")
        except (aiohttp.ClientError, TimeoutError):
            with self._lock:
                self.failed += 1
            return
        with self._lock:
            self._window.by_status[status] += 1
            self.total_by_status[status] += 1
            if deployment:
                self._window.by_deployment[deployment] += 1
