"""MetricsSource on Azure Monitor platform metrics of online endpoints (batch API).

One ``MetricsClient.query_resources`` call per 50 endpoints and metric family (the
``metrics:getBatch`` limit; azure-monitor-querymetrics ``_patch.py``), over
[earliest start, latest end] at a one-minute grain, namespace
``Microsoft.MachineLearningServices/workspaces/onlineEndpoints`` (metric names and dimensions:
learn.microsoft.com/azure/azure-monitor/reference/supported-metrics/
microsoft-machinelearningservices-workspaces-onlineendpoints-metrics):

- ``RequestsPerMinute``, aggregation Total, split by ``deployment``, ``statusCodeClass`` and
  ``modelStatusCode``: a deployment's requests in a minute are the sum over its series, its
  errors those of the ``5xx`` class (compared case-insensitively, so ``5XX`` counts too) plus
  model errors: requests whose model answered 5xx, which the endpoint returns as 424 (class
  4xx; "424 Model Error", learn.microsoft.com/azure/machine-learning/
  how-to-troubleshoot-online-endpoints, HTTP status codes: check the Model Status Code
  dimension of Requests Per Minute). Without them a model failing every call would look
  healthy.
- ``RequestLatency_P50``/``_P90``/``_P99``, aggregation Average, split by ``deployment``.

Results are read from the SDK's ``MetricsQueryResult`` -> ``Metric`` (``id`` starts with the
resource id) -> ``TimeSeriesElement`` (``metadata_values``: dimension name -> value) ->
``MetricValue`` (``timestamp``, ``total``, ``average``) (azure-monitor-querymetrics
``_models.py``). Dimension names are matched case-insensitively (the service lower-cases them).

A query gets one :class:`Minute` per closed minute (wholly inside [start, end) and ended by
now: the newest, still open minute is left out) in which its canary or baseline served
requests. A minute with no requests on either side is left out, never reported as zeros.
``granularity_seconds`` is the real length of one metric "minute": 60 in Azure; the local
emulator can shorten its buckets for demos and tests. Any failure to get an answer (after the
retries of :mod:`shared.azure.retry`) is NoData: the engine holds, it never passes on it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.azure import retry
from shared.errors import AutocanaryError, NoData
from shared.judge.types import Minute
from shared.ports import MetricsQuery

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from shared.settings import Settings

log = logging.getLogger("autocanary.azure")

NAMESPACE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
COUNT_METRIC = "RequestsPerMinute"
LATENCY_METRICS = {
    "requestlatency_p50": "p50",
    "requestlatency_p90": "p90",
    "requestlatency_p99": "p99",
}
COUNT_FILTER = "deployment eq '*' and statusCodeClass eq '*' and modelStatusCode eq '*'"
LATENCY_FILTER = "deployment eq '*'"
ERROR_CLASS = "5xx"
BATCH_SIZE = 50  # resources per metrics:getBatch call
# Series per resource: the service returns 10 when a filter is given unless told otherwise;
# an endpoint has at most 20 deployments x 5 status classes (+ unrouted requests).
MAX_SERIES = 200
_METRIC_ID_SEP = "/providers/microsoft.insights/metrics/"


@dataclass
class Cell:
    """What one deployment did in one bucket."""

    requests: float = 0.0
    errors: float = 0.0
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None


# endpoint (lower-case) -> deployment (lower-case) -> bucket start -> Cell
Observed = dict[str, dict[str, dict[datetime, Cell]]]


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def floor_bucket(t: datetime, seconds: float) -> datetime:
    ts = _utc(t).timestamp()
    return datetime.fromtimestamp(math.floor(ts / seconds + 1e-9) * seconds, UTC)


def ceil_bucket(t: datetime, seconds: float) -> datetime:
    ts = _utc(t).timestamp()
    return datetime.fromtimestamp(math.ceil(ts / seconds - 1e-9) * seconds, UTC)


def _dimension(values: Mapping[str, Any] | None, name: str) -> str | None:
    for key, value in (values or {}).items():
        if str(key).lower() == name.lower():
            return None if value is None else str(value)
    return None


def _model_failed(model_status: str | None) -> bool:
    """Whether a ``modelStatusCode`` value is a server error of the model (500-599)."""
    code = (model_status or "").strip()
    return code.isdigit() and 500 <= int(code) <= 599


def _resource_id(metric: Any) -> str | None:
    mid = str(getattr(metric, "id", "") or "")
    at = mid.lower().find(_METRIC_ID_SEP)
    return mid[:at].lower() if at > 0 else None


def absorb(
    observed: Observed,
    results: Sequence[Any],
    resource_ids: Sequence[str],
    endpoint_of: Mapping[str, str],
) -> None:
    """Add one ``query_resources`` answer to ``observed``.

    ``results[i]`` answers ``resource_ids[i]`` unless its metrics' ids name their resource
    (they do in Azure and the emulator); ``endpoint_of`` maps lower-cased resource ids to
    endpoint names.
    """
    for index, result in enumerate(results):
        for metric in getattr(result, "metrics", None) or []:
            rid = _resource_id(metric)
            if rid is None and index < len(resource_ids):
                rid = resource_ids[index].lower()
            endpoint = endpoint_of.get(rid or "")
            if endpoint is None:
                continue
            name = str(getattr(metric, "name", "") or "").lower()
            per_dep = observed.setdefault(endpoint.lower(), {})
            for series in getattr(metric, "timeseries", None) or []:
                meta = getattr(series, "metadata_values", None)
                deployment = (_dimension(meta, "deployment") or "").lower()
                if not deployment:
                    continue  # requests no deployment served (e.g. no traffic routed)
                cells = per_dep.setdefault(deployment, {})
                if name == COUNT_METRIC.lower():
                    status_class = (_dimension(meta, "statusCodeClass") or "").lower()
                    failed = status_class == ERROR_CLASS or _model_failed(
                        _dimension(meta, "modelStatusCode")
                    )
                    for point in getattr(series, "data", None) or []:
                        total = getattr(point, "total", None)
                        if total is None or point.timestamp is None:
                            continue  # no value: no data in that minute
                        cell = cells.setdefault(_utc(point.timestamp), Cell())
                        cell.requests += float(total)
                        if failed:
                            cell.errors += float(total)
                elif name in LATENCY_METRICS:
                    field = LATENCY_METRICS[name]
                    for point in getattr(series, "data", None) or []:
                        average = getattr(point, "average", None)
                        if average is None or point.timestamp is None:
                            continue
                        cell = cells.setdefault(_utc(point.timestamp), Cell())
                        setattr(cell, field, float(average))


def build_minutes(
    observed: Observed, query: MetricsQuery, granularity_s: float, now: datetime
) -> list[Minute]:
    """The query's closed minutes with requests on either side, oldest first."""
    per_dep = observed.get(query.endpoint.lower(), {})
    canary = per_dep.get(query.canary.lower(), {})
    baseline = per_dep.get(query.baseline.lower(), {})
    start = _utc(query.start)
    limit = min(_utc(query.end), _utc(now))
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
                canary_errors=min(round(c.errors), c_req),
                baseline_requests=b_req,
                baseline_errors=min(round(b.errors), b_req),
                start=t,
                canary_p50=c.p50,
                canary_p90=c.p90,
                canary_p99=c.p99,
                baseline_p50=b.p50,
                baseline_p90=b.p90,
                baseline_p99=b.p99,
            )
        )
    return out


