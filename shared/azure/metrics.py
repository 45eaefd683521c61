"""MetricsSource on Azure Monitor platform metrics of online endpoints (batch API).

One ``MetricsClient.query_resources`` call per 50 endpoints and metric family (the
``metrics:getBatch`` limit; azure-monitor-querymetrics ``_patch.py``). The two families cannot
share a call: a getBatch call takes one ``filter`` for every metric it names, and a filter
naming a dimension one of them lacks is refused ("Metric: Egress does not support requested
dimension combination: ...", learn.microsoft.com/azure/azure-monitor/essentials/
migrate-to-batch-api, "Error response changes"); the counts need ``statusCode`` and its
siblings, which the latency percentiles do not have (they split by ``deployment`` only). Over
[earliest start, latest end] at a one-minute grain, namespace
``Microsoft.MachineLearningServices/workspaces/onlineEndpoints`` (metric names and dimensions:
learn.microsoft.com/azure/azure-monitor/reference/supported-metrics/
microsoft-machinelearningservices-workspaces-onlineendpoints-metrics):

- ``RequestsPerMinute``, aggregation Total, split by ``deployment``, ``statusCode``,
  ``statusCodeClass`` and ``modelStatusCode`` (the dimensions the metric reference lists): a
  deployment's requests in a minute are the sum over its series, its errors those whose status
  is one of the query's ``errors`` (codes like ``429`` or classes like ``5xx``, compared
  case-insensitively; default 5xx, 424, 408, 429). A model answering non-200 reaches the caller as
  424 ("424 Model Error", learn.microsoft.com/azure/machine-learning/
  how-to-troubleshoot-online-endpoints, HTTP status codes: check the Model Status Code
  dimension of Requests Per Minute); 408 is a model slower than ``request_timeout_ms``, 429 a
  deployment over ``max_concurrent_requests_per_instance`` (same page). A 424 counts whatever
  the model answered (the page: "if your model container returns a non-200 response"). A
  series without a ``statusCode`` value counts as 424 when its ``modelStatusCode`` says the
  model answered non-200, else by its class.
- ``RequestLatency_P50``/``_P90``/``_P95``/``_P99``, aggregation Average, split by
  ``deployment`` (P95 feeds the absolute guardrails).

Queries with ``scope="deployment"`` (the shadow) read each deployment's own resource instead,
namespace ``Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments``
(learn.microsoft.com/azure/azure-monitor/reference/supported-metrics/
microsoft-machinelearningservices-workspaces-onlineendpoints-deployments-metrics):
``RequestsPerMinute`` split by ``envoy_response_code`` and ``RequestLatency_P50..P99``. Why:
Azure's safe-rollout guide says mirrored copies are sent to the shadow deployment "so that you
can gather metrics and logging" (learn.microsoft.com/azure/machine-learning/
how-to-safely-rollout-online-endpoints, "Test the deployment with mirrored traffic") but no
document says the endpoint-level metric (documented as "the number of requests sent to online
endpoint") counts mirrored copies under the shadow's ``deployment`` value; the deployment's own
metrics count what it served. There 424 carries no model status: it counts when listed.

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
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.azure import retry
from shared.errors import AutocanaryError, NoData
from shared.judge.types import Minute
from shared.ports import MetricsQuery, counts_as_error

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from shared.settings import Settings

log = logging.getLogger("autocanary.azure")

NAMESPACE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
DEPLOYMENT_NAMESPACE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"
COUNT_METRIC = "RequestsPerMinute"
LATENCY_METRICS = {
    "requestlatency_p50": "p50",
    "requestlatency_p90": "p90",
    "requestlatency_p95": "p95",
    "requestlatency_p99": "p99",
}
LATENCY_NAMES = [
    "RequestLatency_P50",
    "RequestLatency_P90",
    "RequestLatency_P95",
    "RequestLatency_P99",
]
COUNT_FILTER = (
    "deployment eq '*' and statusCode eq '*' and statusCodeClass eq '*' and modelStatusCode eq '*'"
)
LATENCY_FILTER = "deployment eq '*'"
DEPLOYMENT_COUNT_FILTER = "envoy_response_code eq '*'"
MODEL_ERROR = "424"  # what the endpoint answers when the model answered non-200
BATCH_SIZE = 50  # resources per metrics:getBatch call
# Series per resource: the service returns 10 when a filter is given unless told otherwise;
# an endpoint has at most 20 deployments x 5 status classes (+ unrouted requests).
MAX_SERIES = 200
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

    def errors(self, errors: Sequence[str]) -> float:
        return sum(n for status, n in self.statuses.items() if counts_as_error(status, errors))


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
                        total = getattr(point, "total", None)
                        if total is None or point.timestamp is None:
                            continue  # no value: no data in that minute
                        cell = cells.setdefault(_utc(point.timestamp), Cell())
                        cell.requests += float(total)
                        cell.statuses[status] = cell.statuses.get(status, 0.0) + float(total)
                elif name in LATENCY_METRICS:
                    field = LATENCY_METRICS[name]
                    for point in getattr(series, "data", None) or []:
                        average = getattr(point, "average", None)
                        if average is None or point.timestamp is None:
                            continue
                        cell = cells.setdefault(_utc(point.timestamp), Cell())
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
        cell = Cell(requests=sum(c.requests for c in cells))
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

    @property
    def granularity_seconds(self) -> float:
        return self._granularity_s

    def resource_id(self, endpoint: str, deployment: str | None = None) -> str:
        rid = f"{self._settings.workspace_id}/onlineEndpoints/{endpoint}"
        return rid if deployment is None else f"{rid}/deployments/{deployment}"

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
        by_scope: dict[str, Observed] = {"endpoint": {}, "deployment": {}}
        for scope in by_scope:
            asked = [q for q in live if q.scope == scope]
            if not asked:
                continue
            start = floor_bucket(min(_utc(q.start) for q in asked), self._granularity_s)
            end = min(max(_utc(q.end) for q in asked), now)
            if scope == "endpoint":
                endpoints = list(dict.fromkeys(q.endpoint for q in asked))
                for batch in chunks(endpoints, BATCH_SIZE):
                    rids = [self.resource_id(e) for e in batch]
                    endpoint_of = {r.lower(): e for r, e in zip(rids, batch, strict=True)}
                    self._fetch(by_scope[scope], rids, endpoint_of, None, start, end)
            else:
                pairs = list(
                    dict.fromkeys((q.endpoint, d) for q in asked for d in (q.canary, *q.baselines))
                )
                for pair_batch in chunks(pairs, BATCH_SIZE):
                    rids = [self.resource_id(e, d) for e, d in pair_batch]
                    endpoint_of = {r.lower(): e for r, (e, _) in zip(rids, pair_batch, strict=True)}
                    deployment_of = {
                        r.lower(): d for r, (_, d) in zip(rids, pair_batch, strict=True)
                    }
                    self._fetch(by_scope[scope], rids, endpoint_of, deployment_of, start, end)
        return {
            q.endpoint: build_minutes(by_scope[q.scope], q, self._granularity_s, now)
            for q in queries
        }

    # ---------------------------------------------------------------- internals
    def _fetch(
        self,
        observed: Observed,
        rids: Sequence[str],
        endpoint_of: Mapping[str, str],
        deployment_of: Mapping[str, str] | None,
        start: datetime,
        end: datetime,
    ) -> None:
        client = self._metrics_client()
        per_deployment = deployment_of is not None
        namespace = DEPLOYMENT_NAMESPACE if per_deployment else NAMESPACE
        count_filter = DEPLOYMENT_COUNT_FILTER if per_deployment else COUNT_FILTER
        latency_filter = None if per_deployment else LATENCY_FILTER
        for names, aggregation, filter_ in (
            ([COUNT_METRIC], "Total", count_filter),
            (LATENCY_NAMES, "Average", latency_filter),
        ):
            kind = "deployment(s)" if per_deployment else "endpoint(s)"
            what = f"query {', '.join(names)} of {len(rids)} {kind}"

            def query(
                names: list[str] = names, agg: str = aggregation, f: str | None = filter_
            ) -> Any:
                return client.query_resources(
                    resource_ids=list(rids),
                    metric_namespace=namespace,
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
            absorb(observed, list(results or []), rids, endpoint_of, deployment_of)

    def _metrics_client(self) -> Any:
        return self._client.get()

    def _build_client(self) -> Any:
        from azure.monitor.querymetrics import MetricsClient

        options: dict[str, Any] = dict(retry.SDK_OPTIONS)
        if self._settings.ca_bundle:
            options["connection_verify"] = self._settings.ca_bundle
        return MetricsClient(self._settings.metrics_endpoint, self._credential, **options)


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
