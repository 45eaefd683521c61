"""Azure Monitor metrics through the batch API: the HTTP API (the metric catalogue is in
:mod:`emulator.metric_catalog`, the filter grammar in :mod:`emulator.metric_filter`, the values
in :mod:`emulator.metric_series`).

The batch API (what azure-monitor-querymetrics'
``MetricsClient.query_resources`` calls).

``POST /subscriptions/{sub}/metrics:getBatch?metricnamespace=&metricnames=&starttime=&endtime=
&interval=&aggregation=&filter=&top=&orderby=&rollupby=`` with body ``{"resourceids": [...]}``
answers ``{"values": [{"starttime", "endtime", "interval", "namespace", "resourceregion",
"resourceid", "value": [metric, ...]}]}`` where a metric is ``{"id", "type", "name": {"value",
"localizedValue"}, "displayDescription", "unit", "errorCode", "timeseries": [{"metadatavalues":
[{"name": {"value", "localizedValue"}, "value"}], "data": [{"timeStamp", "average", ...}]}]}``.
Sources: azure-sdk-for-python ``sdk/monitor/azure-monitor-querymetrics`` (``_operations/
_operations.py`` builds the request, ``models/_models.py`` and ``_models.py`` read the answer)
and azure-rest-api-specs ``specification/monitor/Azure.Monitor.Query.Metrics/examples/
2024-02-01/MetricBatchExample.json``.

Metrics (https://learn.microsoft.com/azure/azure-monitor/reference/supported-metrics/
microsoft-machinelearningservices-workspaces-onlineendpoints-metrics), computed from the
requests the router recorded (``ctx.records``):

* ``Microsoft.MachineLearningServices/workspaces/onlineEndpoints``: ``RequestsPerMinute``
  (Count; dimensions ``deployment``, ``statusCode``, ``statusCodeClass``, ``modelStatusCode``),
  ``RequestLatency`` and ``RequestLatency_P50/_P90/_P95/_P99`` (MilliSeconds; ``deployment``).
* ``.../onlineEndpoints/deployments``: ``RequestsPerMinute`` (dimension
  ``envoy_response_code``: what the deployment answered, a model's own code where the endpoint
  answered 424, see ``metric_catalog.deployment_answer``) and
  ``RequestLatency_P50/_P90/_P95/_P99``. Instance metrics (CPU,
  memory, capacity) are not emulated.

How values are made (Azure pre-aggregates per minute, then combines):

* RequestsPerMinute: one sample per minute and dimension combination whose value is the number
  of requests in that minute. So with PT1M, ``total`` is the request count of the minute;
  ``count`` is the number of (minute, combination) samples; ``average`` is total / count (this
  is Azure's behaviour when a query does not split by every dimension: use Total for counts).
* RequestLatency: one sample per request (``total_ms``): ``average`` is the mean latency,
  ``count`` the number of requests, ``total`` the sum of latencies.
* RequestLatency_Pxx: one sample per minute and deployment, the nearest-rank percentile of that
  minute's latencies; coarser intervals average those per-minute values.
* Mirrored copies count for the deployment that served them (Azure documents mirroring as a
  way to "gather metrics and logging" for the shadow deployment).
* Empty intervals carry only ``timeStamp`` (no value: "no data", not zero), as in the REST
  example.

Filters follow the API: ``dim eq 'v'``, ``dim ne 'v'``, ``dim eq '*'`` (split by it), ``and``,
``or`` between values of the same dimension only, parentheses. Every dimension named in the
filter appears in ``metadatavalues`` (names lower-cased, as the service returns them). Values
compare case-insensitively. ``top`` (10 by default when a filter is given), ``orderby``
(``"total desc"``) and ``rollupby`` are honoured.

Time (an emulator extension): one API minute lasts ``ctx.bucket_seconds`` real seconds (60 by
default). An ``interval`` of PTnM therefore spans n buckets, timestamps are real bucket starts
aligned to the interval, and ``starttime``/``endtime`` are real times. Points run from the
interval containing ``starttime`` up to the one containing ``endtime`` (excluded, so a query
ending now leaves out the open interval; at least one point is returned). ``FULL`` returns one
point for exactly [starttime, endtime). Without a timespan the last 60 API minutes are used.

Ingestion (as in Azure, on by default): a query sees a minute only after the ingestion delay,
first partly filled (:class:`emulator.metric_series.Ingestion`). The settings come from
``ctx.extras["metrics_ingestion"]`` (CLI ``--metrics-delay-minutes``,
``--metrics-partial-fraction``, ``--metrics-revision-minutes``,
``--no-metrics-ingestion-delay``) and can be read and changed at run time with ``GET``/``PUT``
``/_emulator/faults/metrics-ingestion`` (``{"delay_minutes", "partial_fraction",
"revision_minutes"}``; ``DELETE`` restores Azure's), admin key required.
"""

