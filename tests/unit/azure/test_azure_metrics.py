"""The metrics adapter's minute building and batching on canned SDK results (no network)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.monitor.querymetrics import Metric, MetricsQueryResult, MetricValue, TimeSeriesElement
from azure_test_helpers import http_error, settings

from shared.azure import retry
from shared.azure.metrics import DEPLOYMENT_NAMESPACE, NAMESPACE, MonitorMetricsSource
from shared.errors import NoData
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
    return MetricsQueryResult(
        timespan="x",
        metrics=[
            Metric(
                id=f"{rid(endpoint)}/providers/Microsoft.Insights/metrics/{name}",
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
    return series({"deployment": dep, "statuscodeclass": status_class}, points, "total")


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
                rpm = self.count_series.get(endpoint, [])
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


def test_requests_sum_status_classes_and_errors_are_the_5xx_class() -> None:
    """Requests add up over every status class; errors are 5xx (any letter case)."""
    client = FakeMetricsClient(
        {
            "ep": [
                counts("green", "2xx", {1: 90}),
                counts("green", "5xx", {1: 7}),
                counts("green", "4xx", {1: 3}),
                counts("blue", "2xx", {1: 900}),
                counts("blue", "5XX", {1: 2}),
            ]
        }
    )
    [m] = source(client).stage_minutes([q()])["ep"]
    assert (m.canary_requests, m.canary_errors) == (100, 7)
    assert (m.baseline_requests, m.baseline_errors) == (902, 2)
    assert m.start == minute(1)


def test_model_errors_count_as_errors() -> None:
    """A model answering non-200 reaches the caller as 424 (class 4xx) with its modelStatusCode:
    a model error, counted by default; the router's own 4xx (modelStatusCode 0) are not."""

    def by_model(dep: str, status_class: str, model: str, n: float) -> TimeSeriesElement:
        meta = {"deployment": dep, "statuscodeclass": status_class, "modelstatuscode": model}
        return series(meta, {1: n}, "total")

    client = FakeMetricsClient(
        {
            "ep": [
                by_model("green", "2xx", "200", 80),
                by_model("green", "4xx", "500", 12),
                by_model("green", "4xx", "400", 5),
                by_model("green", "4xx", "0", 3),
                by_model("blue", "2xx", "200", 300),
                by_model("blue", "5xx", "0", 4),
            ]
        }
    )
    [m] = source(client).stage_minutes([q()])["ep"]
    assert (m.canary_requests, m.canary_errors) == (100, 17)
    assert (m.baseline_requests, m.baseline_errors) == (304, 4)
    without_424 = replace(q(), errors=("5xx",))
    assert source(client).stage_minutes([without_424])["ep"][0].canary_errors == 0


def test_latency_percentiles_fill_the_minute() -> None:
    client = FakeMetricsClient(
        {"ep": [counts("green", "2xx", {2: 10}), counts("blue", "2xx", {2: 10})]},
        {
            "ep": {
                "RequestLatency_P50": [latency("green", {2: 12.0}), latency("blue", {2: 10.0})],
                "RequestLatency_P90": [latency("green", {2: 30.0})],
                "RequestLatency_P99": [latency("blue", {2: 90.0})],
            }
        },
    )
    [m] = source(client).stage_minutes([q()])["ep"]
    assert (m.canary_p50, m.canary_p90, m.canary_p99) == (12.0, 30.0, None)
    assert (m.baseline_p50, m.baseline_p90, m.baseline_p99) == (10.0, None, 90.0)


def test_a_baseline_pool_adds_up_the_deployments_and_weights_their_percentiles() -> None:
    """An endpoint split between blue and teal before the rollout: both are the baseline."""
    client = FakeMetricsClient(
        {
            "ep": [
                counts("green", "2xx", {2: 100}),
                counts("blue", "2xx", {2: 300}),
                counts("blue", "5xx", {2: 3}),
                counts("teal", "2xx", {2: 100}),
                counts("teal", "5xx", {2: 9}),
            ]
        },
        {"ep": {"RequestLatency_P50": [latency("blue", {2: 10.0}), latency("teal", {2: 30.0})]}},
    )
    [m] = source(client).stage_minutes([replace(q(), pool=("teal",))])["ep"]
    assert (m.baseline_requests, m.baseline_errors) == (412, 12)
    assert m.baseline_p50 == (10.0 * 303 + 30.0 * 109) / 412


