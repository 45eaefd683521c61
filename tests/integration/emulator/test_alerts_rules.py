"""Metric alert rules: evaluation, common-alert-schema webhooks, retries, admin API."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from addon_harness import ADMIN_KEY, Server, addon_server, admin_call, record
from webhook_sink import Sink, webhook_sink

from emulator.metric_catalog import ENDPOINT_NS

pytestmark = pytest.mark.integration

BUCKET = 0.5  # one API minute lasts half a second


def admin(
    s: Server, method: str, path: str, body: Any = None, key: str = ADMIN_KEY
) -> tuple[int, Any]:
    return admin_call(s, method, path, body, key)


def rule(url: str, **over: Any) -> dict[str, Any]:
    return {
        "name": "errors",
        "endpoint": "ep",
        "metricName": "RequestsPerMinute",
        "dimensions": [{"name": "statusCodeClass", "operator": "Include", "values": ["5xx"]}],
        "operator": "GreaterThan",
        "threshold": 2,
        "timeAggregation": "Total",
        "windowSize": "PT2M",
        "evaluationFrequency": "PT1M",
        "severity": 1,
        "webhookUrls": [url],
        "customProperties": {"team": "ml"},
        **over,
    }


def conditions(received: list[tuple[dict[str, str], Any]]) -> list[str]:
    return [body["data"]["essentials"]["monitorCondition"] for _, body in received]


def test_rule_fires_then_resolves_with_common_alert_schema(tmp_path: Path) -> None:
    """Three 5xx in the window fire once; when they age out the alert resolves."""
    with webhook_sink() as sink, addon_server(tmp_path, ("emulator.alerts",), BUCKET) as s:
        assert admin(s, "POST", "alert-rules", rule(sink.url))[0] == 201
        now = time.time()
        s.add(*(record(now, status=500) for _ in range(3)), record(now, status=200))
        assert sink.wait_for(lambda r: conditions(r) == ["Fired", "Resolved"], timeout=10)
        fired = sink.received[0][1]
        assert fired["schemaId"] == "azureMonitorCommonAlertSchema"
        essentials = fired["data"]["essentials"]
        assert essentials["alertRule"] == "errors"
        assert essentials["severity"] == "Sev1"
        assert essentials["signalType"] == "Metric"
        assert essentials["alertTargetIDs"] == [s.ctx.identity.endpoint_id("ep").lower()]
        [criterion] = fired["data"]["alertContext"]["condition"]["allOf"]
        assert criterion["metricName"] == "RequestsPerMinute"
        assert criterion["metricValue"] == 3.0
        assert criterion["threshold"] == "2"
        assert criterion["operator"] == "GreaterThan"
        assert fired["data"]["customProperties"] == {"team": "ml"}
        resolved = sink.received[1][1]["data"]["essentials"]
        assert resolved["alertId"] == essentials["alertId"]
        assert "resolvedDateTime" in resolved


def test_split_dimension_alerts_per_deployment(tmp_path: Path) -> None:
    """values ['*'] on deployment evaluates each deployment's series separately."""
    with webhook_sink() as sink, addon_server(tmp_path, ("emulator.alerts",), BUCKET) as s:
        dims = [
            {"name": "statusCodeClass", "operator": "Include", "values": ["5xx"]},
            {"name": "deployment", "operator": "Include", "values": ["*"]},
        ]
        assert admin(s, "POST", "alert-rules", rule(sink.url, dimensions=dims))[0] == 201
        now = time.time()
        s.add(*(record(now, "green", 500) for _ in range(3)), record(now, "blue", 500))
        assert sink.wait_for(lambda r: "Fired" in conditions(r), timeout=10)
        time.sleep(3 * BUCKET)
        fired = [
            b for _, b in sink.received if b["data"]["essentials"]["monitorCondition"] == "Fired"
        ]
        assert len(fired) == 1
        dims_out = fired[0]["data"]["alertContext"]["condition"]["allOf"][0]["dimensions"]
        assert {"name": "deployment", "value": "green"} in dims_out


def test_every_named_dimension_is_in_the_fired_alerts_dimensions(tmp_path: Path) -> None:
    """A single-value Include (statusCodeClass 5xx) is part of the firing series' dimensions."""
    with webhook_sink() as sink, addon_server(tmp_path, ("emulator.alerts",), BUCKET) as s:
        dims = [
            {"name": "statusCodeClass", "operator": "Include", "values": ["5xx"]},
            {"name": "deployment", "operator": "Include", "values": ["*"]},
        ]
        admin(s, "POST", "alert-rules", rule(sink.url, dimensions=dims))
        s.add(*(record(time.time(), "green", 500) for _ in range(3)))
        assert sink.wait_for(lambda r: "Fired" in conditions(r), timeout=10)
        allof = sink.received[0][1]["data"]["alertContext"]["condition"]["allOf"][0]
        assert allof["dimensions"] == [
            {"name": "statusCodeClass", "value": "5xx"},
            {"name": "deployment", "value": "green"},
        ]


def test_alert_sees_a_minute_only_after_ingestion_delay_and_revision(tmp_path: Path) -> None:
    """With the default ingestion (2 + 1 API minutes) no alert fires in the first 2.5 minutes."""
    with webhook_sink() as sink, addon_server(tmp_path, ("emulator.alerts",), BUCKET) as s:
        admin(s, "POST", "alert-rules", rule(sink.url, windowSize="PT1M"))
        t0 = time.time()
        s.add(*(record(t0, status=500) for _ in range(3)))
        assert sink.wait_for(lambda r: "Fired" in conditions(r), timeout=10)
        fired_after = sink.times[0] - time.monotonic() + time.time() - t0
        assert fired_after >= 2.5 * BUCKET