class MonitorMetricsSource:
    """The MetricsSource port on Azure Monitor (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        credential: TokenCredential,
        *,
        granularity_seconds: float = 60.0,
        retry_policy: retry.RetryPolicy = retry.DEFAULT_RETRY,
        client_factory: Callable[[], Any] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not granularity_seconds > 0:
            raise ValueError("granularity_seconds must be positive")
        self._settings = settings
        self._credential = credential
        self._granularity_s = float(granularity_seconds)
        self._retry = retry_policy
        self._clock = clock or (lambda: datetime.now(UTC))
        self._client = retry.LazyClient(client_factory or self._build_client)

    def resource_id(self, endpoint: str) -> str:
        return f"{self._settings.workspace_id}/onlineEndpoints/{endpoint}"

    def stage_minutes(self, queries: Sequence[MetricsQuery]) -> Mapping[str, Sequence[Minute]]:
        if not queries:
            return {}
        now = _utc(self._clock())
        step = timedelta(seconds=self._granularity_s)
        # Only queries that can hold a closed minute are asked for.
        live = [
            q
            for q in queries
            if ceil_bucket(q.start, self._granularity_s) + step <= min(_utc(q.end), now)
        ]
        observed: Observed = {}
        if live:
            start = floor_bucket(min(_utc(q.start) for q in live), self._granularity_s)
            end = min(max(_utc(q.end) for q in live), now)
            endpoints = list(dict.fromkeys(q.endpoint for q in live))
            for batch in chunks(endpoints, BATCH_SIZE):
                self._fetch(observed, batch, start, end)
        return {q.endpoint: build_minutes(observed, q, self._granularity_s, now) for q in queries}

    # ---------------------------------------------------------------- internals
    def _fetch(
        self, observed: Observed, endpoints: Sequence[str], start: datetime, end: datetime
    ) -> None:
        rids = [self.resource_id(e) for e in endpoints]
        endpoint_of = {rid.lower(): e for rid, e in zip(rids, endpoints, strict=True)}
        client = self._metrics_client()
        for names, aggregation, filter_ in (
            ([COUNT_METRIC], "Total", COUNT_FILTER),
            (
                ["RequestLatency_P50", "RequestLatency_P90", "RequestLatency_P99"],
                "Average",
                LATENCY_FILTER,
            ),
        ):
            what = f"query {', '.join(names)} of {len(rids)} endpoint(s)"

            def query(names: list[str] = names, agg: str = aggregation, f: str = filter_) -> Any:
                return client.query_resources(
                    resource_ids=rids,
                    metric_namespace=NAMESPACE,
                    metric_names=names,
                    timespan=(start, end),
                    granularity=timedelta(minutes=1),
                    aggregations=[agg],
                    filter=f,
                    max_results=MAX_SERIES,
                )

            try:
                results = retry.call(query, what, policy=self._retry)
            except AutocanaryError as exc:
                raise NoData(
                    f"Azure Monitor metrics unavailable: {exc.message}",
                    details={"cause": exc.code, **exc.details},
                ) from exc
            absorb(observed, list(results or []), rids, endpoint_of)

    def _metrics_client(self) -> Any:
        return self._client.get()

    def _build_client(self) -> Any:
        from azure.monitor.querymetrics import MetricsClient

        options: dict[str, Any] = dict(retry.SDK_OPTIONS)
        if self._settings.ca_bundle:
            options["connection_verify"] = self._settings.ca_bundle
        return MetricsClient(self._settings.metrics_endpoint, self._credential, **options)


def chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
