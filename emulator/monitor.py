"""Azure Monitor metrics through the batch API (what azure-monitor-querymetrics'
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
  ``envoy_response_code``) and ``RequestLatency_P50/_P90/_P95/_P99``. Instance metrics (CPU,
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
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from emulator.addon_http import (
    bearer_problem,
    error_response,
    iso_time,
    json_response,
    minute_seconds,
    parse_duration,
    parse_time,
    read_json,
)
from emulator.context import Context
from emulator.records import RequestRecord

ENDPOINT_NS = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
DEPLOYMENT_NS = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"

AGGREGATIONS = ("average", "count", "minimum", "maximum", "total")
# Time grains the service accepts (the metrics REST reference lists these plus FULL).
ALLOWED_INTERVALS = ("PT1M", "PT5M", "PT15M", "PT30M", "PT1H", "PT6H", "PT12H", "P1D", "FULL")


class MetricsError(Exception):
    """A request the metrics API refuses; answered with ``status`` and an Azure error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _bad(message: str) -> MetricsError:
    return MetricsError(400, "BadRequest", message)


@dataclass(frozen=True)
class MetricDef:
    name: str
    unit: str
    description: str
    dimensions: tuple[str, ...]
    kind: str  # "count", "latency" or "percentile"
    percentile: float = 0.0
    default_aggregation: str = "average"


def _latency_defs(dimensions: tuple[str, ...]) -> list[MetricDef]:
    return [
        MetricDef(
            f"RequestLatency_P{p}",
            "MilliSeconds",
            f"The average P{p} request latency aggregated by all request latency values "
            "collected over the selected time period",
            dimensions,
            "percentile",
            float(p),
        )
        for p in (50, 90, 95, 99)
    ]


METRICS: dict[str, dict[str, MetricDef]] = {
    ENDPOINT_NS.lower(): {
        m.name.lower(): m
        for m in [
            MetricDef(
                "RequestsPerMinute",
                "Count",
                "The number of requests sent to online endpoint within a minute",
                ("deployment", "statusCode", "statusCodeClass", "modelStatusCode"),
                "count",
            ),
            MetricDef(
                "RequestLatency",
                "MilliSeconds",
                "The average complete interval of time taken for a request to be responded in "
                "milliseconds",
                ("deployment",),
                "latency",
            ),
            *_latency_defs(("deployment",)),
        ]
    },
    DEPLOYMENT_NS.lower(): {
        m.name.lower(): m
        for m in [
            MetricDef(
                "RequestsPerMinute",
                "Count",
                "The number of requests sent to the online deployment within a minute",
                ("envoy_response_code",),
                "count",
            ),
            *_latency_defs(()),
        ]
    },
}


def _dimension_values(record: RequestRecord, namespace: str) -> dict[str, str]:
    if namespace == DEPLOYMENT_NS.lower():
        return {"envoy_response_code": str(record.status_code)}
    return {
        "deployment": record.deployment,
        "statusCode": str(record.status_code),
        "statusCodeClass": record.status_class,
        "modelStatusCode": str(record.model_status_code),
    }


# ---------------------------------------------------------------------------------------------
# Filters


@dataclass(frozen=True)
class DimFilter:
    """Which dimension values a query keeps and which dimensions split it into series.

    Dimension names are canonical (as the metric defines them); values are lower-cased.
    ``include[d]`` absent means every value; ``split`` lists the dimensions that appear in
    ``metadatavalues``, in order.
    """

    split: tuple[str, ...] = ()
    include: dict[str, frozenset[str]] = field(default_factory=dict)
    exclude: dict[str, frozenset[str]] = field(default_factory=dict)

    def admits(self, values: dict[str, str]) -> bool:
        for dim, allowed in self.include.items():
            if values.get(dim, "").lower() not in allowed:
                return False
        return all(
            values.get(dim, "").lower() not in banned for dim, banned in self.exclude.items()
        )


_FILTER_TOKEN = re.compile(r"\s*(?:(?P<q>'(?:[^']|'')*')|(?P<p>[()])|(?P<w>[^\s()']+))")


@dataclass(frozen=True)
class _Cond:
    name: str
    op: str
    value: str


