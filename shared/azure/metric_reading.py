"""Azure Monitor's metric answers read into the judge's minutes. Pure: reads the SDK's result
objects by attribute, imports none of it.

Results are read from the SDK's ``MetricsQueryResult`` -> ``Metric`` (``id`` starts with the
resource id) -> ``TimeSeriesElement`` (``metadata_values``: dimension name -> value) ->
``MetricValue`` (``timestamp``, ``average``) (azure-monitor-querymetrics
``_models.py``). Dimension names are matched case-insensitively (the service lower-cases them).

A query gets one :class:`Minute` per closed minute (wholly inside [start, end) and ended by
now: the newest, still open minute is left out) in which its canary or baseline served
requests. A minute with no requests on either side is left out, never reported as zeros.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.judge.types import Minute
from shared.ports import MetricsQuery, counts_as_error

COUNT_METRIC = "RequestsPerMinute"
# The one aggregation Azure Monitor lists for it (see shared.azure.metrics): at PT1M, the
# minute's number of requests of the series.
COUNT_AGGREGATION = "Average"
LATENCY_METRICS = {
    "requestlatency_p50": "p50",
    "requestlatency_p90": "p90",
    "requestlatency_p95": "p95",
    "requestlatency_p99": "p99",
}
MODEL_ERROR = "424"  # what the endpoint answers when the model answered non-200
_METRIC_ID_SEP = "/providers/microsoft.insights/metrics/"


@dataclass
class Cell:
    """What one deployment did in one bucket."""

    requests: float = 0.0
    statuses: dict[str, float] = field(default_factory=dict)  # status code (or class) -> requests
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    # read from the deployment's own metrics (the shadow's scope): its statuses are what the
    # deployment answered, not what the endpoint answered for it
    own_answers: bool = False

    def errors(self, errors: Sequence[str]) -> float:
        # a code or a class that covers 424 (4xx) counts the model's own failures too
        model_errors = self.own_answers and counts_as_error(MODEL_ERROR, errors)
        return sum(
            n
            for status, n in self.statuses.items()
            if counts_as_error(status, errors) or (model_errors and _model_answered(status))
        )


# Answered by the platform under their own code at the endpoint too (408: the model did not
# answer within request_timeout_ms; 429: over max_concurrent_requests_per_instance; same
# page), never as 424: they count only when listed.
_PLATFORM_CODES = frozenset({"408", "429"})


def _model_answered(status: str) -> bool:
    """Whether a deployment's own ``envoy_response_code`` is a model answering non-2xx: the
    endpoint reports that as 424 ("if your model container returns a non-200 response, Azure
    returns a 424", learn.microsoft.com/azure/machine-learning/
    how-to-troubleshoot-online-endpoints, HTTP status codes), so where 424 counts, so does
    this; the endpoint's own refusals (401, 404, 413, ...) never reach a deployment. Whether the
    deployment's metric shows the model's code or 424 is not documented: either way a 424
    listed counts the model's failures at both scopes."""
    return (
        len(status) == 3
        and status.isdigit()
        and status[0] in "345"
        and status not in _PLATFORM_CODES
    )


# endpoint (lower-case) -> deployment (lower-case) -> bucket start -> Cell
Observed = dict[str, dict[str, dict[datetime, Cell]]]


def as_utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def floor_bucket(t: datetime, seconds: float) -> datetime:
    ts = as_utc(t).timestamp()
    return datetime.fromtimestamp(math.floor(ts / seconds + 1e-9) * seconds, UTC)


def ceil_bucket(t: datetime, seconds: float) -> datetime:
    ts = as_utc(t).timestamp()
    return datetime.fromtimestamp(math.ceil(ts / seconds - 1e-9) * seconds, UTC)


def _dimension(values: Mapping[str, Any] | None, name: str) -> str | None:
    for key, value in (values or {}).items():
        if str(key).lower() == name.lower():
            return None if value is None else str(value)
    return None


def _model_failed(model_status: str | None) -> bool:
    """Whether a ``modelStatusCode`` value says the model answered non-200 (the endpoint then
    answers 424); 0 means the model was not reached (the router's own answer)."""
    code = (model_status or "").strip()
    return code.isdigit() and int(code) != 0 and not 200 <= int(code) <= 299


def _resource_id(metric: Any) -> str | None:
    mid = str(getattr(metric, "id", "") or "")
    at = mid.lower().find(_METRIC_ID_SEP)
    return mid[:at].lower() if at > 0 else None


def _status(meta: Mapping[str, Any] | None) -> str:
    """The status a count series stands for: its ``statusCode`` (or ``envoy_response_code``),
    else 424 for a model that answered non-200, else its ``statusCodeClass``."""
    code = _dimension(meta, "statusCode") or _dimension(meta, "envoy_response_code")
    if code and code.strip():
        return code.strip().lower()
    if _model_failed(_dimension(meta, "modelStatusCode")):
        return MODEL_ERROR
    return (_dimension(meta, "statusCodeClass") or "").strip().lower()


