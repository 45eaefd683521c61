"""The rig of ``bench.scale``: the production engine over the production Table adapter with a
latency-injecting azure-core policy on its client, and Azure ML's and Azure Monitor's fakes
that count the calls the real adapters would make, each call costing a set delay."""

from __future__ import annotations

import argparse
import math
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.azure.tables import TableRolloutStore
from shared.clock import FakeClock
from shared.fakes.endpoints import FakeEndpoints
from shared.fakes.events import RecordingPublisher
from shared.fakes.judge import ScriptedJudge
from shared.fakes.metrics import FakeMetrics
from shared.judge.types import Minute
from shared.observation import EndpointInfo
from shared.policy import PolicySet, load_policy_text
from shared.ports import MetricsQuery
from shared.services import Engine

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
METRICS_BATCH = 50  # resources per metrics:getBatch call (shared/azure/metrics.py BATCH_SIZE)
METRIC_FAMILIES = 2  # calls per batch: RequestsPerMinute, then the latency percentiles
POLICY = """
defaults:
  shadow: null
  stages:
    - {weight: 10, min_duration: 10h, max_duration: 20h}
    - {weight: 100}
  watch_window: 0s
  warmup: 0s
rules:
  - name: all
    match: {model: "m*"}
    endpoint: placeholder
"""


class TableLatency:
    """An azure-core per-call policy: sleeps before each request and counts it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.reads = 0
        self.writes = 0
        self._lock = threading.Lock()

    def on_request(self, request: Any) -> None:
        with self._lock:
            if request.http_request.method == "GET":
                self.reads += 1
            else:
                self.writes += 1
        if self.seconds > 0:
            time.sleep(self.seconds)

    def on_response(self, request: Any, response: Any) -> None:
        return None

    def on_exception(self, request: Any) -> None:
        return None


def latency_policy(seconds: float) -> Any:
    from azure.core.pipeline.policies import SansIOHTTPPolicy

    class _Policy(TableLatency, SansIOHTTPPolicy):  # type: ignore[type-arg]
        pass

    return _Policy(seconds)


class SlowEndpoints(FakeEndpoints):
    """Fake Azure ML counting ARM reads as the adapter sends them (``FakeEndpoints.arm_reads``:
    an endpoint GET and a deployment list per endpoint read; with a listing, the deployment
    list and one read per 100 endpoints when the workspace is listed again), each costing
    ``seconds``."""

    def __init__(self, seconds: float, clock: FakeClock, listing_ttl_s: float = 0.0) -> None:
        # A tick's reads share a listing taken since the tick started, on the monotonic clock
        # the tick reads (so each tick lists again, as in production); with --listing-ttl the
        # listing for reads at large ages on the benchmark's clock instead (a minute a tick).
        super().__init__(
            provisioning_reads=0,
            listing_ttl_s=listing_ttl_s,
            listing_clock=(lambda: clock.now().timestamp())
            if listing_ttl_s > 0
            else time.monotonic,
        )
        self.seconds = seconds
        self.endpoint_reads = 0

    def arm_read(self, count: int = 1) -> None:
        super().arm_read(count)
        if self.seconds > 0:
            time.sleep(self.seconds * count)

    def get_endpoint(self, endpoint: str, *, listed_since: float | None = None) -> EndpointInfo:
        with self._count:
            self.endpoint_reads += 1
        return super().get_endpoint(endpoint, listed_since=listed_since)


class SlowMetrics(FakeMetrics):
    """Fake metrics counting getBatch calls the way the adapter makes them."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self.batch_calls = 0
        self._count = threading.Lock()

    def stage_minutes(self, queries: Sequence[MetricsQuery]) -> Mapping[str, Sequence[Minute]]:
        endpoints = len({q.endpoint for q in queries})
        calls = METRIC_FAMILIES * math.ceil(endpoints / METRICS_BATCH)
        with self._count:
            self.batch_calls += calls
        if self.seconds > 0:
            time.sleep(self.seconds * calls)
        return super().stage_minutes(queries)


@dataclass
class Rig:
    store: TableRolloutStore
    table: TableLatency
    endpoints: SlowEndpoints
    metrics: SlowMetrics
    clock: FakeClock
    engine: Engine


def build(conn: str, args: argparse.Namespace) -> Rig:
    from azure.data.tables import TableClient

    table = latency_policy(0.0)
    client = TableClient.from_connection_string(
        conn, table_name="t" + uuid.uuid4().hex[:20], per_call_policies=[table], retry_total=0
    )
    clock = FakeClock(T0)
    store = TableRolloutStore(client, clock=clock.now)
    endpoints = SlowEndpoints(args.arm_ms / 1000.0, clock, args.listing_ttl)
    metrics = SlowMetrics(args.metrics_ms / 1000.0)
    policies: PolicySet = load_policy_text(POLICY)
    engine = Engine(
        store=store,
        endpoints=endpoints,
        metrics=metrics,
        judge=ScriptedJudge(),
        clock=clock,
        events=RecordingPublisher(),
        policies=policies,
        max_concurrency=args.concurrency,
    )
    return Rig(store, table, endpoints, metrics, clock, engine)