def parse_filter(text: str | None) -> list[list[_Cond]]:
    """The filter as and-groups of or-ed conditions on one dimension each.

    ``A eq 'a1' and B eq 'b1' or B eq 'b2' and C eq '*'`` is A=a1 and B in (b1, b2) and C=*:
    ``or`` may only join conditions on the same dimension (the SDK documents the mixed form as
    invalid). Parentheses are accepted and do not change that reading.
    """
    if text is None or not text.strip():
        return []
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _FILTER_TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip() == "":
                break
            raise _bad(f"Invalid filter near position {pos}: {text[pos:]!r}")
        pos = m.end()
        if m.group("q") is not None:
            tokens.append(("value", m.group("q")[1:-1].replace("''", "'")))
        elif m.group("p") is not None:
            continue
        elif m.group("w") is not None:
            tokens.append(("word", m.group("w")))
    groups: list[list[_Cond]] = [[]]
    i = 0
    expect_cond = True
    while i < len(tokens):
        if expect_cond:
            # A dimension name may contain spaces: words up to the operator.
            j = i
            while j < len(tokens) and not (
                tokens[j][0] == "word" and tokens[j][1].lower() in ("eq", "ne")
            ):
                if tokens[j][0] != "word":
                    raise _bad(f"Invalid filter {text!r}: expected a dimension name")
                j += 1
            if j == i or j + 1 >= len(tokens) or tokens[j + 1][0] != "value":
                raise _bad(f"Invalid filter {text!r}: expected \"<dimension> eq|ne '<value>'\"")
            name = unquote(unquote(" ".join(t[1] for t in tokens[i:j])))
            groups[-1].append(_Cond(name, tokens[j][1].lower(), unquote(unquote(tokens[j + 1][1]))))
            i = j + 2
            expect_cond = False
        else:
            kind, word = tokens[i]
            if kind != "word" or word.lower() not in ("and", "or"):
                raise _bad(f"Invalid filter {text!r}: expected 'and' or 'or' near {word!r}")
            if word.lower() == "and":
                groups.append([])
            i += 1
            expect_cond = True
    if expect_cond:
        raise _bad(f"Invalid filter {text!r}: it ends with an operator")
    for group in groups:
        names = {c.name.lower() for c in group}
        if len(names) > 1:
            raise _bad(
                f"Invalid filter {text!r}: the logical 'or' operator cannot separate two "
                "different metadata names"
            )
    return groups


def build_filter(
    groups: Sequence[Sequence[_Cond]], metric: MetricDef, rollup: Iterable[str] = ()
) -> DimFilter:
    """Resolve a parsed filter against one metric's dimensions."""
    canonical = {d.lower(): d for d in metric.dimensions}
    split: list[str] = []
    include: dict[str, frozenset[str]] = {}
    exclude: dict[str, frozenset[str]] = {}
    for group in groups:
        dim = canonical.get(group[0].name.lower())
        if dim is None:
            asked = sorted({g[0].name for g in groups})
            raise _bad(
                f"Metric: {metric.name} does not support requested dimension combination: "
                f"{', '.join(asked)}, supported ones are: "
                f"{', '.join(metric.dimensions) or '<none>'}"
            )
        if dim not in split:
            split.append(dim)
        eq = {c.value.lower() for c in group if c.op == "eq"}
        ne = {c.value.lower() for c in group if c.op == "ne"}
        if eq and "*" not in eq:
            include[dim] = include[dim] & frozenset(eq) if dim in include else frozenset(eq)
        if ne:
            exclude[dim] = exclude.get(dim, frozenset()) | frozenset(ne)
    rolled = {r.strip().lower() for r in rollup if r.strip()}
    for r in rolled:
        if r not in canonical:
            raise _bad(f"rollupby names {r!r}, which is not a dimension of {metric.name}")
    return DimFilter(tuple(d for d in split if d.lower() not in rolled), include, exclude)


# ---------------------------------------------------------------------------------------------
# Computation


@dataclass
class Stats:
    total: float = 0.0
    count: int = 0
    minimum: float = math.inf
    maximum: float = -math.inf

    def add(self, value: float) -> None:
        self.total += value
        self.count += 1
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)

    def value(self, aggregation: str) -> float | None:
        if self.count == 0:
            return None
        if aggregation == "total":
            return self.total
        if aggregation == "count":
            return float(self.count)
        if aggregation == "minimum":
            return self.minimum
        if aggregation == "maximum":
            return self.maximum
        return self.total / self.count