def failed_metrics(body: Any) -> list[str]:
    """The metrics of a ``metrics:getBatch`` answer (its JSON body) that failed inside it: each
    metric carries ``errorCode``, "'Success' or the error details on query failures for this
    metric", and ``errorMessage`` (azure-monitor-querymetrics models/_models.py, Metric; e.g.
    ``Throttled``, "Query was throttled with reason: ServerBusy", webdevops/
    azure-metrics-exporter issue 21). The SDK's public result drops both, so a failed metric
    would read as one with no series: no data mistaken for no requests or no latency."""
    out: list[str] = []
    values = body.get("values") if isinstance(body, Mapping) else None
    for value in values if isinstance(values, list) else []:
        if not isinstance(value, Mapping):
            continue
        metrics = value.get("value")
        for metric in metrics if isinstance(metrics, list) else []:
            if not isinstance(metric, Mapping):
                continue
            code = metric.get("errorCode")
            if code is None or str(code).strip().lower() in ("", "success"):
                continue
            name = metric.get("name")
            label = name.get("value") if isinstance(name, Mapping) else None
            message = " ".join(str(metric.get("errorMessage") or "").split())[:200]
            where = f"{label or 'a metric'} of {value.get('resourceid') or 'a resource'}"
            out.append(f"{where}: {code}" + (f" ({message})" if message else ""))
    return out


def absorb(
    observed: Observed,
    results: Sequence[Any],
    resource_ids: Sequence[str],
    endpoint_of: Mapping[str, str],
    deployment_of: Mapping[str, str] | None = None,
) -> None:
    """Add one ``query_resources`` answer to ``observed``.

    ``results[i]`` answers ``resource_ids[i]`` unless its metrics' ids name their resource
    (they do in Azure and the emulator); ``endpoint_of`` maps lower-cased resource ids to
    endpoint names. For deployment-scope resources ``deployment_of`` maps them to their
    deployment (their series carry no ``deployment`` dimension).
    """
    for index, result in enumerate(results):
        for metric in getattr(result, "metrics", None) or []:
            rid = _resource_id(metric)
            if rid is None and index < len(resource_ids):
                rid = resource_ids[index].lower()
            endpoint = endpoint_of.get(rid or "")
            if endpoint is None:
                continue
            own = (deployment_of or {}).get(rid or "")
            name = str(getattr(metric, "name", "") or "").lower()
            per_dep = observed.setdefault(endpoint.lower(), {})
            for series in getattr(metric, "timeseries", None) or []:
                meta = getattr(series, "metadata_values", None)
                deployment = (own or _dimension(meta, "deployment") or "").lower()
                if not deployment:
                    continue  # requests no deployment served (e.g. no traffic routed)
                cells = per_dep.setdefault(deployment, {})
                if name == COUNT_METRIC.lower():
                    status = _status(meta)
                    for point in getattr(series, "data", None) or []:
                        count = getattr(point, "average", None)
                        if count is None or point.timestamp is None:
                            continue  # no value: no data in that minute
                        cell = cells.setdefault(as_utc(point.timestamp), Cell())
                        cell.own_answers = own is not None
                        cell.requests += float(count)
                        cell.statuses[status] = cell.statuses.get(status, 0.0) + float(count)
                elif name in LATENCY_METRICS:
                    field = LATENCY_METRICS[name]
                    for point in getattr(series, "data", None) or []:
                        average = getattr(point, "average", None)
                        if average is None or point.timestamp is None:
                            continue
                        cell = cells.setdefault(as_utc(point.timestamp), Cell())
                        setattr(cell, field, float(average))


def pooled(sides: Sequence[Mapping[datetime, Cell]]) -> Mapping[datetime, Cell]:
    """Several deployments' buckets as one side: requests and statuses add up; a latency
    percentile is the request-weighted mean of theirs (an approximation: percentiles do not
    add, and Azure Monitor gives no histogram to pool exactly)."""
    if len(sides) == 1:
        return sides[0]
    out: dict[datetime, Cell] = {}
    for t in sorted({t for side in sides for t in side}):
        cells = [side[t] for side in sides if t in side]
        cell = Cell(
            requests=sum(c.requests for c in cells),
            own_answers=any(c.own_answers for c in cells),
        )
        for c in cells:
            for status, n in c.statuses.items():
                cell.statuses[status] = cell.statuses.get(status, 0.0) + n
        for level in ("p50", "p90", "p95", "p99"):
            known = [
                (getattr(c, level), c.requests) for c in cells if getattr(c, level) is not None
            ]
            weight = sum(n for _, n in known)
            if known:
                setattr(
                    cell,
                    level,
                    sum(v * n for v, n in known) / weight if weight > 0 else known[0][0],
                )
        out[t] = cell
    return out


def build_minutes(
    observed: Observed, query: MetricsQuery, granularity_s: float, now: datetime
) -> list[Minute]:
    """The query's closed minutes with requests on either side, oldest first."""
    per_dep = observed.get(query.endpoint.lower(), {})
    canary = per_dep.get(query.canary.lower(), {})
    baseline = pooled([per_dep.get(d.lower(), {}) for d in query.baselines])
    start = as_utc(query.start)
    limit = min(as_utc(query.end), as_utc(now))
    step = timedelta(seconds=granularity_s)
    out: list[Minute] = []
    for t in sorted(set(canary) | set(baseline)):
        if t < start or t + step > limit:
            continue
        c, b = canary.get(t, Cell()), baseline.get(t, Cell())
        c_req, b_req = round(c.requests), round(b.requests)
        if c_req + b_req <= 0:
            continue
        out.append(
            Minute(
                canary_requests=c_req,
                canary_errors=min(round(c.errors(query.errors)), c_req),
                baseline_requests=b_req,
                baseline_errors=min(round(b.errors(query.errors)), b_req),
                start=t,
                canary_p50=c.p50,
                canary_p90=c.p90,
                canary_p99=c.p99,
                baseline_p50=b.p50,
                baseline_p90=b.p90,
                baseline_p99=b.p99,
                canary_p95=c.p95,
                baseline_p95=b.p95,
            )
        )
    return out
