"""Metric alert rules: their JSON forms and validation (for :mod:`emulator.alerts`).

Two forms are accepted. The flat form (names follow ARM's criteria)::

    {"name": "canary-5xx", "description": "", "severity": 1, "enabled": true,
     "endpoint": "fraud",                      # or "scope": an endpoint/deployment ARM id
     "deployment": null,                       # set it for the .../deployments namespace
     "metricNamespace": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
     "metricName": "RequestsPerMinute",
     "dimensions": [{"name": "statusCodeClass", "operator": "Include", "values": ["5xx"]},
                    {"name": "deployment", "operator": "Include", "values": ["*"]}],
     "operator": "GreaterThan",                # GreaterThan[OrEqual], LessThan[OrEqual], Equals
     "threshold": 5, "timeAggregation": "Total",   # Average, Minimum, Maximum, Total, Count
     "windowSize": "PT5M", "evaluationFrequency": "PT1M", "autoMitigate": true,
     "webhookUrls": ["http://127.0.0.1:7071/api/alerts?code=..."],
     "customProperties": {"team": "ml"}}

and the ARM resource body of ``Microsoft.Insights/metricAlerts`` (azure-rest-api-specs
``specification/monitor/resource-manager/Microsoft.Insights/stable/2018-03-01/
metricAlert_API.json``, example ``createOrUpdateMetricAlertWithDimensions.json``):
``{"name", "properties": {"description", "severity", "enabled", "scopes": [one id],
"evaluationFrequency", "windowSize", "criteria": {"odata.type":
"Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria", "allOf": [{"criterionType":
"StaticThresholdCriterion", "name", "metricName", "metricNamespace", "dimensions",
"operator", "threshold", "timeAggregation"}]}, "autoMitigate"}, "webhookUrls": [...]}``.
Action groups are not emulated: ``webhookUrls`` (top level or in ``properties``) names the
webhooks an action group would call; ``actions`` is ignored. One criterion per rule.

Dimensions (``MetricDimension``: ``name``, ``operator`` Include or Exclude, ``values``): every
dimension named in a rule identifies the time series it watches, so each is in the
``dimensions`` of the alert's ``alertContext.condition.allOf[]``; ``values: ["*"]`` splits the
rule into one time series (and one alert) per value, e.g. per deployment.
"""

from __future__ import annotations

import operator
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulator.addon_http import check_webhook_url, parse_duration, redact_url
from emulator.context import Context
from emulator.metric_catalog import AGGREGATIONS, DEPLOYMENT_NS, ENDPOINT_NS, METRICS, MetricDef
from emulator.metric_filter import DimFilter

OPERATORS: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "greaterthan": ("GreaterThan", operator.gt),
    "greaterthanorequal": ("GreaterThanOrEqual", operator.ge),
    "lessthan": ("LessThan", operator.lt),
    "lessthanorequal": ("LessThanOrEqual", operator.le),
    "equals": ("Equals", operator.eq),
}


@dataclass
class Rule:
    name: str
    endpoint: str
    deployment: str | None
    namespace: str
    metric: MetricDef
    dim_filter: DimFilter
    dimensions: list[dict[str, Any]]
    operator: str
    threshold: float
    aggregation: str
    window: str
    frequency: str
    webhooks: list[str]
    severity: int = 3
    description: str = ""
    enabled: bool = True
    auto_mitigate: bool = True
    custom_properties: dict[str, str] = field(default_factory=dict)
    # state
    firing: dict[tuple[tuple[str, str], ...], dict[str, Any]] = field(default_factory=dict)
    deliveries: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=50))
    next_due: float = 0.0
    evaluations: int = 0

    def spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "severity": self.severity,
            "enabled": self.enabled,
            "endpoint": self.endpoint,
            "deployment": self.deployment,
            "metricNamespace": self.namespace,
            "metricName": self.metric.name,
            "dimensions": self.dimensions,
            "operator": OPERATORS[self.operator][0],
            "threshold": self.threshold,
            "timeAggregation": self.aggregation.capitalize(),
            "windowSize": self.window,
            "evaluationFrequency": self.frequency,
            "autoMitigate": self.auto_mitigate,
            "webhookUrls": [redact_url(u) for u in self.webhooks],
            "customProperties": dict(self.custom_properties),
        }

    def state(self) -> dict[str, Any]:
        return {
            **self.spec(),
            "evaluations": self.evaluations,
            "firing": [
                {"dimensions": [{"name": d, "value": v} for d, v in key], **info}
                for key, info in self.firing.items()
            ],
            "deliveries": list(self.deliveries),
        }