from __future__ import annotations

import math
import re
import time
from datetime import timedelta
from typing import Any

from aiohttp import web

from emulator.addon_http import (
    admin_route,
    bearer_problem,
    iso_time,
    json_response,
    minute_seconds,
    parse_duration,
    parse_time,
    read_json,
)
from emulator.context import Context
from emulator.errors import ArmError
from emulator.metric_catalog import (
    AGGREGATIONS,
    ALLOWED_INTERVALS,
    DEPLOYMENT_NS,
    ENDPOINT_NS,
    METRICS,
    MetricDef,
    MetricsError,
    bad,
)
from emulator.metric_filter import DimFilter, build_filter, parse_filter
from emulator.metric_series import (
    INGESTION_KEY,
    Ingestion,
    Series,
    Stats,
    compute_series,
    ingestion_of,
)

__all__ = [
    "AGGREGATIONS",
    "DEPLOYMENT_NS",
    "ENDPOINT_NS",
    "METRICS",
    "RESOURCE_ID",
    "DimFilter",
    "Ingestion",
    "MetricDef",
    "MetricsError",
    "build_filter",
    "compute_series",
    "parse_filter",
    "query_batch",
    "setup",
]

RESOURCE_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
    r"Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/]+)/onlineEndpoints/(?P<ep>[^/]+)"
    r"(?:/deployments/(?P<dep>[^/]+))?/?$",
    re.IGNORECASE,
)


def _interval_step(interval: str, ctx: Context) -> float | None:
    if interval.upper() == "FULL":
        return None
    if interval.upper() not in ALLOWED_INTERVALS:
        raise bad(f"Invalid time grain {interval!r}; supported: {', '.join(ALLOWED_INTERVALS)}")
    minutes = parse_duration(interval) / timedelta(minutes=1)
    return minutes * minute_seconds(ctx)


def _orderby(text: str | None) -> tuple[str, bool] | None:
    if not text:
        return None
    parts = text.strip().lower().split()
    if not parts or parts[0] not in AGGREGATIONS or len(parts) > 2:
        raise bad(f"Invalid orderby {text!r}; use '<aggregation> asc|desc'")
    if len(parts) == 2 and parts[1] not in ("asc", "desc"):
        raise bad(f"Invalid orderby {text!r}; use '<aggregation> asc|desc'")
    return parts[0], len(parts) == 1 or parts[1] == "desc"


def query_batch(
    ctx: Context,
    subscription: str,
    params: dict[str, str],
    body: Any,
    now: float | None = None,
) -> dict[str, Any]:
    """The ``metrics:getBatch`` answer for query ``params`` and request ``body``."""
    now = time.time() if now is None else now
    namespace = params.get("metricnamespace", "")
    catalog = METRICS.get(namespace.lower())
    if catalog is None:
        raise bad(
            f"Metric namespace {namespace!r} is not supported; use {ENDPOINT_NS} or {DEPLOYMENT_NS}"
        )
    names = [n.strip().replace("%2", ",") for n in params.get("metricnames", "").split(",")]
    names = [n for n in names if n]
    if not names:
        raise bad("metricnames is required")
    metrics: list[MetricDef] = []
    for n in names:
        m = catalog.get(n.lower())
        if m is None:
            raise bad(
                f"Failed to find metric configuration for provider: "
                f"Microsoft.MachineLearningServices, resource Type: "
                f"{namespace.split('/', 1)[-1]}, metric: {n}, Valid metrics: "
                + ", ".join(x.name for x in catalog.values())
            )
        metrics.append(m)
    aggregations = [a.strip().lower() for a in params.get("aggregation", "").split(",")]
    aggregations = [a for a in aggregations if a]
    for a in aggregations:
        if a not in AGGREGATIONS:
            raise bad(f"Invalid aggregation {a!r}; supported: {', '.join(AGGREGATIONS)}")
        for m in metrics:  # each metric supports only its own (see metric_catalog)
            if a not in m.aggregations:
                raise bad(
                    f"Aggregation {a.capitalize()} is not supported by metric {m.name}; "
                    f"supported: {', '.join(x.capitalize() for x in m.aggregations)}"
                )
    interval = params.get("interval") or "PT1M"
    step = _interval_step(interval, ctx)
    try:
        if params.get("starttime") and params.get("endtime"):
            start = parse_time(params["starttime"]).timestamp()
            end = parse_time(params["endtime"]).timestamp()
        elif not params.get("starttime") and not params.get("endtime"):
            end = now
            start = now - 60 * minute_seconds(ctx)
        else:
            raise bad("starttime and endtime go together")
    except ValueError as exc:
        raise bad(f"Invalid starttime/endtime: {exc}") from exc
    if end <= start:
        raise bad("endtime must be after starttime")
    groups = parse_filter(params.get("filter"))
    order = _orderby(params.get("orderby"))
    top_text = params.get("top")
    try:
        top = int(top_text) if top_text else (10 if groups else None)
    except ValueError as exc:
        raise bad(f"Invalid top {top_text!r}") from exc
    rollup = (params.get("rollupby") or "").split(",")
    if not isinstance(body, dict) or not isinstance(body.get("resourceids"), list):
        raise bad('The body must be {"resourceids": [...]}')
    resource_ids = body["resourceids"]
    if not resource_ids or len(resource_ids) > 50:
        raise bad("resourceids must list 1 to 50 resource ids")
    values = []
    for rid in resource_ids:
        endpoint, deployment = _resolve(ctx, subscription, namespace, rid)
        values.append(
            {
                "starttime": params.get("starttime") or iso_time(start),
                "endtime": params.get("endtime") or iso_time(end),
                "interval": interval,
                "value": [
                    _metric_json(
                        ctx,
                        namespace,
                        m,
                        str(rid),
                        endpoint,
                        deployment,
                        build_filter(groups, m, rollup),
                        (start, end, step),
                        aggregations or [m.default_aggregation],
                        order,
                        top,
                        now,
                    )
                    for m in metrics
                ],
                "namespace": namespace.lower(),
                "resourceregion": ctx.identity.location,
                "resourceid": rid,
            }
        )
    return {"values": values}


