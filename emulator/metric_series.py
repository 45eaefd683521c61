"""Metric values computed from the requests the router recorded (``ctx.records``), as they are
visible at a given time.

Ingestion (on by default, as in Azure): Azure Monitor's platform metrics are eventually
consistent. A minute is not queryable as soon as it ends: platform metrics take up to minutes
to reach the metrics database, and until then the newest points are missing or carry only
part of their samples ("Resource metrics might also have a different latency than other
metrics ... Over time when latency ceases to be an issue ... these differences disappear":
MicrosoftDocs/azure-monitor-docs ``articles/azure-monitor/metrics/data-platform-metrics.md``,
Data collection; "Azure Monitor is an eventually consistent metrics API, Azure Monitor takes
few minutes (late aggregations) to make the latest data-points available": Dynatrace's getBatch
poller, docs.dynatrace.com ``azure-monitor-metrics-pp``, which waits 5 minutes). So
:class:`Ingestion` makes a minute invisible until ``delay_minutes`` after it ends, then shows
only about ``partial_fraction`` of its samples (a stable choice per request) for
``revision_minutes``, then the whole minute. Durations are API minutes, each lasting
``ctx.bucket_seconds`` real seconds, so a compressed local clock compresses the delay too.
The alert evaluator reads the same values, so its view lags in the same way. ``delay_minutes=0``
with ``partial_fraction=1`` turns it off (every request visible at once).
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from emulator.addon_http import minute_seconds
from emulator.context import Context
from emulator.metric_catalog import MetricDef, dimension_values
from emulator.metric_filter import DimFilter
from emulator.records import RequestRecord


@dataclass
class Stats:
    total: float = 0.0
    count: int = 0
    minimum: float = math.inf
    maximum: float = -math.inf

    def add(self, value: float) -> None:
        self.total += value
        self.count += 1
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)

    def value(self, aggregation: str) -> float | None:
        if self.count == 0:
            return None
        if aggregation == "total":
            return self.total
        if aggregation == "count":
            return float(self.count)
        if aggregation == "minimum":
            return self.minimum
        if aggregation == "maximum":
            return self.maximum
        return self.total / self.count


def nearest_rank(values: list[float], p: float) -> float:
    data = sorted(values)
    rank = max(1, math.ceil(p / 100.0 * len(data)))
    return data[min(rank, len(data)) - 1]


def samples(
    records: Iterable[RequestRecord], metric: MetricDef, namespace: str, bucket: float
) -> list[tuple[int, dict[str, str], float]]:
    """(bucket index, dimension values, sample value) for one metric, as described above."""
    ns = namespace.lower()
    if metric.kind == "latency":
        return [
            (
                math.floor(r.time / bucket),
                {d: v for d, v in dimension_values(r, ns).items() if d in metric.dimensions},
                r.total_ms,
            )
            for r in records
        ]
    grouped: dict[tuple[int, tuple[tuple[str, str], ...]], list[float]] = {}
    for r in records:
        values = dimension_values(r, ns)
        key = (
            math.floor(r.time / bucket),
            tuple((d, values.get(d, "")) for d in metric.dimensions),
        )
        grouped.setdefault(key, []).append(r.total_ms)
    out: list[tuple[int, dict[str, str], float]] = []
    for (b, combo), latencies in grouped.items():
        value = (
            float(len(latencies))
            if metric.kind == "count"
            else nearest_rank(latencies, metric.percentile)
        )
        out.append((b, dict(combo), value))
    return out


INGESTION_KEY = "metrics_ingestion"


@dataclass(frozen=True)
class Ingestion:
    """When a recorded request becomes visible to metric queries and alert rules."""

    delay_minutes: float = 2.0
    partial_fraction: float = 0.5
    revision_minutes: float = 1.0

    def __post_init__(self) -> None:
        for name in ("delay_minutes", "revision_minutes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number")
            if not 0 <= value <= 60:
                raise ValueError(f"{name} must be from 0 to 60 (API minutes)")
        fraction = self.partial_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, int | float):
            raise ValueError("partial_fraction must be a number")
        if not 0 <= fraction <= 1:
            raise ValueError("partial_fraction must be from 0 to 1")

    @classmethod
    def from_json(cls, raw: Any, base: Ingestion | None = None) -> Ingestion:
        """Settings from a JSON object; keys left out keep ``base``'s values."""
        if not isinstance(raw, Mapping):
            raise ValueError("the ingestion settings must be a JSON object")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"unknown ingestion settings: {', '.join(unknown)}")
        return cls(**{**asdict(base or cls()), **raw})

    def to_json(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}

    @property
    def off(self) -> bool:
        return self.delay_minutes == 0 and (
            self.partial_fraction >= 1 or self.revision_minutes == 0
        )

    def visible(self, record: RequestRecord, bucket: float, now: float) -> bool:
        """Whether ``record`` is in the metrics a query made at ``now`` sees."""
        if self.off:
            return True
        minute_end = (math.floor(record.time / bucket) + 1) * bucket
        shown = minute_end + self.delay_minutes * bucket
        if now < shown:
            return False
        if now >= shown + self.revision_minutes * bucket:
            return True
        return _share(record) < self.partial_fraction


