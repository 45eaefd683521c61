"""The metric ingestion settings over the emulator's faults API
(``/_emulator/faults/metrics-ingestion``), and their effect on metrics:getBatch."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from addon_harness import Server, addon_server, admin_call, record
from azure.monitor.querymetrics import MetricsClient

from emulator.client import LocalCredential
from emulator.metric_catalog import ENDPOINT_NS

pytestmark = pytest.mark.integration

BUCKET = 1.0
PATH = "faults/metrics-ingestion"
AZURE_DEFAULT = {"delay_minutes": 2.0, "partial_fraction": 0.5, "revision_minutes": 1.0}


def total_of_last_minute(s: Server) -> float:
    """RequestsPerMinute over the newest closed minute (each status code's series, Average: its
    one sample, the count), as the SDK reads it now."""
    end = math.floor(time.time() / BUCKET) * BUCKET
    [result] = MetricsClient(s.url, LocalCredential(), connection_verify=s.cert).query_resources(
        resource_ids=[s.ctx.identity.endpoint_id("ep")],
        metric_namespace=ENDPOINT_NS,
        metric_names=["RequestsPerMinute"],
        timespan=(datetime.fromtimestamp(end - BUCKET, UTC), datetime.fromtimestamp(end, UTC)),
        granularity=timedelta(minutes=1),
        aggregations=["Average"],
        filter="statusCode eq '*'",
    )
    return sum(p.average or 0 for ts in result.metrics[0].timeseries for p in ts.data)


def test_defaults_are_azures_and_need_the_admin_key(tmp_path: Path) -> None:
    """GET shows 2 minutes of delay, half-filled first minutes, 1 minute of revision; no key 401."""
    with addon_server(tmp_path, bucket_seconds=BUCKET) as s:
        assert admin_call(s, "GET", PATH) == (200, AZURE_DEFAULT)
        assert admin_call(s, "GET", PATH, key="wrong")[0] == 401
        assert admin_call(s, "PUT", PATH, {"delay_minutes": 0}, key="wrong")[0] == 401
        assert admin_call(s, "GET", PATH) == (200, AZURE_DEFAULT)


def test_put_turns_the_delay_off_and_the_newest_minute_is_visible_at_once(
    tmp_path: Path,
) -> None:
    """After PUT {delay 0, fraction 1} a just-closed minute is counted; DELETE restores Azure's."""
    with addon_server(tmp_path, bucket_seconds=BUCKET) as s:
        status, body = admin_call(s, "PUT", PATH, {"delay_minutes": 0, "partial_fraction": 1})
        assert status == 200 and body["delay_minutes"] == 0 and body["partial_fraction"] == 1
        t = time.time()
        s.add(*(record(t, request_id=f"r{i}") for i in range(5)))
        time.sleep(max(0.0, (math.floor(t / BUCKET) + 1) * BUCKET - time.time()) + 0.05)
        assert total_of_last_minute(s) == 5
        assert admin_call(s, "DELETE", PATH) == (200, AZURE_DEFAULT)
        assert total_of_last_minute(s) == 0


def test_invalid_settings_are_refused_and_change_nothing(tmp_path: Path) -> None:
    """A bad value or an unknown key is 400 with Azure's error body; the settings stay."""
    with addon_server(tmp_path, bucket_seconds=BUCKET) as s:
        for bad in ({"partial_fraction": 2}, {"lag": 1}, ["delay_minutes"]):
            status, body = admin_call(s, "PUT", PATH, bad)
            assert status == 400 and body["error"]["code"] == "BadRequest"
        assert admin_call(s, "GET", PATH) == (200, AZURE_DEFAULT)
