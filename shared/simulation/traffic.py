"""Simulated users and Azure Monitor: per-minute metrics generated from what was served.

Time is cut in minutes from the simulation's start. Until a minute closes, :meth:`accrue`
integrates what each deployment was served: its live share (traffic %) and its mirrored share
(mirror %) times the part of the minute the split held, and the part it served while not
provisioned (Creating, Failed, Deleting: every such request fails). When the minute closes its
counts are drawn once, from a seeded numpy Generator:

- the endpoint's requests: Poisson(``requests_per_minute``), or the series' count of that minute;
- split between deployments (multinomial on the live shares; unrouted requests are served by
  nobody), mirrored copies Binomial(requests, mirror share);
- errors Binomial(requests, error rate), the rate from the behaviour (or the series' rate of
  that minute, times ``error_factor``), times a Gamma(k, 1/k) draw when ``overdispersion`` is k;
- P50/P90/P95/P99 latency: the sample quantiles of log-normal request latencies (median
  ``latency_ms``, spread ``latency_sigma``): drawn from samples for small minutes, from the
  sample quantile's normal approximation otherwise (P95 feeds the absolute guardrails, as
  ``RequestLatency_P95`` does in Azure).

:meth:`stage_minutes` answers the MetricsSource port exactly as the Azure Monitor adapter does
(shared/azure/metric_reading.py ``build_minutes``): closed minutes inside [start, end) with
requests on either side, canary and baseline counts and P50/P90/P95/P99, oldest first. Mirrored
copies count under the mirror deployment when ``mirror_counted`` (deployment-scope metrics count
what a deployment served; whether endpoint-scope ones do is unverified, azure.md). A minute is
visible only ``delay`` after it closed (Azure Monitor metrics arrive late, azure.md), minutes in
an ``outage`` are never recorded, and while the source is ``unavailable`` a query raises NoData.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from shared.errors import NoData
from shared.fakes.clocked_endpoints import SERVING_STATES, ClockedEndpoints, model_key
from shared.judge.types import Minute
from shared.ports import Clock, MetricsQuery
from shared.simulation.scenario import (
    DEFAULT_ERROR_RATE,
    DEFAULT_LATENCY_MS,
    DEFAULT_LATENCY_SIGMA,
    Behaviour,
    MetricsSpec,
    SeriesMinute,
)

# (level, standard normal quantile): P50, P90, P95, P99
_LEVELS = (
    (0.5, 0.0),
    (0.9, 1.2815515655446004),
    (0.95, 1.6448536269514722),
    (0.99, 2.3263478740408408),
)
_Z99 = _LEVELS[3][1]
_EXACT_BELOW = 400  # requests in a minute below which latencies are drawn one by one


@dataclass
class _Share:
    live: float = 0.0  # fraction of the endpoint's requests, integrated over the minute
    mirror: float = 0.0
    broken: float = 0.0  # live share while the deployment was not provisioned


@dataclass
class Served:
    """What one deployment served in one closed minute."""

    requests: int = 0  # live + mirrored (when counted)
    errors: int = 0
    live_requests: int = 0
    live_errors: int = 0
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None


@dataclass
class _EndpointBook:
    open: dict[int, dict[str, _Share]] = field(default_factory=dict)
    closed: dict[int, dict[str, Served]] = field(default_factory=dict)
    last: float = 0.0  # seconds since start accounted for


class SimMetrics:
    """The MetricsSource port over simulated users; thread safe."""

    def __init__(
        self,
        clock: Clock,
        endpoints: ClockedEndpoints,
        *,
        start: datetime,
        requests_per_minute: float,
        behaviour: Mapping[str, Behaviour],
        spec: MetricsSpec,
        seed: int,
        series: Sequence[SeriesMinute] = (),
    ) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self._endpoints = endpoints
        self._start = start
        self.requests_per_minute = requests_per_minute
        self._behaviour: dict[str, Behaviour] = dict(behaviour)
        self.spec = spec
        self._rng = np.random.default_rng(seed)
        self._series = tuple(series)
        self._books: dict[str, _EndpointBook] = {}
        self._models: dict[tuple[str, str], str] = {}  # (endpoint, deployment) -> model key
        self._sources: dict[tuple[str, str], str] = {}
        self.queries = 0
        self._built: dict[tuple[str, str, tuple[str, ...], int], Minute | None] = {}

    # ---------------------------------------------------------------- behaviour
    def set_behaviour(self, target: str, behaviour: Behaviour) -> None:
        """Lay ``behaviour`` over what ``target`` (a deployment or model:version) had."""
        with self._lock:
            old = self._behaviour.get(target, Behaviour())
            self._behaviour[target] = behaviour.over(old)

    def behaviour_of(self, endpoint: str, deployment: str, depth: int = 0) -> Behaviour:
        """The deployment's own settings over its model's, over those of the deployment it
        was cloned from: a version nobody described behaves like the one it replaces."""
        own = self._behaviour.get(deployment, Behaviour())
        model = self._models.get((endpoint, deployment))
        if model is not None and model in self._behaviour:
            own = own.over(self._behaviour[model])
        source = self._sources.get((endpoint, deployment))
        if source is not None and source != deployment and depth < 8:
            own = own.over(self.behaviour_of(endpoint, source, depth + 1))
        return own

    def answer_rates(self, endpoint: str, deployment: str) -> tuple[float, float, float]:
        """A deployment's error rate, median latency (ms) and log spread as it serves now
        (for requests sent straight to it: the smoke test)."""
        self.accrue(endpoint)  # learns the deployment's model and source
        with self._lock:
            return self._rates(endpoint, deployment, None)

    def flipped(self, endpoint: str, deployment: str) -> bool:
        """Whether the deployment answers the opposite of what it replaces."""
        with self._lock:
            return bool(self.behaviour_of(endpoint, deployment).flipped)

    # ---------------------------------------------------------------- accounting
    def _offset(self, t: datetime) -> float:
        return (t - self._start).total_seconds()

    def accrue(self, endpoint: str | None = None) -> None:
        """Account every endpoint's served shares up to now, and close finished minutes."""
        with self._lock:
            now = self._offset(self._clock.now())
            names = [endpoint] if endpoint is not None else self._endpoints.endpoint_names()
            for name in names:
                self._accrue_one(name, now)

    def _accrue_one(self, name: str, now: float) -> None:
        book = self._books.setdefault(name, _EndpointBook())
        if now > book.last:
            info = self._endpoints.peek(name)
            for dep in info.deployments.values():
                if dep.model:
                    self._models[(name, dep.name)] = model_key(dep.model)
            for dep_name, source in self._endpoints.sources(name).items():
                self._sources[(name, dep_name)] = source
            states = {n: d.provisioning_state for n, d in info.deployments.items()}
            live = {k: v for k, v in info.traffic.items() if v > 0}
            mirror = {k: v for k, v in info.mirror.items() if v > 0}
            a = book.last
            while a < now:
                k = int(a // 60)
                b = min(now, (k + 1) * 60.0)
                part = (b - a) / 60.0
                shares = book.open.setdefault(k, {})
                for target, pct in live.items():
                    s = shares.setdefault(target, _Share())
                    s.live += part * pct / 100.0
                    if states.get(target) not in SERVING_STATES:
                        s.broken += part * pct / 100.0
                for target, pct in mirror.items():
                    shares.setdefault(target, _Share()).mirror += part * pct / 100.0
                a = b
            book.last = now
        for k in sorted(m for m in book.open if (m + 1) * 60.0 <= now):
            book.closed[k] = self._draw(name, k, book.open.pop(k))

    def _draw(self, endpoint: str, k: int, shares: Mapping[str, _Share]) -> dict[str, Served]:
        rng = self._rng
        row = self._series[k % len(self._series)] if self._series else None
        total = row.requests if row is not None else int(rng.poisson(self.requests_per_minute))
        names = sorted(shares)
        live = np.array([min(1.0, shares[n].live) for n in names], dtype=float)
        rest = max(0.0, 1.0 - float(live.sum()))
        probs = np.append(live, rest)
        probs = probs / probs.sum() if probs.sum() > 0 else np.append(live * 0, 1.0)
        counts = rng.multinomial(total, probs)[:-1] if names else np.zeros(0, dtype=int)
        out: dict[str, Served] = {}
        for i, name in enumerate(names):
            share = shares[name]
            n_live = int(counts[i])
            n_mirror = int(rng.binomial(total, min(1.0, share.mirror))) if share.mirror else 0
            rate, median, sigma = self._rates(endpoint, name, row)
            broken = 0
            if share.broken > 0 and n_live > 0:
                broken = int(rng.binomial(n_live, min(1.0, share.broken / max(share.live, 1e-12))))
            live_err = broken + (int(rng.binomial(n_live - broken, rate)) if n_live > broken else 0)
            mirror_err = int(rng.binomial(n_mirror, rate)) if n_mirror else 0
            counted_mirror = n_mirror if self.spec.mirror_counted else 0
            served = Served(
                requests=n_live + counted_mirror,
                errors=live_err + (mirror_err if self.spec.mirror_counted else 0),
                live_requests=n_live,
                live_errors=live_err,
            )
            if served.requests > 0:
                served.p50, served.p90, served.p95, served.p99 = self._percentiles(
                    served.requests, median, sigma
                )
            out[name] = served
        return out

    def _rates(
        self, endpoint: str, deployment: str, row: SeriesMinute | None
    ) -> tuple[float, float, float]:
        b = self.behaviour_of(endpoint, deployment)
        if b.error_rate is not None:
            rate = b.error_rate
        elif row is not None and row.requests > 0:
            rate = row.errors / row.requests
        else:
            rate = DEFAULT_ERROR_RATE
        rate *= b.error_factor if b.error_factor is not None else 1.0
        if b.overdispersion:
            rate *= float(self._rng.gamma(b.overdispersion, 1.0 / b.overdispersion))
        sigma = b.latency_sigma
        if b.latency_ms is not None:
            median = b.latency_ms
        elif row is not None and row.p50 is not None:
            median = row.p50
            if sigma is None and row.p99 is not None and row.p99 > row.p50:
                sigma = math.log(row.p99 / row.p50) / _Z99
        else:
            median = DEFAULT_LATENCY_MS
        median *= b.latency_factor if b.latency_factor is not None else 1.0
        return min(1.0, rate), median, DEFAULT_LATENCY_SIGMA if sigma is None else sigma

    def _percentiles(
        self, n: int, median: float, sigma: float
    ) -> tuple[float, float, float, float]:
        """Sample P50, P90, P95 and P99 of ``n`` log-normal latencies."""
        if sigma <= 0:
            return median, median, median, median
        if n < _EXACT_BELOW:
            samples = median * np.exp(sigma * self._rng.standard_normal(n))
            qs = np.quantile(samples, [p for p, _ in _LEVELS])
            return float(qs[0]), float(qs[1]), float(qs[2]), float(qs[3])
        out: list[float] = []
        # three draws (P50, P90, P99) as before; P95's noise is built from P90's and P99's
        # (sample quantiles of one sample at nearby levels are strongly correlated), so
        # adding P95 leaves every seeded scenario's other figures as they were
        z50, z90, z99 = (float(v) for v in self._rng.standard_normal(3))
        z95 = (z90 + z99) / math.sqrt(2.0)
        for (p, zp), noise in zip(_LEVELS, (z50, z90, z95, z99), strict=True):
            true_q = median * math.exp(sigma * zp)
            # the sample quantile's normal approximation: sd = sqrt(p(1-p)/n) / f(q)
            density = math.exp(-zp * zp / 2) / math.sqrt(2 * math.pi) / (true_q * sigma)
            sd = math.sqrt(p * (1 - p) / n) / density
            out.append(max(0.0, true_q + noise * sd))
        p95 = min(max(out[2], out[1]), out[3])  # a P95 between the P90 and P99 it sits between
        return out[0], out[1], p95, out[3]

    # ---------------------------------------------------------------- what was served
    def served(self, endpoint: str) -> dict[int, dict[str, Served]]:
        """Every closed minute of the endpoint: minute index -> deployment -> Served."""
        with self._lock:
            book = self._books.get(endpoint)
            return {} if book is None else {k: dict(v) for k, v in book.closed.items()}

    # ---------------------------------------------------------------- the port
    def stage_minutes(self, queries: Sequence[MetricsQuery]) -> Mapping[str, Sequence[Minute]]:
        with self._lock:
            self.queries += 1
            now = self._offset(self._clock.now())
            for a, b in self.spec.unavailable:
                if a <= now < b:
                    raise NoData("Azure Monitor metrics unavailable (simulated outage)")
            self.accrue()
            return {q.endpoint: self._minutes(q, now) for q in queries}

    def _minutes(self, q: MetricsQuery, now: float) -> list[Minute]:
        book = self._books.get(q.endpoint)
        if book is None:
            return []
        first = max(0, math.ceil(self._offset(q.start) / 60.0 - 1e-9))
        end = min(self._offset(q.end), now)
        out: list[Minute] = []
        k = first
        while (k + 1) * 60.0 <= end:
            visible = (k + 1) * 60.0 + self.spec.delay <= now
            if visible and k in book.closed:
                found = self._minute(q, book, k)
                if found is not None:
                    out.append(found)
            k += 1
        return out

    def _minute(self, q: MetricsQuery, book: _EndpointBook, k: int) -> Minute | None:
        """The closed minute ``k`` for this canary/baseline pair (built once: it never changes)."""
        key = (q.endpoint, q.canary, q.baselines, k)
        if key in self._built:
            return self._built[key]
        built: Minute | None = None
        if not any(a <= k * 60.0 < b for a, b in self.spec.outages):
            cells = book.closed[k]
            c = _lookup(cells, q.canary)
            b = _pool([_lookup(cells, d) for d in q.baselines])
            if c.requests + b.requests > 0:
                built = Minute(
                    canary_requests=c.requests,
                    canary_errors=c.errors,
                    baseline_requests=b.requests,
                    baseline_errors=b.errors,
                    start=self._start + timedelta(minutes=k),
                    canary_p50=c.p50,
                    canary_p90=c.p90,
                    canary_p99=c.p99,
                    baseline_p50=b.p50,
                    baseline_p90=b.p90,
                    baseline_p99=b.p99,
                    canary_p95=c.p95,
                    baseline_p95=b.p95,
                )
        self._built[key] = built
        return built


def _pool(sides: list[Served]) -> Served:
    """Several deployments as one baseline: counts add up, percentiles are request-weighted
    (as the metrics adapter pools them)."""
    if len(sides) == 1:
        return sides[0]
    out = Served(
        requests=sum(s.requests for s in sides),
        errors=sum(s.errors for s in sides),
        live_requests=sum(s.live_requests for s in sides),
        live_errors=sum(s.live_errors for s in sides),
    )
    for level in ("p50", "p90", "p95", "p99"):
        known = [(getattr(s, level), s.requests) for s in sides if getattr(s, level) is not None]
        weight = sum(n for _, n in known)
        if known:
            setattr(out, level, sum(v * n for v, n in known) / weight if weight else known[0][0])
    return out


def _lookup(cells: Mapping[str, Served], name: str) -> Served:
    found = cells.get(name)
    if found is not None:
        return found
    low = name.lower()  # Azure Monitor lower-cases dimension values (shared/azure/metrics.py)
    for key, value in cells.items():
        if key.lower() == low:
            return value
    return Served()
