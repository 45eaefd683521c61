"""The Log Analytics query API, driven by azure-monitor-query's LogsQueryClient over HTTPS."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from addon_harness import Server, addon_server, record
from azure.core.exceptions import HttpResponseError
from azure.monitor.query import LogsQueryClient, LogsQueryStatus

from emulator.client import LocalCredential

pytestmark = pytest.mark.integration

WORKSPACE = "11111111-2222-3333-4444-555555555555"


@pytest.fixture
def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    # These tests pin the query language on rows from seconds ago: ingestion latency off here
    # (it has its own test below).
    extras = {"log_analytics_workspace_id": WORKSPACE, "logs_ingestion_delay_minutes": 0}
    with addon_server(tmp_path, extras=extras) as s:
        now = time.time()
        s.add(
            record(now - 30, "blue", 200, 10, request_id="a"),
            record(now - 25, "blue", 200, 20, request_id="b"),
            record(now - 20, "blue", 500, 90, request_id="c"),
            record(now - 15, "green", 200, 40, request_id="d"),
            record(now - 7200, "green", 200, 40, request_id="old"),
        )
        yield s


def logs(s: Server) -> LogsQueryClient:
    return LogsQueryClient(LocalCredential(), endpoint=s.url + "/v1", connection_verify=s.cert)


def test_summarize_count_by_deployment(server: Server) -> None:
    """summarize count() by DeploymentName counts the traffic log rows in the timespan."""
    result = logs(server).query_workspace(
        WORKSPACE,
        "AmlOnlineEndpointTrafficLog | summarize count() by DeploymentName"
        " | order by DeploymentName asc",
        timespan=timedelta(hours=1),
    )
    assert result.status == LogsQueryStatus.SUCCESS
    [table] = result.tables
    assert table.columns == ["DeploymentName", "count_"]
    assert [list(r) for r in table.rows] == [["blue", 3], ["green", 1]]


def test_where_on_code_and_percentiles(server: Server) -> None:
    """where ResponseCode == 200 then percentiles() names columns the Kusto way."""
    result = logs(server).query_workspace(
        WORKSPACE,
        "AmlOnlineEndpointTrafficLog | where ResponseCode == 200 and TimeGenerated > ago(1h)"
        " | summarize percentiles(TotalDurationMs, 50, 99), avg(TotalDurationMs)",
        timespan=None,
    )
    [table] = result.tables
    assert table.columns == [
        "percentile_TotalDurationMs_50",
        "percentile_TotalDurationMs_99",
        "avg_TotalDurationMs",
    ]
    assert list(table.rows[0]) == [20, 40, pytest.approx(70 / 3)]


def test_project_order_take_returns_typed_columns(server: Server) -> None:
    """project/order by/take shape the rows; datetimes come back as datetimes."""
    result = logs(server).query_workspace(
        WORKSPACE,
        "AmlOnlineEndpointTrafficLog | project TimeGenerated, XRequestId, ResponseCode"
        " | order by TimeGenerated desc | take 2",
        timespan=timedelta(hours=1),
    )
    [table] = result.tables
    assert table.columns_types == ["datetime", "string", "int"]
    assert [r["XRequestId"] for r in table.rows] == ["d", "c"]
    assert table.rows[0]["TimeGenerated"].timestamp() == pytest.approx(time.time() - 15, abs=5)


def test_unsupported_operator_is_a_bad_argument_error(server: Server) -> None:
    """An operator outside the subset gets Log Analytics' BadArgumentError naming it."""
    with pytest.raises(HttpResponseError) as info:
        logs(server).query_workspace(
            WORKSPACE, "AmlOnlineEndpointTrafficLog | join (Foo) on X", timespan=timedelta(hours=1)
        )
    assert info.value.status_code == 400
    assert info.value.error.code == "BadArgumentError"  # type: ignore[union-attr]
    assert "Query operator 'join' is not supported" in str(info.value)


def test_unknown_table_is_a_semantic_error(server: Server) -> None:
    """Tables other than AmlOnlineEndpointTrafficLog do not resolve."""
    with pytest.raises(HttpResponseError) as info:
        logs(server).query_workspace(WORKSPACE, "Heartbeat | take 1", timespan=timedelta(hours=1))
    assert "SemanticError" in str(info.value) and "'Heartbeat'" in str(info.value)


def test_other_workspace_is_not_found(server: Server) -> None:
    """Only the configured Log Analytics workspace id is served."""
    with pytest.raises(HttpResponseError) as info:
        logs(server).query_workspace(
            "99999999-2222-3333-4444-555555555555",
            "AmlOnlineEndpointTrafficLog | take 1",
            timespan=timedelta(hours=1),
        )
    assert info.value.status_code == 404


def test_rows_are_queryable_only_after_the_ingestion_delay(tmp_path: Path) -> None:
    """By default (3 API minutes, here of 1 s) a fresh request is not yet in the traffic log."""
    extras = {"log_analytics_workspace_id": WORKSPACE}
    with addon_server(tmp_path, bucket_seconds=1.0, extras=extras) as s:
        s.add(record(time.time(), "blue", 200, 10, request_id="fresh"))
        query = "AmlOnlineEndpointTrafficLog | count"
        first = logs(s).query_workspace(WORKSPACE, query, timespan=timedelta(hours=1))
        assert first.tables[0].rows[0][0] == 0
        time.sleep(3.2)
        later = logs(s).query_workspace(WORKSPACE, query, timespan=timedelta(hours=1))
        assert later.tables[0].rows[0][0] == 1
