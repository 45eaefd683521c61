"""The Log Analytics query API (what azure-monitor-query's ``LogsQueryClient`` calls).

``POST /v1/workspaces/{workspaceId}/query`` with ``{"query", "timespan"}`` answers
``{"tables": [{"name": "PrimaryResult", "columns": [{"name", "type"}], "rows": [[...]]}]}``
(REST spec: azure-rest-api-specs ``specification/monitor/Azure.Monitor.Query.Logs``
``models.tsp`` and ``examples/v1/la-post-example.json``; the client builds the URL in
azure-sdk-for-python ``sdk/monitor/azure-monitor-query/azure/monitor/query/_operations``).

One table, ``AmlOnlineEndpointTrafficLog``, is built from the requests the scoring router
recorded (``ctx.records``), one row per request, mirrored copies included (Azure's safe-rollout
guide says mirrored traffic is there "so that you can gather metrics and logging"). Its columns
are a subset of the documented ones
(https://learn.microsoft.com/azure/azure-monitor/reference/tables/amlonlineendpointtrafficlog);
times are real time.

Ingestion latency (as in Azure, on by default): resource logs "are usually available within 3
to 10 minutes end-to-end" (MicrosoftDocs/azure-monitor-docs ``articles/azure-monitor/logs/
data-ingestion-time.md``, "Azure metrics, resource logs, activity log"), so a row becomes
queryable only ``ctx.extras["logs_ingestion_delay_minutes"]`` (3 by default; CLI
``--logs-delay-minutes``, 0 turns it off) API minutes after its request, each lasting
``ctx.bucket_seconds``, as the metric delay does.

Queries use the KQL subset in :mod:`emulator.kql`. Anything outside it is answered as Log
Analytics answers a bad query: 400 with
``{"error": {"message", "code": "BadArgumentError", "innererror": {"code": "SyntaxError" |
"SemanticError", "message"}}}`` (https://learn.microsoft.com/azure/azure-monitor/logs/api/errors).

Workspace ids: when ``ctx.extras["log_analytics_workspace_id"]`` is set, only that id is served
(others get 404 ``WorkspaceNotFoundError``); otherwise any id is accepted.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from aiohttp import web

from emulator import kql
from emulator.addon_http import (
    bearer_problem,
    json_response,
    minute_seconds,
    parse_duration,
    parse_time,
)
from emulator.context import Context
from emulator.records import RequestRecord

TABLE = "AmlOnlineEndpointTrafficLog"
LOGS_DELAY_KEY = "logs_ingestion_delay_minutes"
DEFAULT_LOGS_DELAY_MINUTES = 3.0

COLUMNS: list[tuple[str, str]] = [
    ("TimeGenerated", "datetime"),
    ("Location", "string"),
    ("AzureMLWorkspaceId", "string"),
    ("AzureMLWorkspaceName", "string"),
    ("EndpointName", "string"),
    ("DeploymentName", "string"),
    ("Method", "string"),
    ("Path", "string"),
    ("Protocol", "string"),
    ("ResponseCode", "int"),
    ("ResponseCodeReason", "string"),
    ("ModelStatusCode", "int"),
    ("ModelStatusReason", "string"),
    ("RequestPayloadSize", "int"),
    ("ResponsePayloadSize", "int"),
    ("XRequestId", "string"),
    ("TotalDurationMs", "int"),
    ("RequestDurationMs", "int"),
    ("ResponseDurationMs", "int"),
    ("_ResourceId", "string"),
    ("Type", "string"),
]


def _reason(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return ""


def traffic_row(record: RequestRecord, ctx: Context) -> list[Any]:
    """One AmlOnlineEndpointTrafficLog row for a served request."""
    identity = ctx.identity
    return [
        datetime.fromtimestamp(record.time, UTC),
        identity.location,
        identity.workspace_id,
        identity.workspace,
        record.endpoint,
        record.deployment,
        "POST",
        "/score",
        "HTTP/1.1",
        record.status_code,
        _reason(record.status_code),
        record.model_status_code,
        _reason(record.model_status_code) if record.model_status_code else "",
        record.request_bytes,
        record.response_bytes,
        record.request_id,
        round(record.total_ms),
        round(record.request_ms),
        round(record.response_ms),
        identity.endpoint_id(record.endpoint).lower(),
        TABLE,
    ]


def parse_timespan(value: Any, now: float) -> tuple[float, float]:
    """The query body's ``timespan`` as [start, end] epoch seconds.

    Forms the SDK sends (azure-monitor-query ``_helpers.construct_iso8601``): a duration
    (``PT3600.0S``, ending now), ``start/end`` and ``start/duration``. None means unbounded.
    """
    if value is None or value == "":
        return float("-inf"), float("inf")
    if not isinstance(value, str):
        raise ValueError("timespan must be an ISO 8601 string")
    if "/" not in value:
        return now - parse_duration(value).total_seconds(), now
    first, _, second = value.partition("/")
    if first.upper().startswith("P"):
        end = parse_time(second).timestamp()
        return end - parse_duration(first).total_seconds(), end
    start = parse_time(first).timestamp()
    if second.upper().startswith("P"):
        return start, start + parse_duration(second).total_seconds()
    return start, parse_time(second).timestamp()


def _bad_argument(inner_code: str, message: str) -> web.Response:
    return json_response(
        {
            "error": {
                "message": "The request had some invalid properties",
                "code": "BadArgumentError",
                "correlationId": str(uuid.uuid4()),
                "innererror": {"code": inner_code, "message": message},
            }
        },
        400,
    )


def logs_delay_seconds(ctx: Context) -> float:
    """Real seconds between a request and its row being queryable."""
    minutes = ctx.extras.get(LOGS_DELAY_KEY, DEFAULT_LOGS_DELAY_MINUTES)
    return float(minutes) * minute_seconds(ctx)


def run(ctx: Context, query: str, timespan: Any, now: float | None = None) -> kql.Table:
    """Evaluate a query over the traffic log; raises kql.KqlError or ValueError (timespan)."""
    now = time.time() if now is None else now
    start, end = parse_timespan(timespan, now)
    if end < start:
        raise ValueError("timespan ends before it starts")
    # The API's timespan is inclusive at both ends; RequestLog.between is half-open.
    records = (
        ctx.records.between(start, end + 1e-6)
        if start > float("-inf")
        else list(r for r in ctx.records if r.time <= end)
    )
    ingested_by = now - logs_delay_seconds(ctx)
    rows = [traffic_row(r, ctx) for r in records if r.time <= ingested_by]
    table = kql.Table(TABLE, list(COLUMNS), rows)
    return kql.run_query(query, {TABLE: table}, datetime.fromtimestamp(now, UTC))


def setup(app: web.Application, ctx: Context) -> None:
    """Add ``POST /v1/workspaces/{workspace_id}/query``."""
    delay = ctx.extras.get(LOGS_DELAY_KEY, DEFAULT_LOGS_DELAY_MINUTES)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay <= 60:
        raise ValueError(f"{LOGS_DELAY_KEY} must be a number of API minutes from 0 to 60")

    async def query(request: web.Request) -> web.Response:
        problem = bearer_problem(request)
        if problem is not None:
            return problem
        expected = ctx.extras.get("log_analytics_workspace_id")
        workspace = request.match_info["workspace_id"]
        if expected and workspace.lower() != str(expected).lower():
            return json_response(
                {
                    "error": {
                        "message": f"The workspace could not be found: {workspace}",
                        "code": "WorkspaceNotFoundError",
                    }
                },
                404,
            )
        try:
            body = await request.json()
        except ValueError:
            return _bad_argument("InvalidRequest", "The request body is not JSON.")
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return _bad_argument("InvalidRequest", "The body needs a 'query' string.")
        try:
            table = run(ctx, body["query"], body.get("timespan"))
        except kql.KqlError as exc:
            return _bad_argument(exc.kind, exc.message)
        except ValueError as exc:
            return _bad_argument("InvalidTimespan", f"Invalid timespan: {exc}")
        return json_response(
            {
                "tables": [
                    {
                        "name": "PrimaryResult",
                        "columns": [{"name": n, "type": t} for n, t in table.columns],
                        "rows": [[kql.to_json_value(v) for v in row] for row in table.rows],
                    }
                ]
            }
        )

    app.router.add_post("/v1/workspaces/{workspace_id}/query", query)
