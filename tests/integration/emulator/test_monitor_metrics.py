"""The metrics batch API, driven by azure-monitor-querymetrics' MetricsClient over HTTPS."""

from __future__ import annotations

import json
import math
import ssl
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from addon_harness import Server, addon_server, record
from azure.core.exceptions import HttpResponseError
from azure.monitor.querymetrics import MetricsClient

from emulator.client import LocalCredential
from emulator.monitor import DEPLOYMENT_NS, ENDPOINT_NS

pytestmark = pytest.mark.integration

EP_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-autocanary-local"
    "/providers/Microsoft.MachineLearningServices/workspaces/ws-local/onlineEndpoints/ep"
)


@pytest.fixture
def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    with addon_server(tmp_path) as s:
        yield s


def client(s: Server) -> MetricsClient:
    return MetricsClient(s.url, LocalCredential(), connection_verify=s.cert)


def minute_start(minutes_ago: int) -> float:
    """A minute start far enough back that the seeded minutes are ingested and settled (the
    emulator's default ingestion delay and revision take 3 minutes)."""
    return (math.floor(time.time() / 60) - minutes_ago) * 60.0


def five_minute_start() -> float:
    """The start of the 5-minute interval before the previous one (aligned like PT5M points)."""
    return (math.floor(time.time() / 300) - 2) * 300.0


def span(first_minute: float, minutes: int) -> tuple[datetime, datetime]:
    start = datetime.fromtimestamp(first_minute, UTC)
    return start, start + timedelta(minutes=minutes)


FULL_SPLIT = (
    "deployment eq '*' and statusCode eq '*' and statusCodeClass eq '*' and modelStatusCode eq '*'"
)


def test_an_aggregation_the_metric_does_not_support_is_refused(server: Server) -> None:
    """RequestsPerMinute supports Average only (Azure's supported-metrics reference)."""
    with pytest.raises(HttpResponseError) as info:
        client(server).query_resources(
            resource_ids=[EP_ID],
            metric_namespace=ENDPOINT_NS,
            metric_names=["RequestsPerMinute"],
            timespan=span(minute_start(8), 3),
            aggregations=["Total"],
        )
    assert info.value.status_code == 400
    assert "Total is not supported by metric RequestsPerMinute" in str(info.value)


def seed(s: Server, m0: float) -> None:
    """Minute 0: blue 3x200 + 1x500, green 2x200. Minute 1: nothing. Minute 2: blue 1x503."""
    s.add(
        record(m0 + 1, "blue", 200, 10),
        record(m0 + 2, "blue", 200, 20),
        record(m0 + 3, "blue", 200, 30),
        record(m0 + 4, "blue", 500, 40),
        record(m0 + 5, "green", 200, 100),
        record(m0 + 6, "green", 200, 300, mirrored=True),
        record(m0 + 121, "blue", 503, 50),
    )


def test_requests_per_minute_split_by_every_dimension_counts_each_minute(server: Server) -> None:
    """Split by every dimension, each series is one combination whose Average at PT1M is its
    one sample, the minute's count: summed per deployment, the deployment's requests."""
    m0 = minute_start(8)
    seed(server, m0)
    [result] = client(server).query_resources(
        resource_ids=[EP_ID],
        metric_namespace=ENDPOINT_NS,
        metric_names=["RequestsPerMinute"],
        timespan=span(m0, 3),
        granularity=timedelta(minutes=1),
        aggregations=["Average"],
        filter=FULL_SPLIT,
        max_results=100,
    )
    per: dict[str, list[float | None]] = {}
    for ts in result.metrics[0].timeseries:
        row = per.setdefault(ts.metadata_values["deployment"], [None, None, None])
        for i, p in enumerate(ts.data):
            if p.average is not None:
                row[i] = (row[i] or 0.0) + p.average
        assert [p.timestamp.timestamp() for p in ts.data] == [m0, m0 + 60, m0 + 120]
    assert per == {"blue": [4.0, None, 1.0], "green": [2.0, None, None]}