def test_arm_metric_alert_body_with_dimension_splitting_fires_per_deployment(
    tmp_path: Path,
) -> None:
    """Microsoft.Insights/metricAlerts' body (scopes, criteria.allOf) is accepted and splits."""
    with webhook_sink() as sink, addon_server(tmp_path, ("emulator.alerts",), BUCKET) as s:
        body = {
            "name": "per-deployment",
            "webhookUrls": [sink.url],
            "properties": {
                "severity": 2,
                "enabled": True,
                "scopes": [s.ctx.identity.endpoint_id("ep")],
                "evaluationFrequency": "PT1M",
                "windowSize": "PT2M",
                "criteria": {
                    "odata.type": "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
                    "allOf": [
                        {
                            "criterionType": "StaticThresholdCriterion",
                            "name": "errors",
                            "metricName": "RequestsPerMinute",
                            "metricNamespace": ENDPOINT_NS,
                            "dimensions": [
                                {"name": "deployment", "operator": "Include", "values": ["*"]}
                            ],
                            "operator": "GreaterThan",
                            "threshold": 2,
                            "timeAggregation": "Total",
                        }
                    ],
                },
                "autoMitigate": False,
            },
        }
        assert admin(s, "POST", "alert-rules", body)[0] == 201
        now = time.time()
        s.add(*(record(now, "green") for _ in range(3)), *(record(now, "blue") for _ in range(3)))
        assert sink.wait_for(lambda r: len(r) == 2, timeout=10)
        fired = {
            b["data"]["alertContext"]["condition"]["allOf"][0]["dimensions"][0]["value"]
            for _, b in sink.received
        }
        assert fired == {"green", "blue"}
        assert sink.received[0][1]["data"]["essentials"]["severity"] == "Sev2"


def test_webhook_key_is_redacted_in_logs_and_admin_views(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A failing webhook's code= key appears neither in the log nor in the rule's state."""
    with webhook_sink() as sink, addon_server(tmp_path, ("emulator.alerts",), 0.05) as s:
        sink.statuses = [503] * 6
        url = f"{sink.url}?code=s3cr3t-key"
        with caplog.at_level(logging.WARNING, logger="emulator.alerts"):
            admin(s, "POST", "alert-rules", rule(url, autoMitigate=False))
            s.add(*(record(time.time(), status=500) for _ in range(3)))
            assert sink.wait_for(lambda r: len(r) == 6, timeout=10)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and "failed after retries" not in caplog.text:
                time.sleep(0.05)
        assert "failed after retries" in caplog.text
        assert "s3cr3t-key" not in caplog.text
        state = admin(s, "GET", "alert-rules/errors")[1]
        assert "s3cr3t-key" not in json.dumps(state)


def test_webhook_is_retried_after_503(tmp_path: Path) -> None:
    """A 503 from the webhook is retried, as action groups do."""
    with webhook_sink() as sink, addon_server(tmp_path, ("emulator.alerts",), BUCKET) as s:
        sink.statuses = [503]
        admin(s, "POST", "alert-rules", rule(sink.url, autoMitigate=False))
        now = time.time()
        s.add(*(record(now, status=500) for _ in range(3)))
        assert sink.wait_for(lambda r: len(r) >= 2, timeout=10)
        assert conditions(sink.received[:2]) == ["Fired", "Fired"]
        status, state = admin(s, "GET", "alert-rules/errors")
        assert status == 200
        assert [a.get("status") for a in state["deliveries"][0]["attempts"]] == [503, 200]


def test_admin_api_validates_and_manages_rules(tmp_path: Path) -> None:
    """Bad rules are 400, duplicates 409, no key 401; delete then 404."""
    with addon_server(tmp_path, ("emulator.alerts",), BUCKET) as s:
        url = "http://127.0.0.1:9/hook"
        assert admin(s, "POST", "alert-rules", rule(url, operator="Bigger"))[0] == 400
        bad_dim = [{"name": "statusCode", "operator": "Include", "values": ["500"]}]
        status, body = admin(
            s, "POST", "alert-rules", rule(url, metricName="RequestLatency", dimensions=bad_dim)
        )
        assert status == 400 and "statusCode" in body["error"]["message"]
        assert admin(s, "POST", "alert-rules", rule("ftp://x/y"))[0] == 400
        assert admin(s, "POST", "alert-rules", rule(url), key="wrong")[0] == 401
        assert admin(s, "POST", "alert-rules", rule(url))[0] == 201
        assert admin(s, "POST", "alert-rules", rule(url))[0] == 409
        status, listing = admin(s, "GET", "alert-rules")
        assert [r["name"] for r in listing["value"]] == ["errors"]
        assert admin(s, "DELETE", "alert-rules/errors")[0] == 204
        assert admin(s, "DELETE", "alert-rules/errors")[0] == 404


def test_rules_file_in_state_dir_is_loaded(tmp_path: Path) -> None:
    """alert-rules.json in the state directory is loaded at start-up."""
    (tmp_path / "alert-rules.json").write_text(
        json.dumps({"rules": [rule("http://127.0.0.1:9/h")]})
    )
    with addon_server(tmp_path, ("emulator.alerts",), BUCKET) as s:
        status, listing = admin(s, "GET", "alert-rules")
        assert status == 200
        assert [r["name"] for r in listing["value"]] == ["errors"]


def test_sink_fixture_records_posts(tmp_path: Path) -> None:
    """The webhook sink used above records what it receives (guards the harness itself)."""
    with webhook_sink() as sink:
        req = urllib.request.Request(sink.url, data=b'{"a": 1}', method="POST")
        with urllib.request.urlopen(req) as r:
            assert r.status == 200
        assert isinstance(sink, Sink) and sink.received[0][1] == {"a": 1}