def _resolve(ctx: Context, subscription: str, namespace: str, rid: Any) -> tuple[str, str | None]:
    if not isinstance(rid, str):
        raise bad("resourceids must be strings")
    m = RESOURCE_ID.match(rid)
    identity = ctx.identity
    if m is None:
        raise bad(f"{rid!r} is not an online endpoint or deployment resource id")
    wants_deployment = namespace.lower() == DEPLOYMENT_NS.lower()
    if (m.group("dep") is not None) != wants_deployment:
        raise bad(f"Resource {rid!r} does not belong to metric namespace {namespace!r}")
    if m.group("sub").lower() != subscription.lower():
        raise bad(f"Resource {rid!r} is not in subscription {subscription}")
    if (
        m.group("sub").lower() != identity.subscription.lower()
        or m.group("rg").lower() != identity.resource_group.lower()
        or m.group("ws").lower() != identity.workspace.lower()
    ):
        raise MetricsError(404, "ResourceNotFound", f"The resource {rid!r} was not found.")
    return m.group("ep"), m.group("dep")


def _metric_json(
    ctx: Context,
    namespace: str,
    metric: MetricDef,
    rid: str,
    endpoint: str,
    deployment: str | None,
    dim_filter: DimFilter,
    window: tuple[float, float, float | None],
    aggregations: list[str],
    order: tuple[str, bool] | None,
    top: int | None,
    now: float,
) -> dict[str, Any]:
    start, end, step = window
    point_starts, series = compute_series(
        ctx, namespace, metric, endpoint, deployment, dim_filter, start, end, step, now
    )
    if dim_filter.split:
        by, descending = order or (aggregations[0], True)

        def rank(s: Series) -> float:
            merged = Stats()
            for p in s.points:
                if p.count:
                    merged.total += p.total
                    merged.count += p.count
                    merged.minimum = min(merged.minimum, p.minimum)
                    merged.maximum = max(merged.maximum, p.maximum)
            v = merged.value(by)
            return -math.inf if v is None else v

        series.sort(key=rank, reverse=descending)
        if top is not None:
            series = series[:top]
    timeseries = []
    for s in series:
        data = []
        for t, stats in zip(point_starts, s.points, strict=True):
            point: dict[str, Any] = {"timeStamp": iso_time(t)}
            for a in aggregations:
                v = stats.value(a)
                if v is not None:
                    point[a] = v
            data.append(point)
        timeseries.append(
            {
                "metadatavalues": [
                    {"name": {"value": d.lower(), "localizedValue": d.lower()}, "value": v}
                    for d, v in s.metadata
                ],
                "data": data,
            }
        )
    answer: dict[str, Any] = {
        "id": f"{rid}/providers/Microsoft.Insights/metrics/{metric.name}",
        "type": "Microsoft.Insights/metrics",
        "name": {"value": metric.name, "localizedValue": metric.name},
        "displayDescription": metric.description,
        "unit": metric.unit,
        "timeseries": timeseries,
        "errorCode": "Success",
    }
    failure = metric_errors_of(ctx).get(metric.name.lower())
    if failure is not None:  # one metric failed inside a 200 answer (see METRIC_ERRORS_KEY)
        answer.update(timeseries=[], errorCode=failure[0], errorMessage=failure[1])
    return answer


