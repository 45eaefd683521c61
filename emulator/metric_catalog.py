"""The metric catalogue of Azure ML online endpoints, as Azure Monitor defines it.

Source: https://learn.microsoft.com/azure/azure-monitor/reference/supported-metrics/
microsoft-machinelearningservices-workspaces-onlineendpoints-metrics (and the
``...-onlineendpoints-deployments-metrics`` page): metric names, units, dimensions and the
aggregations each supports. The generated tables list several where a metric has several
(``DataCollectionEventsPerMinute``: "Minimum, Maximum, Average") and only Average for
``RequestsPerMinute`` and the latencies, on both resource types (MicrosoftDocs/
azure-reference-other azure-monitor-ref/supported-metrics/includes/
microsoft-machinelearningservices-workspaces-onlineendpoints[-deployments]-metrics-include.md).
A query asking a metric for another aggregation is refused (the metrics API has been seen to
refuse unsupported aggregations with InternalError or 501 Not Implemented: open-telemetry/
opentelemetry-collector-contrib PRs 32320 and 43880; which status Azure answers for these
metrics is not documented: the emulator answers 400 BadRequest, so a client asking for one
fails loudly rather than silently).
"""

from __future__ import annotations

from dataclasses import dataclass

from emulator.errors import ArmError
from emulator.records import RequestRecord

ENDPOINT_NS = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
DEPLOYMENT_NS = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"

AGGREGATIONS = ("average", "count", "minimum", "maximum", "total")
# Time grains the service accepts (the metrics REST reference lists these plus FULL).
ALLOWED_INTERVALS = ("PT1M", "PT5M", "PT15M", "PT30M", "PT1H", "PT6H", "PT12H", "P1D", "FULL")


class MetricsError(ArmError):
    """A request the metrics API refuses; answered with ``status`` and an Azure error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(status, code, message)


def bad(message: str) -> MetricsError:
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
    aggregations: tuple[str, ...] = ("average",)  # the ones the metric supports


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


def deployment_answer(record: RequestRecord) -> int:
    """What the deployment itself answered, as its own metrics show it: the model's own code
    where the endpoint answered 424 for it (the router turns a model's non-200 into 424:
    learn.microsoft.com/azure/machine-learning/how-to-troubleshoot-online-endpoints, HTTP
    status codes). ``envoy_response_code`` is the code Envoy sent downstream, and the Envoy in
    front of the scoring container passes the container's answer on; no document says which
    code the deployment metric shows, so the emulator shows the less convenient one: a model's
    400 as 400, not as the 424 the endpoint-level metric counts."""
    if record.status_code == 424 and record.model_status_code:
        return record.model_status_code
    return record.status_code


def dimension_values(record: RequestRecord, namespace: str) -> dict[str, str]:
    if namespace == DEPLOYMENT_NS.lower():
        return {"envoy_response_code": str(deployment_answer(record))}
    return {
        "deployment": record.deployment,
        "statusCode": str(record.status_code),
        "statusCodeClass": record.status_class,
        "modelStatusCode": str(record.model_status_code),
    }