def parse_rule(raw: Any, ctx: Context) -> Rule:
    """A rule from its JSON form; ValueError naming the problem when it is invalid."""
    if not isinstance(raw, dict):
        raise ValueError("a rule must be a JSON object")
    raw = _flatten_arm(raw)
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or "/" in name:
        raise ValueError("'name' must be a non-empty string without '/'")
    namespace = str(raw.get("metricNamespace") or ENDPOINT_NS)
    catalog = METRICS.get(namespace.lower())
    if catalog is None:
        raise ValueError(f"metricNamespace must be {ENDPOINT_NS} or {DEPLOYMENT_NS}")
    endpoint, deployment = _scope(raw, ctx)
    if (deployment is not None) != (namespace.lower() == DEPLOYMENT_NS.lower()):
        raise ValueError(
            "a deployment namespace rule needs a deployment, an endpoint rule must not name one"
        )
    metric = catalog.get(str(raw.get("metricName", "")).lower())
    if metric is None:
        raise ValueError(
            f"metricName must be one of: {', '.join(m.name for m in catalog.values())}"
        )
    dimensions = raw.get("dimensions") or []
    dim_filter = _dim_filter(dimensions, metric)
    op_name = str(raw.get("operator", "")).lower()
    if op_name not in OPERATORS:
        raise ValueError(f"operator must be one of: {', '.join(o[0] for o in OPERATORS.values())}")
    threshold = raw.get("threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise ValueError("threshold must be a number")
    aggregation = str(raw.get("timeAggregation", "")).lower()
    if aggregation not in AGGREGATIONS:
        raise ValueError("timeAggregation must be Average, Minimum, Maximum, Total or Count")
    window = str(raw.get("windowSize", "PT5M"))
    frequency = str(raw.get("evaluationFrequency", "PT1M"))
    for label, value in (("windowSize", window), ("evaluationFrequency", frequency)):
        if parse_duration(value).total_seconds() <= 0:
            raise ValueError(f"{label} must be a positive ISO 8601 duration")
    webhooks = raw.get("webhookUrls") or []
    if not isinstance(webhooks, list) or not webhooks:
        raise ValueError("webhookUrls must list at least one URL")
    severity = raw.get("severity", 3)
    if not isinstance(severity, int) or isinstance(severity, bool) or not 0 <= severity <= 4:
        raise ValueError("severity must be 0..4")
    custom = raw.get("customProperties") or {}
    if not isinstance(custom, dict):
        raise ValueError("customProperties must be an object")
    return Rule(
        name=name,
        endpoint=endpoint,
        deployment=deployment,
        namespace=ENDPOINT_NS if deployment is None else DEPLOYMENT_NS,
        metric=metric,
        dim_filter=dim_filter,
        dimensions=dimensions,
        operator=op_name,
        threshold=float(threshold),
        aggregation=aggregation,
        window=window,
        frequency=frequency,
        webhooks=[check_webhook_url(u) for u in webhooks],
        severity=severity,
        description=str(raw.get("description", "")),
        enabled=bool(raw.get("enabled", True)),
        auto_mitigate=bool(raw.get("autoMitigate", True)),
        custom_properties={str(k): str(v) for k, v in custom.items()},
    )


def _scope(raw: dict[str, Any], ctx: Context) -> tuple[str, str | None]:
    scope = raw.get("scope")
    if isinstance(scope, str) and scope:
        base = ctx.identity.workspace_id.lower() + "/onlineendpoints/"
        if not scope.lower().startswith(base):
            raise ValueError(f"scope must be an online endpoint of {ctx.identity.workspace_id}")
        parts = scope[len(base) :].strip("/").split("/")
        if len(parts) == 1:
            return parts[0], None
        if len(parts) == 3 and parts[1].lower() == "deployments":
            return parts[0], parts[2]
        raise ValueError("scope must be an online endpoint or deployment resource id")
    endpoint = raw.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise ValueError("give 'endpoint' (name) or 'scope' (resource id)")
    deployment = raw.get("deployment")
    if deployment is not None and (not isinstance(deployment, str) or not deployment):
        raise ValueError("'deployment' must be a deployment name")
    return endpoint, deployment


def _dim_filter(dimensions: Any, metric: MetricDef) -> DimFilter:
    if not isinstance(dimensions, list):
        raise ValueError("dimensions must be a list")
    canonical = {d.lower(): d for d in metric.dimensions}
    split: list[str] = []
    include: dict[str, frozenset[str]] = {}
    exclude: dict[str, frozenset[str]] = {}
    for item in dimensions:
        if not isinstance(item, dict):
            raise ValueError("each dimension is {name, operator, values}")
        dim = canonical.get(str(item.get("name", "")).lower())
        if dim is None:
            raise ValueError(
                f"{metric.name} has no dimension {item.get('name')!r} "
                f"(it has: {', '.join(metric.dimensions) or 'none'})"
            )
        values = item.get("values")
        if not isinstance(values, list) or not values:
            raise ValueError(f"dimension {dim}: values must be a non-empty list")
        op = str(item.get("operator", "Include")).lower()
        lowered = frozenset(str(v).lower() for v in values)
        if op == "include":
            if "*" not in lowered:
                include[dim] = lowered
        elif op == "exclude":
            exclude[dim] = lowered
        else:
            raise ValueError(f"dimension {dim}: operator must be Include or Exclude")
        if dim in split:
            raise ValueError(f"dimension {dim} is named twice")
        # Every named dimension identifies the watched time series (and appears in the
        # alert's dimensions), even with a single value.
        split.append(dim)
    return DimFilter(tuple(split), include, exclude)


def _flatten_arm(raw: dict[str, Any]) -> dict[str, Any]:
    """The ARM body of a metric alert (``{"name", "properties": {...}}``) as the flat form."""
    props = raw.get("properties")
    if not isinstance(props, dict):
        return raw
    criteria = props.get("criteria")
    if not isinstance(criteria, dict) or not isinstance(criteria.get("allOf"), list):
        raise ValueError("properties.criteria.allOf must list the rule's criterion")
    kind = str(criteria.get("odata.type", ""))
    if kind and not kind.endswith("SingleResourceMultipleMetricCriteria"):
        raise ValueError(
            "only Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria is emulated"
        )
    if len(criteria["allOf"]) != 1 or not isinstance(criteria["allOf"][0], dict):
        raise ValueError("exactly one criterion in criteria.allOf is emulated")
    criterion = dict(criteria["allOf"][0])
    if str(criterion.get("criterionType", "StaticThresholdCriterion")) != (
        "StaticThresholdCriterion"
    ):
        raise ValueError("only StaticThresholdCriterion is emulated")
    scopes = props.get("scopes")
    if not isinstance(scopes, list) or len(scopes) != 1 or not isinstance(scopes[0], str):
        raise ValueError("properties.scopes must name one endpoint or deployment")
    flat: dict[str, Any] = {
        "name": raw.get("name"),
        "scope": scopes[0],
        "webhookUrls": raw.get("webhookUrls") or props.get("webhookUrls"),
    }
    for key in ("description", "severity", "enabled", "windowSize", "evaluationFrequency"):
        if key in props:
            flat[key] = props[key]
    if "autoMitigate" in props:
        flat["autoMitigate"] = props["autoMitigate"]
    for key in ("metricName", "metricNamespace", "dimensions", "operator", "threshold"):
        if key in criterion:
            flat[key] = criterion[key]
    if "timeAggregation" in criterion:
        flat["timeAggregation"] = criterion["timeAggregation"]
    if "customProperties" in raw:
        flat["customProperties"] = raw["customProperties"]
    return flat
