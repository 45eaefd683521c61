"""Metric alert rules, evaluated continuously, notifying action-group webhooks.

Admin API (admin key required, like every ``/_emulator/`` route):

* ``POST /_emulator/alert-rules`` creates a rule (409 if the name exists), answers 201;
* ``GET /_emulator/alert-rules`` lists rules with their state; ``GET .../{name}`` shows one,
  with the series that are firing and the last webhook deliveries;
* ``DELETE /_emulator/alert-rules/{name}`` removes one (404 if absent).

Rules can also be loaded at start-up from a JSON file (a list, or ``{"rules": [...]}``) named by
``ctx.extras["alert_rules_file"]``, or ``alert-rules.json`` in the state directory.

A rule's JSON forms (flat, or ARM's ``Microsoft.Insights/metricAlerts`` body) are in
:mod:`emulator.alert_rules`.

Evaluation: every ``evaluationFrequency`` (each period at its own time, even when the loop runs
late) the metric is aggregated over the last ``windowSize`` (durations in API minutes, each
lasting ``ctx.bucket_seconds``), one value per time series, i.e. per combination of the values
of the dimensions the rule names (``"*"`` splits, as in Azure). The evaluator reads the metrics
as queries do, so it sees a minute only once it is ingested
(:class:`emulator.metric_series.Ingestion`): its window ends the ingestion delay plus the
revision time before now, so it judges complete minutes, late. A series whose condition holds
fires once (``monitorCondition: Fired``); when it stops holding it resolves
(``Resolved``) if ``autoMitigate``. For Total and Count a window without data counts as 0;
for other aggregations it leaves the state unchanged except that a fired series resolves.

Notification: the common alert schema
(MicrosoftDocs/azure-monitor-docs ``articles/azure-monitor/alerts/alerts-common-schema.md``)
POSTed to each webhook URL. ``alertTargetIDs`` holds the endpoint's (or deployment's) ARM id
lower-cased, as the service sends ids (the schema doc's sample: rule ``WCUS-R2-Gen2``, target
``.../virtualmachines/wcus-r2-gen2``); ``alertContext.condition.allOf[].dimensions`` carries
the ``{name, value}`` pairs of the firing time series (e.g. ``deployment``), one alert per
series. Deliveries are retried as action groups retry webhooks (``action-groups.md``:
on 408, 429, 503, 504 and connection errors or timeouts, up to 5 retries after 5, 20, 5, 40 and
5 seconds, here scaled by bucket_seconds / 60); the call timeout is 10 s. https webhooks on
loopback are called without certificate verification. URLs are logged and shown with their
``code=`` (function key) redacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from typing import Any

import aiohttp
from aiohttp import web

from emulator.addon_http import (
    admin_route,
    error_response,
    iso_time,
    json_response,
    load_config_list,
    minute_seconds,
    parse_duration,
    read_json,
    redact_url,
    scaled,
    ssl_for,
)
from emulator.alert_rules import OPERATORS, Rule, parse_rule
from emulator.context import Context
from emulator.metric_series import complete_until, compute_series

__all__ = ["OPERATORS", "AlertEngine", "Rule", "parse_rule", "setup"]

log = logging.getLogger("emulator.alerts")

RETRY_STATUSES = frozenset({408, 429, 503, 504})
RETRY_DELAYS = (5.0, 20.0, 5.0, 40.0, 5.0)
CALL_TIMEOUT = 10.0
# Evaluations a late loop makes up for at most, per rule (then it starts again from now).
MAX_CATCH_UP = 10


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
        end = complete_until(self.ctx, now)  # where ingested data is whole
        start = end - window
        _, series = compute_series(
            self.ctx,
            rule.namespace,
            rule.metric,
            rule.endpoint,
            rule.deployment,
            rule.dim_filter,
            start,
            end,
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
                out.append(("Fired", self._payload(rule, key, value, info, start, end, None)))
            elif not met and key in rule.firing and rule.auto_mitigate:
                info = rule.firing.pop(key)
                out.append(("Resolved", self._payload(rule, key, value, info, start, end, now)))
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
        entry: dict[str, Any] = {
            "url": redact_url(url),
            "monitorCondition": condition,
            "attempts": [],
        }
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
        log.warning("alert %s: webhook %s failed after retries", rule.name, redact_url(url))

    def _send(self, rule: Rule, condition: str, payload: dict[str, Any]) -> None:
        for url in rule.webhooks:
            task = asyncio.get_running_loop().create_task(
                self._deliver(rule, url, condition, payload)
            )
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)

    def due_times(self, rule: Rule, now: float) -> list[float]:
        """The evaluation times of ``rule`` due by ``now``, oldest first, and its next one
        scheduled. Each period is evaluated at its own time, so a loop that ran late (a busy
        machine) evaluates the windows it missed rather than skipping the minutes they held;
        one behind by more than MAX_CATCH_UP periods starts again from now."""
        step = scaled(parse_duration(rule.frequency), self.ctx)
        due: list[float] = []
        while rule.next_due <= now and len(due) < MAX_CATCH_UP:
            due.append(rule.next_due)
            rule.next_due += step
        if rule.next_due <= now:
            rule.next_due = now + step
        return due

    async def run(self) -> None:
        while True:
            now = time.time()
            next_due = now + 1.0
            for rule in list(self.rules.values()):
                if not rule.enabled:
                    continue
                for at in self.due_times(rule, now):
                    try:
                        for condition, payload in self.evaluate(rule, at):
                            self._send(rule, condition, payload)
                    except Exception:
                        log.exception("alert rule %s failed to evaluate", rule.name)
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

    admin = admin_route(ctx)

    @admin
    async def create(request: web.Request) -> web.Response:
        raw = await read_json(request)
        try:
            rule = parse_rule(raw, ctx)
        except ValueError as exc:
            return error_response(400, "BadRequest", f"Invalid alert rule: {exc}")
        if rule.name in engine.rules:
            return error_response(409, "Conflict", f"Alert rule {rule.name!r} already exists.")
        engine.add(rule)
        return json_response(rule.state(), 201)

    @admin
    async def list_rules(request: web.Request) -> web.Response:
        return json_response({"value": [r.state() for r in engine.rules.values()]})

    @admin
    async def get_rule(request: web.Request) -> web.Response:
        rule = engine.rules.get(request.match_info["name"])
        if rule is None:
            return error_response(404, "ResourceNotFound", "No such alert rule.")
        return json_response(rule.state())

    @admin
    async def delete_rule(request: web.Request) -> web.Response:
        if engine.rules.pop(request.match_info["name"], None) is None:
            return error_response(404, "ResourceNotFound", "No such alert rule.")
        return web.Response(status=204)

    app.router.add_post("/_emulator/alert-rules", create)
    app.router.add_get("/_emulator/alert-rules", list_rules)
    app.router.add_get("/_emulator/alert-rules/{name}", get_rule)
    app.router.add_delete("/_emulator/alert-rules/{name}", delete_rule)
    app.on_startup.append(engine.start)
    app.on_cleanup.append(engine.stop)