def _share(record: RequestRecord) -> float:
    """A stable number in [0, 1) per request: which requests arrive with the first part."""
    key = f"{record.time!r}|{record.request_id}|{record.deployment}".encode()
    return zlib.crc32(key) / 2**32


def ingestion_of(ctx: Context) -> Ingestion:
    """The emulator's ingestion settings (``ctx.extras["metrics_ingestion"]``), or Azure's."""
    value = ctx.extras.get(INGESTION_KEY)
    return value if isinstance(value, Ingestion) else Ingestion()


def complete_until(ctx: Context, now: float) -> float:
    """Where ingested data is whole at ``now``: the ingestion delay and revision before it,
    down to a minute boundary (so a PT1M window holds one whole minute). Evaluators (alert
    rules, autoscale) end their windows here: they see a minute as late as a query sees it
    whole. (Whether Azure's evaluators wait for revisions or also judge partial minutes is
    unconfirmed.)"""
    ingestion = ingestion_of(ctx)
    lag = 0.0 if ingestion.off else ingestion.delay_minutes + ingestion.revision_minutes
    bucket = minute_seconds(ctx)
    return math.floor((now - lag * bucket) / bucket + 1e-9) * bucket


def _records_for(
    ctx: Context, endpoint: str, deployment: str | None, start: float, end: float
) -> list[RequestRecord]:
    wanted_ep = endpoint.lower()
    wanted_dep = deployment.lower() if deployment is not None else None
    return [
        r
        for r in ctx.records.between(start, end)
        if r.endpoint.lower() == wanted_ep
        and (wanted_dep is None or r.deployment.lower() == wanted_dep)
    ]


@dataclass(frozen=True)
class Series:
    metadata: tuple[tuple[str, str], ...]
    points: list[Stats]


def compute_series(
    ctx: Context,
    namespace: str,
    metric: MetricDef,
    endpoint: str,
    deployment: str | None,
    dim_filter: DimFilter,
    start: float,
    end: float,
    step: float | None,
    now: float | None = None,
) -> tuple[list[float], list[Series]]:
    """Point start times and the series of one metric on one resource, as seen at ``now``.

    ``step`` is the real length of one point (a multiple of the bucket), or None for one point
    covering exactly [start, end) (``FULL``). Requests not yet ingested at ``now`` (see
    :class:`Ingestion`) are left out.
    """
    bucket = minute_seconds(ctx)
    seen_at = time.time() if now is None else now
    ingestion = ingestion_of(ctx)
    if step is None:
        first = start
        point_starts = [start]
        # Whole buckets inside [start, end): the pre-aggregated minutes the window covers.
        lo_bucket = math.ceil(start / bucket - 1e-9)
        hi_bucket = math.floor(end / bucket + 1e-9)
        records = _records_for(ctx, endpoint, deployment, lo_bucket * bucket, hi_bucket * bucket)
    else:
        first_index = math.floor(start / step + 1e-9)
        last_index = max(math.floor(end / step + 1e-9), first_index + 1)
        point_starts = [i * step for i in range(first_index, last_index)]
        first = first_index * step
        records = _records_for(ctx, endpoint, deployment, first, last_index * step)
    records = [r for r in records if ingestion.visible(r, bucket, seen_at)]
    by_series: dict[tuple[tuple[str, str], ...], list[Stats]] = {}
    if not dim_filter.split:
        by_series[()] = [Stats() for _ in point_starts]
    for b, values, value in samples(records, metric, namespace, bucket):
        if not dim_filter.admits(values):
            continue
        key = tuple((d, values.get(d, "")) for d in dim_filter.split)
        points = by_series.get(key)
        if points is None:
            points = by_series[key] = [Stats() for _ in point_starts]
        index = 0 if step is None else math.floor((b * bucket - first) / step + 1e-9)
        if 0 <= index < len(points):
            points[index].add(value)
    return point_starts, [Series(k, v) for k, v in by_series.items()]
