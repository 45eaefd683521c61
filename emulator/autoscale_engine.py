"""The autoscale engine: the settings of :mod:`emulator.autoscale` applied to the deployments
they target, as Azure Monitor's autoscale job does.

From MicrosoftDocs/azure-monitor-docs ``articles/azure-monitor/autoscale/
autoscale-understanding-settings.md`` (Autoscale evaluation, and the table of the setting's
elements):

- the job runs every 30 to 60 seconds: here once per API minute (``ctx.bucket_seconds``);
- the profile: the first fixed-date profile whose window holds now (UTC), else the default
  profile (one with neither ``fixedDate`` nor ``recurrence``). Recurrence profiles are not
  evaluated here;
- a count below the profile's minimum is raised to it, one above its maximum lowered to it;
- scale-out: if one or more ``Increase`` rules are triggered, the highest capacity they give;
  otherwise scale-in, only if every ``Decrease`` rule is triggered, to the highest capacity
  they give ("scales in by as little as possible"). The flapping estimate is not emulated;
- metrics not available for a rule: if the count is below the profile's ``default``, scale
  out to it (a ``Sum`` or ``Count`` statistic over a window without requests reads 0, as
  :mod:`emulator.alerts` reads Total and Count);
- after any scale action no other until the cooldown of the rule that fired has passed;
- a rule's metric is the emulator's own (``metricName`` on ``metricResourceUri``, an endpoint
  or deployment of the workspace), per ``timeGrain`` by ``statistic``, then over
  ``timeWindow`` by ``timeAggregation``, divided by the target's instance count with
  ``dividePerInstance``; read as ingested, like queries and alerts see it.

A scale changes the deployment's ``sku.capacity`` and puts it in provisioning state
``Scaling`` until its instances run (the provisioning delay): ``DeploymentProvisioningState``
has ``Scaling`` beside ``Updating`` (azure-ai-ml ``_restclient/arm_ml_service/models/_enums.py``),
and an autoscaled online endpoint shows it while it scales (Azure/azureml-examples#3515,
"Azure online endpoint is Scaling taking long time"). A deployment busy with another
operation is left for the next run. ``ServiceAllowedNextValue`` moves by one instance and
``PercentChangeCount`` by at least one (rounding is the emulator's choice).

``GET /_emulator/autoscale`` (admin key) lists the last actions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from emulator.addon_http import (
    admin_route,
    json_response,
    minute_seconds,
    parse_duration,
    parse_time,
    scaled,
)
from emulator.autoscale_rules import (
    OPERATORS,
    STATISTICS,
    RuleError,
    ScaleRule,
    new_capacity,
    parse_scale_rule,
)
from emulator.metric_catalog import METRICS
from emulator.metric_filter import DimFilter
from emulator.metric_series import complete_until, compute_series
from emulator.monitor import DEPLOYMENT_NS, ENDPOINT_NS, RESOURCE_ID

if TYPE_CHECKING:
    from emulator.arm_state import ArmState
    from emulator.autoscale import AutoscaleState, Setting

log = logging.getLogger("emulator.autoscale")

HISTORY = 200


def choose_profile(profiles: list[Mapping[str, Any]], now: datetime) -> Mapping[str, Any] | None:
    """The fixed-date profile whose window holds ``now``, else the default profile."""
    for prof in profiles:
        fixed = prof.get("fixedDate")
        if isinstance(fixed, Mapping):
            try:
                start, end = parse_time(str(fixed["start"])), parse_time(str(fixed["end"]))
            except (KeyError, ValueError):
                continue
            if start <= now <= end:
                return prof
    for prof in profiles:
        if not prof.get("fixedDate") and not prof.get("recurrence"):
            return prof
    return None


@dataclass
class Action:
    setting: str
    deployment: str
    at: float
    old: int
    new: int
    why: str
    cooldown_s: float


class AutoscaleEngine:
    """Every API minute, each enabled setting's profile applied to its target deployment."""

    def __init__(self, arm: ArmState, settings: AutoscaleState) -> None:
        self.arm = arm
        self.ctx = arm.ctx
        self.settings = settings
        self.actions: deque[Action] = deque(maxlen=HISTORY)
        self._last: dict[str, Action] = {}  # the last action per setting (its cooldown)
        self._task: asyncio.Task[None] | None = None

    # -- metrics
    def metric_value(self, rule: ScaleRule, count: int, now: float) -> float | None:
        """The rule's metric over its window, as the engine sees it now (None: no data)."""
        m = RESOURCE_ID.match(rule.resource)
        if m is None:
            return None
        ns = DEPLOYMENT_NS if m["dep"] else ENDPOINT_NS
        mdef = METRICS[ns.lower()].get(rule.metric.lower())
        if mdef is None:
            return None
        end = complete_until(self.ctx, now)  # where ingested data is whole
        grain = max(minute_seconds(self.ctx), scaled(parse_duration(rule.grain), self.ctx))
        start = end - scaled(parse_duration(rule.window), self.ctx)
        _, series = compute_series(
            self.ctx, ns, mdef, m["ep"].lower(), m["dep"], DimFilter(), start, end, grain, now
        )
        stat = STATISTICS[rule.statistic]
        points = [p.value(stat) for s in series for p in s.points]
        values = [v for v in points if v is not None]
        if not values and stat in ("total", "count"):
            values = [0.0]  # no requests in the window: a count of 0, as the alert rules read it
        if not values:
            return None
        agg = rule.time_aggregation
        value = {
            "average": sum(values) / len(values),
            "minimum": min(values),
            "maximum": max(values),
            "total": sum(values),
            "count": float(len(values)),
            "last": values[-1],
        }[agg]
        return value / max(1, count) if rule.divide else value

    # -- decisions
    def decide(self, s: Setting, count: int, now: float) -> tuple[int, str, float] | None:
        """(new count, why, cooldown seconds) for setting ``s`` at ``count``, or None when the
        count stays."""
        decided = self._decide(s, count, now)
        return None if decided is None or decided[0] == count else decided

    def _decide(self, s: Setting, count: int, now: float) -> tuple[int, str, float] | None:
        profiles = [p for p in s.properties.get("profiles") or [] if isinstance(p, Mapping)]
        prof = choose_profile(profiles, datetime.fromtimestamp(now, UTC))
        if prof is None:
            return None
        cap = prof["capacity"]
        lo, hi, default = (int(str(cap[k])) for k in ("minimum", "maximum", "default"))
        if count < lo:
            return lo, f"below the minimum of profile {prof['name']!r}", 0.0
        if count > hi:
            return hi, f"above the maximum of profile {prof['name']!r}", 0.0
        last = self._last.get(s.name.lower())
        if last is not None and now < last.at + last.cooldown_s:
            return None
        rules: list[ScaleRule] = []
        for i, raw in enumerate(prof.get("rules") or []):
            try:
                rules.append(parse_scale_rule(raw, f"rules[{i}]"))
            except RuleError:
                continue  # refused at PUT; a setting stored before that is skipped
        results = [(r, self.metric_value(r, count, now)) for r in rules]
        met = [
            (r, v) for r, v in results if v is not None and OPERATORS[r.operator](v, r.threshold)
        ]
        ups = [(new_capacity(r, count), r, v) for r, v in met if r.direction == "increase"]
        if ups:
            new, rule, value = max(ups, key=lambda u: u[0])
            why = f"{rule.metric} {rule.operator} {rule.threshold:g} (value {value:g})"
            return min(hi, new), why, scaled(parse_duration(rule.cooldown), self.ctx)
        downs = [r for r in rules if r.direction == "decrease"]
        if downs and all(any(r is m for m, _ in met) for r in downs):
            new, rule = max(((new_capacity(r, count), r) for r in downs), key=lambda d: d[0])
            why = "every scale-in rule is met"
            return max(lo, new), why, scaled(parse_duration(rule.cooldown), self.ctx)
        if any(v is None for _, v in results) and count < default:
            return default, "metrics not available: the profile's default", 0.0
        return None

    def evaluate(self, now: float) -> list[Action]:
        """One run of the job over every enabled setting; the actions taken."""
        taken: list[Action] = []
        for s in list(self.settings.settings.values()):
            if not s.properties.get("enabled", True):
                continue
            target = self.settings.target_of(s)
            if target is None:
                continue  # the deployment is gone: the setting stays, as in Azure
            dep = self.arm.deployments.get(target)
            if dep is None or dep.busy or dep.state != "Succeeded":
                continue  # being created, updated, scaled or deleted: the next run sees it
            decided = self.decide(s, dep.instance_count, now)
            if decided is None:
                continue
            new, why, cooldown = decided
            old = dep.instance_count
            if not self.arm.rescale(dep, new):
                continue
            action = Action(s.name, dep.name, now, old, new, why, cooldown)
            self._last[s.name.lower()] = action
            self.actions.append(action)
            taken.append(action)
            log.info("autoscale %s: %s %d -> %d (%s)", s.name, dep.name, old, new, why)
        return taken

    async def run(self) -> None:
        while True:
            try:
                self.evaluate(time.time())
            except Exception:
                log.exception("autoscale evaluation failed")
            await asyncio.sleep(minute_seconds(self.ctx))

    async def start(self, app: web.Application) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self, app: web.Application) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


def setup(app: web.Application, arm: ArmState, settings: AutoscaleState) -> AutoscaleEngine:
    """The engine's task and its admin view."""
    engine = AutoscaleEngine(arm, settings)
    app.on_startup.append(engine.start)
    app.on_cleanup.append(engine.stop)
    admin = admin_route(arm.ctx)

    @admin
    async def actions(request: web.Request) -> web.Response:
        return json_response({"actions": [asdict(a) for a in engine.actions]})

    app.router.add_get("/_emulator/autoscale", actions)
    return engine
