"""Scripted metrics: per-deployment request rate, status codes and latency, minute by minute.

Each closed minute in a query's range yields the expected counts for the deployments' current
share of the endpoint's traffic (live or mirrored) under their scripted behaviour; the numbers
are deterministic (rounded expectations), so engine tests are exact. A deployment answers
``error_rate`` of its requests with 500 and ``statuses`` (e.g. ``{"429": 0.02}``) with other
codes; the query's ``errors`` say which of them count, as in the Azure adapter. Both scopes
(endpoint and deployment) see the same requests: mirrored copies count for the deployment that
served them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.errors import NoData
from shared.judge.types import Minute
from shared.ports import MetricsQuery, counts_as_error


@dataclass(frozen=True)
class Behaviour:
    error_rate: float = 0.005  # answered 500
    p50_ms: float = 20.0
    p90_ms: float = 40.0
    p99_ms: float = 80.0
    p95_ms: float = 60.0
    statuses: Mapping[str, float] = field(default_factory=dict)  # other status code -> share


class FakeMetrics:
    def __init__(
        self,
        share: Callable[[str, str], float] | None = None,
        requests_per_minute: int = 6000,
    ) -> None:
        """``share(endpoint, deployment)`` gives a deployment's fraction of the endpoint's
        requests (e.g. from FakeEndpoints' live split); default: canary 10 %."""
        self._lock = threading.Lock()
        self._share = share
        self.requests_per_minute = requests_per_minute
        self.behaviour: dict[tuple[str, str], Behaviour] = {}
        self.unavailable = False
        self.queries: list[MetricsQuery] = []
        self.granularity_seconds = 60.0

    def script(self, endpoint: str, deployment: str, behaviour: Behaviour) -> None:
        with self._lock:
            self.behaviour[(endpoint, deployment)] = behaviour

    def stage_minutes(self, queries: Sequence[MetricsQuery]) -> Mapping[str, Sequence[Minute]]:
        with self._lock:
            self.queries.extend(queries)
            if self.unavailable:
                raise NoData("metrics source unavailable")
            return {q.endpoint: self._minutes(q) for q in queries}

    def _minutes(self, q: MetricsQuery) -> list[Minute]:
        out: list[Minute] = []
        t = _ceil_minute(q.start)
        while t + timedelta(minutes=1) <= q.end:
            canary = self._side(q.endpoint, q.canary, 0.1, q.errors)
            baseline = self._side(q.endpoint, q.baseline, 0.9, q.errors)
            if canary[0] + baseline[0] > 0:
                cb, bb = self._b(q.endpoint, q.canary), self._b(q.endpoint, q.baseline)
                out.append(
                    Minute(
                        canary_requests=canary[0],
                        canary_errors=canary[1],
                        baseline_requests=baseline[0],
                        baseline_errors=baseline[1],
                        start=t,
                        canary_p50=cb.p50_ms,
                        canary_p90=cb.p90_ms,
                        canary_p99=cb.p99_ms,
                        baseline_p50=bb.p50_ms,
                        baseline_p90=bb.p90_ms,
                        baseline_p99=bb.p99_ms,
                        canary_p95=cb.p95_ms,
                        baseline_p95=bb.p95_ms,
                    )
                )
            t += timedelta(minutes=1)
        return out

    def _b(self, endpoint: str, deployment: str) -> Behaviour:
        return self.behaviour.get((endpoint, deployment), Behaviour())

    def _side(
        self, endpoint: str, deployment: str, default_share: float, errors: Sequence[str]
    ) -> tuple[int, int]:
        share = self._share(endpoint, deployment) if self._share else default_share
        n = round(self.requests_per_minute * share)
        b = self._b(endpoint, deployment)
        rates = {"500": b.error_rate, **b.statuses}
        failed = sum(
            round(n * rate) for code, rate in rates.items() if counts_as_error(code, errors)
        )
        return n, min(n, failed)


def _ceil_minute(t: datetime) -> datetime:
    floor = t.replace(second=0, microsecond=0)
    return floor if floor == t else floor + timedelta(minutes=1)