def nearest_rank(values: list[float], p: float) -> float:
    data = sorted(values)
    rank = max(1, math.ceil(p / 100.0 * len(data)))
    return data[min(rank, len(data)) - 1]


def samples(
    records: Iterable[RequestRecord], metric: MetricDef, namespace: str, bucket: float
) -> list[tuple[int, dict[str, str], float]]:
    """(bucket index, dimension values, sample value) for one metric, as described above."""
    ns = namespace.lower()
    if metric.kind == "latency":
        return [
            (
                math.floor(r.time / bucket),
                {d: v for d, v in _dimension_values(r, ns).items() if d in metric.dimensions},
                r.total_ms,
            )
            for r in records
        ]
    grouped: dict[tuple[int, tuple[tuple[str, str], ...]], list[float]] = {}
    for r in records:
        values = _dimension_values(r, ns)
        key = (
            math.floor(r.time / bucket),
            tuple((d, values.get(d, "")) for d in metric.dimensions),
        )
        grouped.setdefault(key, []).append(r.total_ms)
    out: list[tuple[int, dict[str, str], float]] = []
    for (b, combo), latencies in grouped.items():
        value = (
            float(len(latencies))
            if metric.kind == "count"
            else nearest_rank(latencies, metric.percentile)
        )
        out.append((b, dict(combo), value))
    return out


def _records_for(
    ctx: Context, endpoint: str, deployment: str | None, start: float, end: float
) -> list[RequestRecord]:
    wanted_ep = endpoint.lower()
    wanted_dep = deployment.lower() if deployment is not None else None
    return [
        r
        for r in ctx.records.between(start, end)
        if r.endpoint.lower() == wanted_ep
        and (wanted_dep is None or r.deployment.lower() == wanted_dep)
    ]


@dataclass(frozen=True)
class Series:
    metadata: tuple[tuple[str, str], ...]
    points: list[Stats]


def compute_series(
    ctx: Context,
    namespace: str,
    metric: MetricDef,
    endpoint: str,
    deployment: str | None,
    dim_filter: DimFilter,
    start: float,
    end: float,
    step: float | None,
) -> tuple[list[float], list[Series]]:
    """Point start times and the series of one metric on one resource.

    ``step`` is the real length of one point (a multiple of the bucket), or None for one point
    covering exactly [start, end) (``FULL``).
    """
    bucket = minute_seconds(ctx)
    if step is None:
        first = start
        point_starts = [start]
        # Whole buckets inside [start, end): the pre-aggregated minutes the window covers.
        lo_bucket = math.ceil(start / bucket - 1e-9)
        hi_bucket = math.floor(end / bucket + 1e-9)
        records = _records_for(ctx, endpoint, deployment, lo_bucket * bucket, hi_bucket * bucket)
    else:
        first_index = math.floor(start / step + 1e-9)
        last_index = max(math.floor(end / step + 1e-9), first_index + 1)
        point_starts = [i * step for i in range(first_index, last_index)]
        first = first_index * step
        records = _records_for(ctx, endpoint, deployment, first, last_index * step)
    by_series: dict[tuple[tuple[str, str], ...], list[Stats]] = {}
    if not dim_filter.split:
        by_series[()] = [Stats() for _ in point_starts]
    for b, values, value in samples(records, metric, namespace, bucket):
        if not dim_filter.admits(values):
            continue
        key = tuple((d, values.get(d, "")) for d in dim_filter.split)
        points = by_series.get(key)
        if points is None:
            points = by_series[key] = [Stats() for _ in point_starts]
        index = 0 if step is None else math.floor((b * bucket - first) / step + 1e-9)
        if 0 <= index < len(points):
            points[index].add(value)
    return point_starts, [Series(k, v) for k, v in by_series.items()]


# ---------------------------------------------------------------------------------------------
# The HTTP API

_RESOURCE_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
    r"Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/]+)/onlineEndpoints/(?P<ep>[^/]+)"
    r"(?:/deployments/(?P<dep>[^/]+))?/?$",
    re.IGNORECASE,
)