def test_open_minute_and_minutes_outside_the_range_are_left_out() -> None:
    """Only minutes wholly inside [start, end) and ended by now count, oldest first."""
    pts = {0: 5, 1: 5, 2: 5, 3: 5, 4: 5, 5: 5}
    client = FakeMetricsClient({"ep": [counts("green", "2xx", pts), counts("blue", "2xx", pts)]})
    minutes = source(client).stage_minutes([q(start=1)])["ep"]
    assert [m.start for m in minutes] == [minute(n) for n in (1, 2, 3, 4)]
    ended_early = source(client).stage_minutes([q(start=1, end=minute(3) + timedelta(seconds=5))])
    assert [m.start for m in ended_early["ep"]] == [minute(1), minute(2)]


def test_minutes_without_requests_are_left_out_never_zero() -> None:
    """Missing points and zero totals on both sides give no minute at all."""
    client = FakeMetricsClient(
        {
            "ep": [
                counts("green", "2xx", {1: 4, 2: 0}),
                counts("blue", "2xx", {1: 40, 2: 0, 4: 3}),
                counts("other", "2xx", {3: 50}),
            ]
        }
    )
    minutes = source(client).stage_minutes([q()])["ep"]
    assert [m.start for m in minutes] == [minute(1), minute(4)]
    assert (minutes[1].canary_requests, minutes[1].baseline_requests) == (0, 3)


def test_results_are_matched_to_endpoints_by_metric_id() -> None:
    """The answer's order does not matter: each metric id names its resource."""
    client = FakeMetricsClient(
        {
            "ep-a": [counts("green", "2xx", {1: 1}), counts("blue", "2xx", {1: 10})],
            "ep-b": [counts("green", "2xx", {1: 2}), counts("blue", "2xx", {1: 20})],
        },
        reverse=True,
    )
    out = source(client).stage_minutes([q("ep-a"), q("ep-b"), q("ep-c")])
    assert out["ep-a"][0].baseline_requests == 10
    assert out["ep-b"][0].baseline_requests == 20
    assert out["ep-c"] == []


def test_queries_are_batched_by_50_resources_with_the_documented_parameters() -> None:
    client = FakeMetricsClient({})
    queries = [q(f"ep-{i}", start=i % 3) for i in range(120)]
    out = source(client).stage_minutes(queries)
    assert len(out) == 120
    assert [len(c["resource_ids"]) for c in client.calls] == [50, 50, 50, 50, 20, 20]
    counts_call, latency_call = client.calls[0], client.calls[1]
    assert counts_call["resource_ids"][0] == rid("ep-0")
    assert counts_call["metric_namespace"] == NAMESPACE
    assert counts_call["metric_names"] == ["RequestsPerMinute"]
    assert counts_call["aggregations"] == ["Total"]
    assert counts_call["filter"] == (
        "deployment eq '*' and statusCode eq '*' and statusCodeClass eq '*' "
        "and modelStatusCode eq '*'"
    )
    assert counts_call["granularity"] == timedelta(minutes=1)
    assert counts_call["timespan"] == (minute(0), NOW)
    assert counts_call["max_results"] >= 100
    assert latency_call["metric_names"] == [
        "RequestLatency_P50",
        "RequestLatency_P90",
        "RequestLatency_P95",
        "RequestLatency_P99",
    ]
    assert latency_call["aggregations"] == ["Average"]
    assert latency_call["filter"] == "deployment eq '*'"


def test_no_queries_and_queries_without_a_closed_minute_make_no_call() -> None:
    client = FakeMetricsClient({})
    assert source(client).stage_minutes([]) == {}
    young = MetricsQuery("ep", "green", "blue", NOW - timedelta(seconds=20), NOW)
    assert source(client).stage_minutes([young]) == {"ep": []}
    assert client.calls == []


def test_transient_failure_is_retried() -> None:
    client = FakeMetricsClient(
        {"ep": [counts("blue", "2xx", {1: 3})]}, failures=[http_error(503, "ServiceUnavailable")]
    )
    assert source(client).stage_minutes([q()])["ep"][0].baseline_requests == 3
    assert len(client.calls) == 3


@pytest.mark.parametrize(
    "failure",
    [http_error(503, "ServiceUnavailable"), http_error(400, "BadRequest", "bad filter")],
    ids=["outage", "refused"],
)
def test_no_answer_is_nodata(failure: Exception) -> None:
    """An outage (after retries) or a refused query is NoData, never empty minutes."""
    client = FakeMetricsClient({}, failures=[failure] * 5)
    with pytest.raises(NoData) as info:
        source(client).stage_minutes([q()])
    assert info.value.details["cause"] in ("ServiceUnavailable", "BadRequest")