def test_filter_on_deployment_and_status_class_counts_errors(server: Server) -> None:
    """deployment eq 'blue' and statusCodeClass eq '5xx' keeps blue's server errors only."""
    m0 = minute_start(8)
    seed(server, m0)
    [result] = client(server).query_resources(
        resource_ids=[EP_ID],
        metric_namespace=ENDPOINT_NS,
        metric_names=["RequestsPerMinute"],
        timespan=span(m0, 3),
        aggregations=["Average"],
        filter="deployment eq 'blue' and statusCodeClass eq '5xx'",
    )
    [ts] = result.metrics[0].timeseries
    assert ts.metadata_values == {"deployment": "blue", "statuscodeclass": "5xx"}
    assert [p.average for p in ts.data] == [1.0, None, 1.0]


def test_or_between_values_of_one_dimension_selects_both(server: Server) -> None:
    """statusCode eq '500' or statusCode eq '503' yields a series per listed value."""
    m0 = five_minute_start()
    seed(server, m0)
    [result] = client(server).query_resources(
        resource_ids=[EP_ID],
        metric_namespace=ENDPOINT_NS,
        metric_names=["RequestsPerMinute"],
        timespan=span(m0, 3),
        granularity=timedelta(minutes=5),
        aggregations=["Average"],
        filter="statusCode eq '500' or statusCode eq '503'",
    )
    totals = {  # one sample each in the interval: its Average is its count
        ts.metadata_values["statuscode"]: sum(p.average or 0 for p in ts.data)
        for ts in result.metrics[0].timeseries
    }
    assert totals == {"500": 1.0, "503": 1.0}


def test_or_across_dimensions_is_refused(server: Server) -> None:
    """Or-ing conditions on two different dimensions is a 400, as in Azure."""
    m0 = minute_start(8)
    with pytest.raises(HttpResponseError) as info:
        client(server).query_resources(
            resource_ids=[EP_ID],
            metric_namespace=ENDPOINT_NS,
            metric_names=["RequestsPerMinute"],
            timespan=span(m0, 3),
            filter="deployment eq 'blue' or statusCode eq '500'",
        )
    assert info.value.status_code == 400
    assert "cannot separate two different metadata names" in str(info.value)


def test_no_filter_gives_one_series_with_all_requests(server: Server) -> None:
    """Without a filter there is one series without metadata values, mirrored copies included."""
    m0 = minute_start(8)
    seed(server, m0)
    [result] = client(server).query_resources(
        resource_ids=[EP_ID],
        metric_namespace=ENDPOINT_NS,
        metric_names=["RequestsPerMinute"],
        timespan=span(m0, 3),
        aggregations=["Average"],
    )
    [ts] = result.metrics[0].timeseries
    assert ts.metadata_values == {}
    # One sample per (minute, dimension combination): blue/200 (3, with a mirrored copy to
    # green counted under green), blue/500 (1), green/200 (2): unsplit, Average is their mean.
    assert [p.average for p in ts.data] == [2.0, None, 1.0]


def test_latency_average_and_p99_by_deployment(server: Server) -> None:
    """RequestLatency averages request latencies; RequestLatency_P99 is the minute's P99."""
    m0 = minute_start(8)
    seed(server, m0)
    [result] = client(server).query_resources(
        resource_ids=[EP_ID],
        metric_namespace=ENDPOINT_NS,
        metric_names=["RequestLatency", "RequestLatency_P99"],
        timespan=span(m0, 1),
        aggregations=["Average"],  # the only one these metrics support
        filter="deployment eq '*'",
    )
    avg = {
        ts.metadata_values["deployment"]: ts.data[0]
        for ts in result.metrics["RequestLatency"].timeseries
    }
    assert avg["blue"].average == pytest.approx(25.0)
    assert avg["green"].average == pytest.approx(200.0)
    p99 = {
        ts.metadata_values["deployment"]: ts.data[0]
        for ts in result.metrics["RequestLatency_P99"].timeseries
    }
    assert p99["blue"].average == 40.0
    assert p99["green"].average == 300.0
    assert result.metrics["RequestLatency"].unit == "MilliSeconds"


def test_deployment_namespace_counts_by_envoy_response_code(tmp_path: Path) -> None:
    """The per-deployment namespace serves RequestsPerMinute split by envoy_response_code."""
    with addon_server(tmp_path) as s:
        m0 = five_minute_start()
        seed(s, m0)
        # PT5M: the mean of the interval's per-minute samples; one minute each here
        totals = _blue_envoy_codes(s, span(m0, 3), timedelta(minutes=5))
        assert totals == {"200": 3.0, "500": 1.0, "503": 1.0}


