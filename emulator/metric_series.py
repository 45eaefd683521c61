"""Metric values computed from the requests the router recorded (``ctx.records``)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

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
) -> tuple[list[float], list[Series]]:
    """Point start times and the series of one metric on one resource.

    ``step`` is the real length of one point (a multiple of the bucket), or None for one point
    covering exactly [start, end) (``FULL``).
    """
    bucket = minute_seconds(ctx)
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
