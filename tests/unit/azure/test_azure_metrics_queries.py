"""The metrics adapter's Monitor queries: batches, parameters, retries, NoData, deployment scope."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from azure.monitor.querymetrics import MetricsQueryResult
from azure_test_helpers import http_error
from metrics_test_helpers import (
    FAST,
    NOW,
    FakeMetricsClient,
    S,
    counts,
    minute,
    q,
    resource_result,
    rid,
    series,
    source,
)

from shared.azure.metrics import DEPLOYMENT_NAMESPACE, NAMESPACE, MonitorMetricsSource
from shared.errors import NoData
from shared.ports import MetricsQuery


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
    assert counts_call["aggregations"] == ["Average"]  # the only one RequestsPerMinute has
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
                    series({"envoy_response_code": code}, pts, "average")
                    for code, pts in self.per_deployment.get(dep, {}).items()
                ]
                metrics = {"RequestsPerMinute": ts}
            else:
                ts = [series({}, {1: 450.0}, "average")] if dep == "green" else []
                metrics = {n: ts if n == "RequestLatency_P95" else [] for n in kw["metric_names"]}
            out.append(resource_result(r, metrics))
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


def test_deployment_scope_counts_the_models_own_non_2xx_as_model_errors() -> None:
    """At the shadow's scope a model that answered 400 shows as envoy_response_code 400 (the
    deployment's own answer), where the endpoint would report 424: with 424 listed (model
    errors, the default) it counts, as it would live; with 5xx only, a 400 does not."""
    client = DeploymentMetricsClient(
        {"green": {"200": {1: 40}, "400": {1: 8}, "503": {1: 2}}, "blue": {"200": {1: 200}}}
    )
    src = MonitorMetricsSource(
        S, object(), client_factory=lambda: client, clock=lambda: NOW, retry_policy=FAST
    )
    [m] = src.stage_minutes([replace(q(), scope="deployment")])["ep"]
    assert (m.canary_requests, m.canary_errors) == (50, 10)
    [m] = src.stage_minutes([replace(q(), scope="deployment", errors=("5xx",))])["ep"]
    assert m.canary_errors == 2
    [m] = src.stage_minutes([replace(q(), scope="deployment", errors=("424",))])["ep"]
    assert m.canary_errors == 10


def test_endpoint_scope_counts_a_routers_own_4xx_only_when_listed() -> None:
    """At the endpoint a 400 is the router's own answer (a model's is 424): not a model error."""
    client = FakeMetricsClient(
        {
            "ep": [
                series({"deployment": "green", "statuscode": code}, {1: n}, "average")
                for code, n in (("400", 5), ("200", 45))
            ]
        }
    )
    [m] = source(client).stage_minutes([q("ep")])["ep"]
    assert (m.canary_requests, m.canary_errors) == (50, 0)


def test_a_count_answer_at_the_series_limit_is_no_data_not_a_partial_count() -> None:
    """The service keeps the ``top`` largest series and drops the rest silently: the small
    error series would be lost, so an answer that reaches the limit is refused."""
    many = [
        series({"deployment": "blue", "statuscode": str(code)}, {1: 100 - i / 10}, "average")
        for i, code in enumerate(range(200, 450))
    ]
    client = FakeMetricsClient({"ep": [counts("green", "5xx", {1: 1}), *many]})
    with pytest.raises(NoData, match="series"):
        source(client).stage_minutes([q("ep")])


def test_a_count_answer_below_the_series_limit_is_read_whole() -> None:
    few = [
        series({"deployment": "blue", "statuscode": str(c)}, {1: 5}, "average") for c in range(50)
    ]
    client = FakeMetricsClient({"ep": [counts("green", "5xx", {1: 1}), *few]})
    out = source(client).stage_minutes([q("ep")])
    assert out["ep"][0].baseline_requests == 250 and out["ep"][0].canary_errors == 1


def test_failed_metrics_names_each_metric_whose_error_code_is_not_success() -> None:
    """The batch answer's per-metric errorCode ('Success' or the failure), as the SDK's generated
    model reads it; anything else in the body is not a failure."""
    from shared.azure.metric_reading import failed_metrics

    body = {
        "values": [
            {
                "resourceid": "/x/onlineEndpoints/ep",
                "value": [
                    {"name": {"value": "RequestsPerMinute"}, "errorCode": "Success"},
                    {"name": {"value": "RequestLatency_P50"}},
                    {
                        "name": {"value": "RequestLatency_P90"},
                        "errorCode": "Throttled",
                        "errorMessage": "Query was throttled\n with reason: ServerBusy",
                    },
                ],
            },
            "not an object",
        ]
    }
    assert failed_metrics(body) == [
        "RequestLatency_P90 of /x/onlineEndpoints/ep: Throttled "
        "(Query was throttled with reason: ServerBusy)"
    ]
    assert failed_metrics({"values": "oops"}) == [] and failed_metrics([]) == []


def test_deployment_scope_model_errors_follow_what_the_list_covers() -> None:
    """4xx covers 424, so a model's own 500 there counts; 408 and 429 are the platform's own
    answers (never 424 at the endpoint) and count only when listed; a pooled baseline reads its
    deployments' own answers the same way."""
    client = DeploymentMetricsClient(
        {
            "green": {"200": {1: 40}, "500": {1: 4}, "429": {1: 3}, "408": {1: 2}},
            "blue": {"200": {1: 100}, "400": {1: 2}},
            "red": {"200": {1: 100}, "400": {1: 2}},
        }
    )
    src = MonitorMetricsSource(
        S, object(), client_factory=lambda: client, clock=lambda: NOW, retry_policy=FAST
    )
    [m] = src.stage_minutes([replace(q(), scope="deployment", errors=("4xx",))])["ep"]
    assert m.canary_errors == 4 + 3 + 2  # 4xx covers 424 (the 500) and lists 429, 408
    [m] = src.stage_minutes([replace(q(), scope="deployment", errors=("5xx", "424"))])["ep"]
    assert m.canary_errors == 4  # 429 and 408 are not model errors
    pooled = replace(q(), scope="deployment", errors=("424",), pool=("red",))
    [m] = src.stage_minutes([pooled])["ep"]
    assert (m.baseline_requests, m.baseline_errors) == (204, 4)
