"""Canned Azure Monitor answers for the metrics adapter tests: series, a fake client, queries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.monitor.querymetrics import Metric, MetricsQueryResult, MetricValue, TimeSeriesElement
from azure_test_helpers import settings

from shared.azure import retry
from shared.azure.metrics import MonitorMetricsSource
from shared.ports import MetricsQuery

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(minutes=5, seconds=30)  # 12:05 is the open minute
S = settings()
FAST = retry.RetryPolicy(attempts=3, base_delay=0.0, max_delay=0.0, budget=1.0)


def rid(endpoint: str) -> str:
    return f"{S.workspace_id}/onlineEndpoints/{endpoint}"


def minute(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


def series(meta: dict[str, str], points: dict[int, float], field: str) -> TimeSeriesElement:
    return TimeSeriesElement(
        metadata_values=meta,
        data=[MetricValue(timestamp=minute(n), **{field: v}) for n, v in points.items()],
    )


def result(endpoint: str, metrics: dict[str, list[TimeSeriesElement]]) -> MetricsQueryResult:
    return resource_result(rid(endpoint), metrics)


def resource_result(
    resource_id: str, metrics: dict[str, list[TimeSeriesElement]]
) -> MetricsQueryResult:
    """One resource's answer: each metric's time series, as the SDK parses it."""
    return MetricsQueryResult(
        timespan="x",
        metrics=[
            Metric(
                id=f"{resource_id}/providers/Microsoft.Insights/metrics/{name}",
                type="Microsoft.Insights/metrics",
                name=name,
                unit="Count",
                timeseries=ts,
                display_description="",
            )
            for name, ts in metrics.items()
        ],
    )


def counts(dep: str, status_class: str, points: dict[int, float]) -> TimeSeriesElement:
    # The service lower-cases dimension names in metadata values.
    return series({"deployment": dep, "statuscodeclass": status_class}, points, "average")


def latency(dep: str, points: dict[int, float]) -> TimeSeriesElement:
    return series({"deployment": dep}, points, "average")


class FakeMetricsClient:
    """Answers query_resources from canned per-endpoint count and latency series."""

    def __init__(
        self,
        count_series: dict[str, list[TimeSeriesElement]],
        latency_series: dict[str, dict[str, list[TimeSeriesElement]]] | None = None,
        failures: Sequence[Exception] = (),
        reverse: bool = False,
    ) -> None:
        self.count_series = count_series
        self.latency_series = latency_series or {}
        self.failures = list(failures)
        self.calls: list[dict[str, Any]] = []
        self.reverse = reverse

    def query_resources(self, **kw: Any) -> list[MetricsQueryResult]:
        self.calls.append(kw)
        if self.failures:
            raise self.failures.pop(0)
        out = []
        for r in kw["resource_ids"]:
            endpoint = r.rsplit("/", 1)[-1]
            if kw["metric_names"] == ["RequestsPerMinute"]:
                # like the service: the ``top`` (max_results) largest series, the rest dropped
                rpm = sorted(
                    self.count_series.get(endpoint, []),
                    key=lambda ts: -sum(p.average or 0 for p in ts.data or []),
                )[: kw.get("max_results") or 10]
                out.append(result(endpoint, {"RequestsPerMinute": rpm}))
            else:
                per = self.latency_series.get(endpoint, {})
                out.append(result(endpoint, {n: per.get(n, []) for n in kw["metric_names"]}))
        return out[::-1] if self.reverse else out


def source(client: FakeMetricsClient, **kw: Any) -> MonitorMetricsSource:
    return MonitorMetricsSource(
        S, object(), client_factory=lambda: client, clock=lambda: NOW, retry_policy=FAST, **kw
    )


def q(endpoint: str = "ep", start: int = 0, end: datetime = NOW) -> MetricsQuery:
    return MetricsQuery(endpoint, "green", "blue", minute(start), end)
