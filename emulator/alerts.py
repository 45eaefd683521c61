"""Metric alert rules, evaluated continuously, notifying action-group webhooks.

Admin API (admin key required, like every ``/_emulator/`` route):

* ``POST /_emulator/alert-rules`` creates a rule (409 if the name exists), answers 201;
* ``GET /_emulator/alert-rules`` lists rules with their state; ``GET .../{name}`` shows one,
  with the series that are firing and the last webhook deliveries;
* ``DELETE /_emulator/alert-rules/{name}`` removes one (404 if absent).

Rules can also be loaded at start-up from a JSON file (a list, or ``{"rules": [...]}``) named by
``ctx.extras["alert_rules_file"]``, or ``alert-rules.json`` in the state directory.

A rule (names follow ARM's ``Microsoft.Insights/metricAlerts`` criteria)::

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

Evaluation: every ``evaluationFrequency`` the metric is aggregated over the last
``windowSize`` (durations in API minutes, each lasting ``ctx.bucket_seconds``), one value per
dimension combination (``"*"`` splits, as in Azure). A series whose condition holds fires once
(``monitorCondition: Fired``); when it stops holding it resolves (``Resolved``) if
``autoMitigate``. For Total and Count a window without data counts as 0; for other aggregations
it leaves the state unchanged except that a fired series resolves.

Notification: the common alert schema
(MicrosoftDocs/azure-monitor-docs ``articles/azure-monitor/alerts/alerts-common-schema.md``)
POSTed to each webhook URL; ``alertTargetIDs`` holds the endpoint's ARM id lower-cased, as the
service sends ids. Deliveries are retried as action groups retry webhooks (``action-groups.md``:
on 408, 429, 503, 504 and connection errors or timeouts, up to 5 retries after 5, 20, 5, 40 and
5 seconds, here scaled by bucket_seconds / 60); the call timeout is 10 s. https webhooks on
loopback are called without certificate verification.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import operator
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from emulator.addon_http import (
    admin_problem,
    check_webhook_url,
    error_response,
    iso_time,
    json_response,
    load_config_list,
    minute_seconds,
    parse_duration,
    read_json,
    scaled,
    ssl_for,
)
from emulator.context import Context
from emulator.metric_catalog import AGGREGATIONS, DEPLOYMENT_NS, ENDPOINT_NS, METRICS, MetricDef
from emulator.metric_filter import DimFilter
from emulator.metric_series import compute_series

log = logging.getLogger("emulator.alerts")

OPERATORS: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "greaterthan": ("GreaterThan", operator.gt),
    "greaterthanorequal": ("GreaterThanOrEqual", operator.ge),
    "lessthan": ("LessThan", operator.lt),
    "lessthanorequal": ("LessThanOrEqual", operator.le),
    "equals": ("Equals", operator.eq),
}
RETRY_STATUSES = frozenset({408, 429, 503, 504})
RETRY_DELAYS = (5.0, 20.0, 5.0, 40.0, 5.0)
CALL_TIMEOUT = 10.0


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
            "webhookUrls": list(self.webhooks),
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
            if "*" in lowered or len(lowered) > 1:
                split.append(dim)
            if "*" not in lowered:
                include[dim] = lowered
        elif op == "exclude":
            split.append(dim)
            exclude[dim] = lowered
        else:
            raise ValueError(f"dimension {dim}: operator must be Include or Exclude")
    return DimFilter(tuple(split), include, exclude)


class AlertEngine:
    """The rules of one emulator and the task that evaluates them."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.rules: dict[str, Rule] = {}
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._sends: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()

    def add(self, rule: Rule) -> None:
        rule.next_due = time.time()
        self.rules[rule.name] = rule
        self._wake.set()

    # -- evaluation
    def evaluate(self, rule: Rule, now: float) -> list[tuple[str, dict[str, Any]]]:
        """Evaluate one rule at ``now``; return (condition, payload) notifications to send."""
        rule.evaluations += 1
        window = scaled(parse_duration(rule.window), self.ctx)
        start = now - window
        _, series = compute_series(
            self.ctx,
            rule.namespace,
            rule.metric,
            rule.endpoint,
            rule.deployment,
            rule.dim_filter,
            start,
            now,
            None,
            now,
        )
        values: dict[tuple[tuple[str, str], ...], float | None] = {
            s.metadata: s.points[0].value(rule.aggregation) for s in series
        }
        for key in rule.firing:
            values.setdefault(key, None)
        test = OPERATORS[rule.operator][1]
        out: list[tuple[str, dict[str, Any]]] = []
        for key, value in values.items():
            if value is None and rule.aggregation in ("total", "count"):
                value = 0.0
            met = value is not None and test(value, rule.threshold)
            if met and key not in rule.firing:
                info = {"alertId": str(uuid.uuid4()), "firedDateTime": iso_time(now)}
                rule.firing[key] = info
                out.append(("Fired", self._payload(rule, key, value, info, start, now, None)))
            elif not met and key in rule.firing and rule.auto_mitigate:
                info = rule.firing.pop(key)
                out.append(("Resolved", self._payload(rule, key, value, info, start, now, now)))
        return out

    def _payload(
        self,
        rule: Rule,
        key: tuple[tuple[str, str], ...],
        value: float | None,
        info: dict[str, Any],
        start: float,
        end: float,
        resolved: float | None,
    ) -> dict[str, Any]:
        ident = self.ctx.identity
        target = (
            ident.endpoint_id(rule.endpoint)
            if rule.deployment is None
            else ident.deployment_id(rule.endpoint, rule.deployment)
        )
        rule_id = (
            f"/subscriptions/{ident.subscription}/resourceGroups/{ident.resource_group}"
            f"/providers/microsoft.insights/metricAlerts/{rule.name}"
        )
        essentials: dict[str, Any] = {
            "alertId": f"/subscriptions/{ident.subscription}/providers/"
            f"Microsoft.AlertsManagement/alerts/{info['alertId']}",
            "alertRule": rule.name,
            "alertRuleID": rule_id,
            "severity": f"Sev{rule.severity}",
            "signalType": "Metric",
            "monitorCondition": "Fired" if resolved is None else "Resolved",
            "monitoringService": "Platform",
            "alertTargetIDs": [target.lower()],
            "configurationItems": [rule.deployment or rule.endpoint],
            "originAlertId": f"{info['alertId']}_{ident.resource_group}_microsoft.insights_"
            f"metricAlerts_{rule.name}",
            "firedDateTime": info["firedDateTime"],
            "description": rule.description,
            "essentialsVersion": "1.0",
            "alertContextVersion": "1.0",
            "targetResourceType": rule.namespace.lower(),
            "targetResourceGroup": ident.resource_group,
        }
        if resolved is not None:
            essentials["resolvedDateTime"] = iso_time(resolved)
        return {
            "schemaId": "azureMonitorCommonAlertSchema",
            "data": {
                "essentials": essentials,
                "alertContext": {
                    "properties": None,
                    "conditionType": "SingleResourceMultipleMetricCriteria",
                    "condition": {
                        "windowSize": rule.window,
                        "allOf": [
                            {
                                "metricName": rule.metric.name,
                                "metricNamespace": rule.namespace,
                                "operator": OPERATORS[rule.operator][0],
                                "threshold": f"{rule.threshold:g}",
                                "timeAggregation": rule.aggregation.capitalize(),
                                "dimensions": [{"name": d, "value": v} for d, v in key],
                                "metricValue": value,
                            }
                        ],
                        "windowStartTime": iso_time(start),
                        "windowEndTime": iso_time(end),
                    },
                },
                "customProperties": dict(rule.custom_properties) or None,
            },
        }

    # -- delivery
    async def _deliver(self, rule: Rule, url: str, condition: str, payload: dict[str, Any]) -> None:
        assert self._session is not None
        factor = minute_seconds(self.ctx) / 60.0
        entry: dict[str, Any] = {"url": url, "monitorCondition": condition, "attempts": []}
        rule.deliveries.append(entry)
        body = json.dumps(payload).encode()
        for attempt in range(len(RETRY_DELAYS) + 1):
            retry = False
            try:
                async with self._session.post(
                    url,
                    data=body,
                    headers={"Content-Type": "application/json"},
                    ssl=ssl_for(url),
                    timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT),
                ) as resp:
                    await resp.read()
                    entry["attempts"].append({"at": iso_time(time.time()), "status": resp.status})
                    retry = resp.status in RETRY_STATUSES
            except (aiohttp.ClientError, TimeoutError) as exc:
                entry["attempts"].append({"at": iso_time(time.time()), "error": repr(exc)})
                retry = True
            if not retry:
                return
            if attempt < len(RETRY_DELAYS):
                await asyncio.sleep(RETRY_DELAYS[attempt] * factor)
        log.warning("alert %s: webhook %s failed after retries", rule.name, url)

    def _send(self, rule: Rule, condition: str, payload: dict[str, Any]) -> None:
        for url in rule.webhooks:
            task = asyncio.get_running_loop().create_task(
                self._deliver(rule, url, condition, payload)
            )
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)

    async def run(self) -> None:
        while True:
            now = time.time()
            next_due = now + 1.0
            for rule in list(self.rules.values()):
                if not rule.enabled:
                    continue
                if rule.next_due <= now:
                    try:
                        for condition, payload in self.evaluate(rule, now):
                            self._send(rule, condition, payload)
                    except Exception:
                        log.exception("alert rule %s failed to evaluate", rule.name)
                    rule.next_due = now + scaled(parse_duration(rule.frequency), self.ctx)
                next_due = min(next_due, rule.next_due)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.01, next_due - time.time()))

    async def start(self, app: web.Application) -> None:
        self._session = aiohttp.ClientSession()
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self, app: web.Application) -> None:
        tasks = [t for t in [self._task, *self._sends] if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if self._session is not None:
            await self._session.close()


ENGINE_KEY = web.AppKey("emulator.alerts", AlertEngine)


def setup(app: web.Application, ctx: Context) -> None:
    """Add the alert-rules admin API and the evaluation task."""
    engine = AlertEngine(ctx)
    for raw in load_config_list(ctx, "alert_rules_file", "alert-rules.json", "rules"):
        rule = parse_rule(raw, ctx)
        if rule.name in engine.rules:
            raise ValueError(f"alert rules file names {rule.name!r} twice")
        engine.add(rule)
    app[ENGINE_KEY] = engine

    async def create(request: web.Request) -> web.Response:
        problem = admin_problem(request, ctx)
        if problem is not None:
            return problem
        raw = await read_json(request)
        try:
            rule = parse_rule(raw, ctx)
        except ValueError as exc:
            return error_response(400, "BadRequest", f"Invalid alert rule: {exc}")
        if rule.name in engine.rules:
            return error_response(409, "Conflict", f"Alert rule {rule.name!r} already exists.")
        engine.add(rule)
        return json_response(rule.state(), 201)

    async def list_rules(request: web.Request) -> web.Response:
        problem = admin_problem(request, ctx)
        if problem is not None:
            return problem
        return json_response({"value": [r.state() for r in engine.rules.values()]})

    async def get_rule(request: web.Request) -> web.Response:
        problem = admin_problem(request, ctx)
        if problem is not None:
            return problem
        rule = engine.rules.get(request.match_info["name"])
        if rule is None:
            return error_response(404, "ResourceNotFound", "No such alert rule.")
        return json_response(rule.state())

    async def delete_rule(request: web.Request) -> web.Response:
        problem = admin_problem(request, ctx)
        if problem is not None:
            return problem
        if engine.rules.pop(request.match_info["name"], None) is None:
            return error_response(404, "ResourceNotFound", "No such alert rule.")
        return web.Response(status=204)

    app.router.add_post("/_emulator/alert-rules", create)
    app.router.add_get("/_emulator/alert-rules", list_rules)
    app.router.add_get("/_emulator/alert-rules/{name}", get_rule)
    app.router.add_delete("/_emulator/alert-rules/{name}", delete_rule)
    app.on_startup.append(engine.start)
    app.on_cleanup.append(engine.stop)