# Metrics whose part of an answer fails while the call succeeds: the batch answer gives each
# metric an ``errorCode`` ("'Success' or the error details on query failures for this metric"
# and ``errorMessage``: azure-monitor-querymetrics models/_models.py, Metric), e.g.
# ``"errorCode": "Throttled", "errorMessage": "Query was throttled with reason: ServerBusy..."``
# (webdevops/azure-metrics-exporter issue 21). The SDK's public Metric drops both fields.
METRIC_ERRORS_KEY = "metric_errors"


def metric_errors_of(ctx: Context) -> dict[str, tuple[str, str]]:
    errors: dict[str, tuple[str, str]] = ctx.extras.setdefault(METRIC_ERRORS_KEY, {})
    return errors


def configure_ingestion(ctx: Context) -> Ingestion:
    """Install the ingestion settings from ``ctx.extras["metrics_ingestion"]`` (an Ingestion,
    or a JSON object of its fields; Azure's behaviour when absent) and return them."""
    raw = ctx.extras.get(INGESTION_KEY)
    ingestion = raw if isinstance(raw, Ingestion) else Ingestion.from_json(raw or {})
    ctx.extras[INGESTION_KEY] = ingestion
    return ingestion


def setup(app: web.Application, ctx: Context) -> None:
    """Add ``POST /subscriptions/{subscription}/metrics:getBatch``, the ingestion settings
    (``GET``/``PUT``/``DELETE /_emulator/faults/metrics-ingestion``) and failing metrics
    (``PUT``/``DELETE /_emulator/faults/metric-errors``), admin key required."""
    configure_ingestion(ctx)
    admin = admin_route(ctx)

    async def get_batch(request: web.Request) -> web.Response:
        problem = bearer_problem(request)
        if problem is not None:
            return problem
        params = {k.lower(): v for k, v in request.query.items()}
        try:
            body = await read_json(request)
            answer = query_batch(ctx, request.match_info["subscription"], params, body)
        except ArmError as exc:
            return exc.response()
        return json_response(answer)

    @admin
    async def get_ingestion(request: web.Request) -> web.Response:
        return json_response(ingestion_of(ctx).to_json())

    @admin
    async def put_ingestion(request: web.Request) -> web.Response:
        raw = await read_json(request)
        try:
            ingestion = Ingestion.from_json(raw, ingestion_of(ctx))
        except (TypeError, ValueError) as exc:
            raise bad(f"Invalid ingestion settings: {exc}") from exc
        ctx.extras[INGESTION_KEY] = ingestion
        return json_response(ingestion.to_json())

    @admin
    async def reset_ingestion(request: web.Request) -> web.Response:
        ctx.extras[INGESTION_KEY] = Ingestion()
        return json_response(Ingestion().to_json())

    @admin
    async def put_metric_errors(request: web.Request) -> web.Response:
        raw = await read_json(request)
        names = raw.get("metrics") if isinstance(raw, dict) else None
        code = raw.get("code", "Throttled") if isinstance(raw, dict) else None
        message = raw.get("message", "Query was throttled") if isinstance(raw, dict) else None
        if (
            not isinstance(names, list)
            or not names
            or not all(isinstance(n, str) and n for n in names)
            or not isinstance(code, str)
            or not code
            or not isinstance(message, str)
        ):
            raise bad('Expected {"metrics": [name, ...], "code"?: str, "message"?: str}')
        errors = metric_errors_of(ctx)
        errors.update({n.lower(): (code, message) for n in names})
        return json_response({k: {"code": c, "message": m} for k, (c, m) in errors.items()})

    @admin
    async def delete_metric_errors(request: web.Request) -> web.Response:
        metric_errors_of(ctx).clear()
        return json_response({})

    app.router.add_post("/subscriptions/{subscription}/metrics:getBatch", get_batch)
    app.router.add_put("/_emulator/faults/metric-errors", put_metric_errors)
    app.router.add_delete("/_emulator/faults/metric-errors", delete_metric_errors)
    path = "/_emulator/faults/metrics-ingestion"
    app.router.add_get(path, get_ingestion)
    app.router.add_put(path, put_ingestion)
    app.router.add_delete(path, reset_ingestion)