def _blue_envoy_codes(
    s: Server, timespan: tuple[datetime, datetime], granularity: timedelta
) -> dict[str, float]:
    """blue's own RequestsPerMinute by envoy_response_code, summed over the window."""
    [result] = client(s).query_resources(
        resource_ids=[EP_ID + "/deployments/blue"],
        metric_namespace=DEPLOYMENT_NS,
        metric_names=["RequestsPerMinute"],
        timespan=timespan,
        granularity=granularity,
        aggregations=["Average"],
        filter="envoy_response_code eq '*'",
    )
    return {
        ts.metadata_values["envoy_response_code"]: sum(p.average or 0 for p in ts.data)
        for ts in result.metrics[0].timeseries
    }


def test_deployment_namespace_shows_the_models_own_code_where_the_endpoint_says_424(
    tmp_path: Path,
) -> None:
    """A model answering 400 is 424 at the endpoint (modelStatusCode 400) and 400 in the
    deployment's own envoy_response_code; the router's own answers keep their code."""
    with addon_server(tmp_path) as s:
        m0 = five_minute_start()
        s.add(
            record(m0 + 1, "blue", 424, model_status=400),
            record(m0 + 2, "blue", 424, model_status=500),
            record(m0 + 3, "blue", 408, model_status=0),
            record(m0 + 4, "blue", 200),
        )
        codes = _blue_envoy_codes(s, span(m0, 1), timedelta(minutes=1))
        assert codes == {"400": 1.0, "500": 1.0, "408": 1.0, "200": 1.0}


def test_short_buckets_make_an_api_minute_last_bucket_seconds(tmp_path: Path) -> None:
    """With bucket_seconds=2, PT1M points are 2 s apart and count that bucket's requests."""
    with addon_server(tmp_path, bucket_seconds=2.0) as s:
        b0 = (math.floor(time.time() / 2) - 10) * 2.0
        s.add(record(b0 + 0.1), record(b0 + 0.5), record(b0 + 2.2), record(b0 + 4.9, status=500))
        [result] = client(s).query_resources(
            resource_ids=[EP_ID],
            metric_namespace=ENDPOINT_NS,
            metric_names=["RequestsPerMinute"],
            timespan=(datetime.fromtimestamp(b0, UTC), timedelta(seconds=6)),
            granularity=timedelta(minutes=1),
            aggregations=["Average"],
            filter="statusCode eq '*'",
        )
        by_status = {
            ts.metadata_values["statuscode"]: ts.data for ts in result.metrics[0].timeseries
        }
        for data in by_status.values():
            assert [p.timestamp.timestamp() for p in data] == [b0, b0 + 2, b0 + 4]
        assert [p.average for p in by_status["200"]] == [2.0, 1.0, None]
        assert [p.average for p in by_status["500"]] == [None, None, 1.0]


def test_unknown_metric_is_a_bad_request(server: Server) -> None:
    """A metric the namespace does not define is answered 400 naming the valid ones."""
    with pytest.raises(HttpResponseError) as info:
        client(server).query_resources(
            resource_ids=[EP_ID],
            metric_namespace=ENDPOINT_NS,
            metric_names=["CpuUtilizationPercentage"],
            timespan=timedelta(minutes=5),
        )
    assert info.value.status_code == 400
    assert "RequestsPerMinute" in str(info.value)


def test_dimension_the_metric_lacks_is_a_bad_request(server: Server) -> None:
    """Filtering RequestLatency by statusCode is refused: it only has 'deployment'."""
    with pytest.raises(HttpResponseError) as info:
        client(server).query_resources(
            resource_ids=[EP_ID],
            metric_namespace=ENDPOINT_NS,
            metric_names=["RequestLatency"],
            timespan=timedelta(minutes=5),
            filter="statusCode eq '*'",
        )
    assert info.value.status_code == 400


def test_request_without_bearer_token_is_unauthorized(server: Server) -> None:
    """Data-plane calls need a bearer token, as in Azure."""
    sub = "00000000-0000-0000-0000-000000000000"
    req = urllib.request.Request(
        f"{server.url}/subscriptions/{sub}/metrics:getBatch?metricnamespace={ENDPOINT_NS}"
        "&metricnames=RequestsPerMinute",
        data=json.dumps({"resourceids": [EP_ID]}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, context=ssl.create_default_context(cafile=server.cert))
    assert info.value.code == 401