def test_short_buckets_for_demos() -> None:
    """With granularity_seconds=2 a "minute" is a 2 s bucket: closed ones end by now."""
    base = T0
    now = base + timedelta(seconds=7)
    pts = [
        TimeSeriesElement(
            metadata_values={"deployment": d, "statusCodeClass": "2xx"},
            data=[
                MetricValue(timestamp=base + timedelta(seconds=s), total=1.0) for s in (0, 2, 4, 6)
            ],
        )
        for d in ("green", "blue")
    ]
    client = FakeMetricsClient({"ep": pts})
    src = MonitorMetricsSource(
        S, object(), granularity_seconds=2, client_factory=lambda: client, clock=lambda: now
    )
    minutes = src.stage_minutes([MetricsQuery("ep", "green", "blue", base, now)])["ep"]
    assert [m.start for m in minutes] == [base + timedelta(seconds=s) for s in (0, 2, 4)]


def test_granularity_must_be_positive() -> None:
    with pytest.raises(ValueError):
        MonitorMetricsSource(S, object(), granularity_seconds=0)


def by_code(dep: str, code: str, points: dict[int, float]) -> TimeSeriesElement:
    status_class = f"{code[0]}xx"
    meta = {"deployment": dep, "statuscode": code, "statuscodeclass": status_class}
    return series(meta, points, "total")


def test_the_query_errors_say_which_status_codes_count() -> None:
    """By default 5xx, 424 (model errors), 408 (timeouts) and 429 (throttling) count; a policy
    listing only 5xx counts only those; 404 and 400 never count unless listed."""
    client = FakeMetricsClient(
        {
            "ep": [
                by_code("green", "200", {1: 60}),
                by_code("green", "503", {1: 5}),
                by_code("green", "424", {1: 4}),
                by_code("green", "408", {1: 3}),
                by_code("green", "429", {1: 2}),
                by_code("green", "404", {1: 6}),
                by_code("blue", "200", {1: 500}),
            ]
        }
    )
    [default] = source(client).stage_minutes([q()])["ep"]
    assert (default.canary_requests, default.canary_errors) == (80, 14)
    only_5xx = replace(q(), errors=("5xx",))
    [strict] = source(client).stage_minutes([only_5xx])["ep"]
    assert strict.canary_errors == 5
    with_404 = replace(q(), errors=("5xx", "404"))
    assert source(client).stage_minutes([with_404])["ep"][0].canary_errors == 11


class DeploymentMetricsClient:
    """Answers deployment-scope queries: one resource per deployment, envoy_response_code."""

    def __init__(self, per_deployment: dict[str, dict[str, dict[int, float]]]) -> None:
        self.per_deployment = per_deployment
        self.calls: list[dict[str, Any]] = []

    def query_resources(self, **kw: Any) -> list[MetricsQueryResult]:
        self.calls.append(kw)
        out = []
        for r in kw["resource_ids"]:
            dep = r.rsplit("/", 1)[-1]
            if kw["metric_names"] == ["RequestsPerMinute"]:
                ts = [
                    series({"envoy_response_code": code}, pts, "total")
                    for code, pts in self.per_deployment.get(dep, {}).items()
                ]
                metrics = {"RequestsPerMinute": ts}
            else:
                ts = [series({}, {1: 450.0}, "average")] if dep == "green" else []
                metrics = {n: ts if n == "RequestLatency_P95" else [] for n in kw["metric_names"]}
            out.append(
                MetricsQueryResult(
                    timespan="x",
                    metrics=[
                        Metric(
                            id=f"{r}/providers/Microsoft.Insights/metrics/{name}",
                            type="Microsoft.Insights/metrics",
                            name=name,
                            unit="Count",
                            timeseries=t,
                            display_description="",
                        )
                        for name, t in metrics.items()
                    ],
                )
            )
        return out


def test_deployment_scope_reads_each_deployments_own_metrics() -> None:
    """The shadow's query reads .../onlineEndpoints/{ep}/deployments/{d} (namespace
    .../onlineEndpoints/deployments), counting envoy_response_code values as the errors say."""
    client = DeploymentMetricsClient(
        {"green": {"200": {1: 40}, "429": {1: 10}}, "blue": {"200": {1: 200}, "500": {1: 1}}}
    )
    src = MonitorMetricsSource(
        S, object(), client_factory=lambda: client, clock=lambda: NOW, retry_policy=FAST
    )
    [m] = src.stage_minutes([replace(q(), scope="deployment")])["ep"]
    assert (m.canary_requests, m.canary_errors) == (50, 10)
    assert (m.baseline_requests, m.baseline_errors) == (201, 1)
    assert m.canary_p95 == 450.0 and m.baseline_p95 is None
    counts_call = client.calls[0]
    assert counts_call["metric_namespace"] == DEPLOYMENT_NAMESPACE
    assert counts_call["filter"] == "envoy_response_code eq '*'"
    assert sorted(counts_call["resource_ids"]) == [
        f"{rid('ep')}/deployments/blue",
        f"{rid('ep')}/deployments/green",
    ]
    assert client.calls[1]["filter"] is None
    assert src.granularity_seconds == 60.0