def _interval_step(interval: str, ctx: Context) -> float | None:
    if interval.upper() == "FULL":
        return None
    if interval.upper() not in ALLOWED_INTERVALS:
        raise _bad(f"Invalid time grain {interval!r}; supported: {', '.join(ALLOWED_INTERVALS)}")
    minutes = parse_duration(interval) / timedelta(minutes=1)
    return minutes * minute_seconds(ctx)


def _orderby(text: str | None) -> tuple[str, bool] | None:
    if not text:
        return None
    parts = text.strip().lower().split()
    if not parts or parts[0] not in AGGREGATIONS or len(parts) > 2:
        raise _bad(f"Invalid orderby {text!r}; use '<aggregation> asc|desc'")
    if len(parts) == 2 and parts[1] not in ("asc", "desc"):
        raise _bad(f"Invalid orderby {text!r}; use '<aggregation> asc|desc'")
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
        raise _bad(
            f"Metric namespace {namespace!r} is not supported; use {ENDPOINT_NS} or {DEPLOYMENT_NS}"
        )
    names = [n.strip().replace("%2", ",") for n in params.get("metricnames", "").split(",")]
    names = [n for n in names if n]
    if not names:
        raise _bad("metricnames is required")
    metrics: list[MetricDef] = []
    for n in names:
        m = catalog.get(n.lower())
        if m is None:
            raise _bad(
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
            raise _bad(f"Invalid aggregation {a!r}; supported: {', '.join(AGGREGATIONS)}")
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
            raise _bad("starttime and endtime go together")
    except ValueError as exc:
        raise _bad(f"Invalid starttime/endtime: {exc}") from exc
    if end <= start:
        raise _bad("endtime must be after starttime")
    groups = parse_filter(params.get("filter"))
    order = _orderby(params.get("orderby"))
    top_text = params.get("top")
    try:
        top = int(top_text) if top_text else (10 if groups else None)
    except ValueError as exc:
        raise _bad(f"Invalid top {top_text!r}") from exc
    rollup = (params.get("rollupby") or "").split(",")
    if not isinstance(body, dict) or not isinstance(body.get("resourceids"), list):
        raise _bad('The body must be {"resourceids": [...]}')
    resource_ids = body["resourceids"]
    if not resource_ids or len(resource_ids) > 50:
        raise _bad("resourceids must list 1 to 50 resource ids")
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
        raise _bad("resourceids must be strings")
    m = _RESOURCE_ID.match(rid)
    identity = ctx.identity
    if m is None:
        raise _bad(f"{rid!r} is not an online endpoint or deployment resource id")
    wants_deployment = namespace.lower() == DEPLOYMENT_NS.lower()
    if (m.group("dep") is not None) != wants_deployment:
        raise _bad(f"Resource {rid!r} does not belong to metric namespace {namespace!r}")
    if m.group("sub").lower() != subscription.lower():
        raise _bad(f"Resource {rid!r} is not in subscription {subscription}")
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
) -> dict[str, Any]:
    start, end, step = window
    point_starts, series = compute_series(
        ctx, namespace, metric, endpoint, deployment, dim_filter, start, end, step
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
    return {
        "id": f"{rid}/providers/Microsoft.Insights/metrics/{metric.name}",
        "type": "Microsoft.Insights/metrics",
        "name": {"value": metric.name, "localizedValue": metric.name},
        "displayDescription": metric.description,
        "unit": metric.unit,
        "timeseries": timeseries,
        "errorCode": "Success",
    }


def setup(app: web.Application, ctx: Context) -> None:
    """Add ``POST /subscriptions/{subscription}/metrics:getBatch``."""

    async def get_batch(request: web.Request) -> web.Response:
        problem = bearer_problem(request)
        if problem is not None:
            return problem
        body = await read_json(request)
        params = {k.lower(): v for k, v in request.query.items()}
        try:
            answer = query_batch(ctx, request.match_info["subscription"], params, body)
        except MetricsError as exc:
            return error_response(exc.status, exc.code, exc.message)
        return json_response(answer)

    app.router.add_post("/subscriptions/{subscription}/metrics:getBatch", get_batch)
