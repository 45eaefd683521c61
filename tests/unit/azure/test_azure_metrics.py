"""The metrics adapter's minutes from canned SDK series: requests, errors, latency, which count."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from azure.monitor.querymetrics import MetricValue, TimeSeriesElement
from metrics_test_helpers import (
    T0,
    FakeMetricsClient,
    S,
    counts,
    latency,
    minute,
    q,
    series,
    source,
)

from shared.azure.metrics import MonitorMetricsSource
from shared.ports import MetricsQuery


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
        return series(meta, {1: n}, "average")

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
    """Missing points and zero counts on both sides give no minute at all."""
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


def test_short_buckets_for_demos() -> None:
    """With granularity_seconds=2 a "minute" is a 2 s bucket: closed ones end by now."""
    base = T0
    now = base + timedelta(seconds=7)
    pts = [
        TimeSeriesElement(
            metadata_values={"deployment": d, "statusCodeClass": "2xx"},
            data=[
                MetricValue(timestamp=base + timedelta(seconds=s), average=1.0)
                for s in (0, 2, 4, 6)
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
    return series(meta, points, "average")


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
