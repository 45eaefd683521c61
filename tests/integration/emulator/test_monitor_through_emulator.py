"""The add-ons inside the whole emulator: traffic scored through the router shows up in
metrics and logs (stock SDK clients), registrations reach Event Grid subscribers and alert
rules call their webhooks."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from emulator_helpers import Scorer, create_endpoint, make_deployment, set_traffic
from webhook_sink import webhook_sink

from emulator.client import logs_client, metrics_client
from emulator.connection import Connection
from emulator.monitor import ENDPOINT_NS
from emulator.testing import admin_request

pytestmark = pytest.mark.integration


@pytest.fixture
def served(emulator: Connection, ml: Any, endpoint_name: str, assets: dict[str, str]) -> float:
    """An endpoint with blue-v1 at 100 % and green-v2 at 0 %: 6 requests to blue, 3 to green
    (by header). Returns the time the scoring started."""
    create_endpoint(ml, endpoint_name)
    for name in ("blue-v1", "green-v2"):
        ml.online_deployments.begin_create_or_update(
            make_deployment(endpoint_name, name, assets["good"])
        ).result()
    set_traffic(ml, endpoint_name, {"blue-v1": 100})
    started = time.time()
    scorer = Scorer(emulator, ml, endpoint_name)
    for _ in range(6):
        assert scorer.score().status_code == 200
    for _ in range(3):
        assert scorer.score(azureml_model_deployment="green-v2").status_code == 200
    return started


def test_scored_requests_appear_in_metrics(
    emulator: Connection, endpoint_name: str, served: float
) -> None:
    """RequestsPerMinute split by deployment counts what the router served, once ingested:
    not at once (the 2-minute ingestion delay), exactly after the delay and the revision."""
    ident = f"/subscriptions/{emulator.subscription}/resourceGroups/{emulator.resource_group}"
    rid = (
        f"{ident}/providers/Microsoft.MachineLearningServices/workspaces/{emulator.workspace}"
        f"/onlineEndpoints/{endpoint_name}"
    )
    bucket = emulator.bucket_seconds
    start = datetime.fromtimestamp(served - bucket, UTC)
    end = datetime.now(UTC) + timedelta(seconds=2 * bucket)
    last_minute_end = (int(time.time() / bucket) + 1) * bucket

    def query() -> Any:
        [result] = metrics_client(emulator).query_resources(
            resource_ids=[rid],
            metric_namespace=ENDPOINT_NS,
            metric_names=["RequestsPerMinute", "RequestLatency"],
            timespan=(start, end),
            granularity=timedelta(minutes=1),
            aggregations=["Average"],
            filter="deployment eq '*'",
        )
        return result

    def totals(result: Any) -> dict[str, float]:  # 200s only here: one series a deployment
        return {
            ts.metadata_values["deployment"]: sum(p.average or 0 for p in ts.data)
            for ts in result.metrics["RequestsPerMinute"].timeseries
        }

    assert totals(query()) == {}
    # The default ingestion: 2 API minutes of delay, then 1 of revision.
    time.sleep(max(0.0, last_minute_end + 3 * bucket + 0.2 - time.time()))
    result = query()
    assert totals(result) == {"blue-v1": 6.0, "green-v2": 3.0}
    latency = result.metrics["RequestLatency"].timeseries
    assert all(p.average is None or p.average > 0 for ts in latency for p in ts.data)


def test_scored_requests_appear_in_the_traffic_log(
    emulator: Connection, endpoint_name: str, served: float
) -> None:
    """AmlOnlineEndpointTrafficLog has one row per served request, once ingested (3 API
    minutes after the last request)."""
    time.sleep(3 * emulator.bucket_seconds + 0.3)
    result = logs_client(emulator).query_workspace(
        emulator.log_analytics_workspace_id,
        f"AmlOnlineEndpointTrafficLog | where EndpointName == '{endpoint_name}'"
        " | summarize count() by DeploymentName, ResponseCode | order by DeploymentName asc",
        timespan=timedelta(minutes=10),
    )
    assert [list(r) for r in result.tables[0].rows] == [["blue-v1", 200, 6], ["green-v2", 200, 3]]


def test_model_registration_reaches_event_grid_subscriber(
    emulator: Connection, tmp_path: Any
) -> None:
    """Registering a model through the emulator emits ModelRegistered to the subscriber."""
    from emulator.samples import MODELS_DIR

    with webhook_sink() as sink:
        admin_request(
            emulator,
            "POST",
            "eventgrid/subscriptions",
            {
                "name": "sub-" + str(int(time.time() * 1000)),
                "endpointUrl": sink.url,
                "filter": {"subjectBeginsWith": "models/eg-"},
            },
        )
        admin_request(
            emulator,
            "POST",
            "models",
            {"name": "eg-model", "version": "4", "path": str(MODELS_DIR / "fraud-v1")},
        )
        assert sink.wait_for(lambda r: len(r) >= 1, timeout=10)
        event = sink.received[0][1][0]
        assert event["subject"] == "models/eg-model:4"
        assert event["data"]["modelName"] == "eg-model"


def test_alert_rule_calls_webhook_for_served_traffic(
    emulator: Connection, endpoint_name: str, served: float
) -> None:
    """A rule on the endpoint's request count fires once its traffic is in the window."""
    with webhook_sink() as sink:
        admin_request(
            emulator,
            "POST",
            "alert-rules",
            {
                "name": "traffic-" + endpoint_name,
                "endpoint": endpoint_name,
                "metricName": "RequestsPerMinute",
                "operator": "GreaterThan",
                "threshold": 5,
                "timeAggregation": "Total",
                "windowSize": "PT5M",
                "evaluationFrequency": "PT1M",
                "webhookUrls": [sink.url],
            },
        )
        try:
            assert sink.wait_for(lambda r: len(r) >= 1, timeout=15)
            essentials = sink.received[0][1]["data"]["essentials"]
            assert essentials["monitorCondition"] == "Fired"
            assert essentials["alertTargetIDs"][0].endswith(f"/onlineendpoints/{endpoint_name}")
        finally:
            admin_request(emulator, "DELETE", f"alert-rules/traffic-{endpoint_name}")
