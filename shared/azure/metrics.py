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

- ``RequestsPerMinute``, aggregation Average (the only one the metric reference lists for it,
  where other metrics list several: at the one-minute grain, the metric's own "number of
  requests ... within a minute"), split by ``deployment``, ``statusCode``,
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
metrics count what it served. Their ``envoy_response_code`` is the deployment's own answer
(a model's 400 may show as 400, not 424): where the list covers 424, a non-2xx answer there
other than the platform's own 408 and 429 counts as a model error
(:mod:`shared.azure.metric_reading`, ``Cell.errors``).

The answers become one minute per closed minute with requests on either side
(:mod:`shared.azure.metric_reading`, which says how they are read).
``granularity_seconds`` is the real length of one metric "minute": 60 in Azure; the local
emulator can shorten its buckets for demos and tests. Any failure to get an answer (after the
retries of :mod:`shared.azure.retry`) is NoData: the engine holds, it never passes on it; so
is an answer in which one metric failed (its ``errorCode``, which the SDK's result drops, read
from the raw answer through azure-core's ``raw_response_hook``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.azure import retry
from shared.azure.metric_reading import (
    COUNT_AGGREGATION,
    COUNT_METRIC,
    Observed,
    absorb,
    as_utc,
    build_minutes,
    ceil_bucket,
    failed_metrics,
    floor_bucket,
)
from shared.errors import AutocanaryError, NoData
from shared.judge.types import Minute
from shared.ports import MetricsQuery

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from shared.settings import Settings

log = logging.getLogger("autocanary.azure")

NAMESPACE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
DEPLOYMENT_NAMESPACE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"
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
BATCH_SIZE = 50  # resources per metrics:getBatch call
# Series per resource and metric (``top``): the service returns 10 when a filter is given
# unless told otherwise. A count series is one (deployment, statusCode, statusCodeClass,
# modelStatusCode) combination with data in the window: a few per deployment, up to 20
# deployments. An answer that reaches it may be truncated and is refused (_refuse_truncated).
MAX_SERIES = 200


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
        now = as_utc(self._clock())
        step = timedelta(seconds=self._granularity_s)
        # Only queries that can hold a closed minute are asked for.
        live = [
            q
            for q in queries
            if ceil_bucket(q.start, self._granularity_s) + step <= min(as_utc(q.end), now)
        ]
        by_scope: dict[str, Observed] = {"endpoint": {}, "deployment": {}}
        for scope in by_scope:
            asked = [q for q in live if q.scope == scope]
            if not asked:
                continue
            start = floor_bucket(min(as_utc(q.start) for q in asked), self._granularity_s)
            end = min(max(as_utc(q.end) for q in asked), now)
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
            ([COUNT_METRIC], COUNT_AGGREGATION, count_filter),
            (LATENCY_NAMES, "Average", latency_filter),
        ):
            kind = "deployment(s)" if per_deployment else "endpoint(s)"
            what = f"query {', '.join(names)} of {len(rids)} {kind}"

            failed: list[str] = []

            def query(
                names: list[str] = names,
                agg: str = aggregation,
                f: str | None = filter_,
                failed: list[str] = failed,
            ) -> Any:
                failed.clear()  # this try's answer only
                return client.query_resources(
                    resource_ids=list(rids),
                    metric_namespace=namespace,
                    metric_names=names,
                    timespan=(start, end),
                    granularity=timedelta(minutes=1),
                    aggregations=[agg],
                    filter=f,
                    max_results=MAX_SERIES,
                    # azure-core's CustomHookPolicy calls it with the raw answer
                    raw_response_hook=lambda response, failed=failed: _read_failures(
                        response, failed
                    ),
                )

            try:
                results = retry.call(query, what, policy=self._retry)
            except AutocanaryError as exc:
                raise NoData(
                    f"Azure Monitor metrics unavailable: {exc.message}",
                    details={"cause": exc.code, **exc.details},
                ) from exc
            if failed:  # a metric failed inside the answer: its minutes are unknown, not empty
                raise NoData(
                    f"Azure Monitor could not answer {what}: {'; '.join(failed[:3])}",
                    details={"cause": "MetricQueryFailed", "failed": failed[:10]},
                )
            answers = list(results or [])
            if names == [COUNT_METRIC]:  # the counts (the latency query shares the aggregation)
                _refuse_truncated(answers, what)
            absorb(observed, answers, rids, endpoint_of, deployment_of)

    def _metrics_client(self) -> Any:
        return self._client.get()

    def _build_client(self) -> Any:
        from azure.monitor.querymetrics import MetricsClient

        options: dict[str, Any] = dict(retry.SDK_OPTIONS)
        if self._settings.ca_bundle:
            options["connection_verify"] = self._settings.ca_bundle
        return MetricsClient(self._settings.metrics_endpoint, self._credential, **options)


def _read_failures(response: Any, failed: list[str]) -> None:
    """Collect the metrics that failed inside a ``metrics:getBatch`` answer (``failed_metrics``)
    from the pipeline response; an answer this cannot read is left to the SDK."""
    http = getattr(response, "http_response", None)
    if http is None or getattr(http, "status_code", None) != 200:
        return
    try:
        body = json.loads(http.text())
    except (ValueError, TypeError, AttributeError):
        return
    failed.extend(failed_metrics(body))


def _refuse_truncated(results: Sequence[Any], what: str) -> None:
    """NoData when a resource's count answer holds MAX_SERIES series: the service keeps the
    ``top`` largest and drops the rest without saying so (``top`` applies per metric and
    resource: learn.microsoft.com/azure/azure-monitor/metrics/migrate-to-batch-api), and the
    series dropped would be the small ones, errors among them: a canary would look healthier
    than it is. The engine holds on NoData; it never judges a partial count."""
    for result in results:
        for metric in getattr(result, "metrics", None) or []:
            if len(getattr(metric, "timeseries", None) or []) >= MAX_SERIES:
                raise NoData(
                    f"Azure Monitor metrics incomplete: {what} answered {MAX_SERIES} series for "
                    f"{getattr(metric, 'id', '?')}, the most one query returns; the series "
                    "beyond (small ones, errors among them) may be missing",
                    details={"cause": "series_truncated", "max_series": MAX_SERIES},
                )


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
