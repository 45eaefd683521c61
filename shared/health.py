"""The app's own health, as an operator asks after a deploy or a change of settings: can it
read its store, does every endpoint the policy's rules name exist in the workspace with a
deployment taking live traffic (a rollout needs one to clone and judge against), and does
Azure Monitor answer the judge's query (for the first such endpoint, its last minutes: a
missing role or a wrong metrics endpoint would leave every stage without data). Each check
says what it found, what to do when it failed, and how long it took.

A function over the ports (the engine passes its own); nothing is written, nothing is sent.
Endpoint reads are bounded (``MAX_ENDPOINTS``): a workspace with more rule endpoints reports the
first ones by name and says how many were not read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from shared import reasons as R
from shared.errors import AutocanaryError, NoData, NotFound
from shared.observation import EndpointInfo
from shared.policy import PolicySet
from shared.ports import EndpointControl, MetricsQuery, MetricsSource, RolloutQuery, RolloutStore
from shared.writes import MAX_OUTBOX_EVENTS

MAX_ENDPOINTS = 20
METRICS_WINDOW = timedelta(minutes=15)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    hint: str = ""
    took_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "detail": self.detail,
            "hint": self.hint or None,
            "took_ms": round(self.took_ms, 1),
        }


@dataclass(frozen=True)
class HealthReport:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        failed = [c.name for c in self.checks if not c.ok]
        return {
            "status": "ok" if not failed else "failing",
            "failing": failed,
            "checks": [c.to_dict() for c in self.checks],
        }


def check_health(
    store: RolloutStore,
    endpoints: EndpointControl,
    metrics: MetricsSource,
    policies: PolicySet,
    now: datetime,
    *,
    timer: Callable[[], float] = time.perf_counter,
    notify_problems: Sequence[str] = (),
) -> HealthReport:
    """Every check in order: store, policy, each rule endpoint by name, the metrics of the
    first endpoint that has a live deployment, then the unsent lifecycle events of each rule
    endpoint (a backlog: the topic refuses them)."""

    def timed(name: str, fn: Callable[[], Check]) -> Check:
        start = timer()
        try:
            found = fn()
        except AutocanaryError as exc:
            found = Check(name, False, exc.message, exc.hint)
        return Check(found.name, found.ok, found.detail, found.hint, (timer() - start) * 1000)

    checks = [timed("store", lambda: _store(store)), _policy(policies)]
    names = sorted({rule.endpoint for rule in policies.rules})
    live: list[tuple[str, str]] = []  # (endpoint, its main live deployment)
    for name in names[:MAX_ENDPOINTS]:
        rules = [r.name for r in policies.rules if r.endpoint == name]
        checks.append(timed(f"endpoint {name}", partial(_endpoint, endpoints, name, rules, live)))
    if len(names) > MAX_ENDPOINTS:
        rest = len(names) - MAX_ENDPOINTS
        checks.append(
            Check(
                "endpoints not read",
                True,
                f"{rest} more rule endpoints were not read (at most {MAX_ENDPOINTS} a check)",
            )
        )
    if live:
        endpoint, deployment = live[0]
        checks.append(timed("metrics", partial(_metrics, metrics, endpoint, deployment, now)))
    checks.append(timed("lifecycle events", partial(_outboxes, store, names[:MAX_ENDPOINTS])))
    if notify_problems:
        checks.append(
            Check(
                "chat notifications",
                False,
                "; ".join(notify_problems),
                "fix these app settings; those channels get no notices meanwhile",
            )
        )
    return HealthReport(tuple(checks))


# Unsent lifecycle events in one slot that say the topic has refused them for a while (they
# normally go out on the tick after their decision)
OUTBOX_BACKLOG = MAX_OUTBOX_EVENTS // 4


def _outboxes(store: RolloutStore, names: list[str]) -> Check:
    waiting = {n: len(store.read(n).outbox) for n in names}
    behind = {n: k for n, k in sorted(waiting.items()) if k >= OUTBOX_BACKLOG}
    if not behind:
        return Check("lifecycle events", True, f"{sum(waiting.values())} unsent")
    return Check(
        "lifecycle events",
        False,
        "unsent lifecycle events pile up: "
        + ", ".join(f"{n} {k}" for n, k in behind.items())
        + f" (beyond {MAX_OUTBOX_EVENTS} in one endpoint the oldest are dropped)",
        "the Event Grid topic refuses them: check AUTOCANARY_EVENTGRID_TOPIC_ENDPOINT, that the "
        "topic exists, and the app's EventGrid Data Sender role on it",
    )


def _store(store: RolloutStore) -> Check:
    store.list_rollouts(RolloutQuery(limit=1))
    return Check("store", True, "the rollout store answers")


def _policy(policies: PolicySet) -> Check:
    # a policy is refused at start-up unless it has rules (shared.policy.parse_policy)
    ends = len({r.endpoint for r in policies.rules})
    return Check("policy", True, f"{len(policies.rules)} rules over {ends} endpoints")


def _endpoint(
    endpoints: EndpointControl, name: str, rules: list[str], live_found: list[tuple[str, str]]
) -> Check:
    check = f"endpoint {name}"
    named_by = f"rule{'s' if len(rules) > 1 else ''} {', '.join(rules)}"
    try:
        ep = endpoints.get_endpoint(name)
    except NotFound:
        return Check(
            check,
            False,
            f"the workspace has no online endpoint {name} ({named_by} names it)",
            "create the endpoint with a live deployment, or fix the rule's endpoint",
        )
    live = _live(ep)
    if not live:
        return Check(
            check,
            False,
            f"no deployment of {name} takes live traffic ({named_by}): a rollout there would "
            f"end {R.NO_LIVE_DEPLOYMENT}",
            "give a Succeeded deployment live traffic before registering a model for it",
        )
    split = ", ".join(f"{d} {w} %" for d, w in sorted(live.items()))
    live_found.append((name, max(live, key=lambda d: (live[d], d))))
    return Check(check, True, f"live: {split}")


def _metrics(metrics: MetricsSource, endpoint: str, deployment: str, now: datetime) -> Check:
    """The judge's own query over the last minutes of one live deployment."""
    query = MetricsQuery(endpoint, deployment, deployment, now - METRICS_WINDOW, now)
    try:
        minutes = metrics.stage_minutes([query]).get(endpoint) or ()
    except NoData as exc:
        return Check(
            "metrics",
            False,
            f"Azure Monitor did not answer for {endpoint}: {exc.message}",
            "check AUTOCANARY_METRICS_ENDPOINT and that the app's identity may read the "
            "workspace's metrics (Monitoring Reader)",
        )
    served = sum(m.baseline_requests for m in minutes)
    window = int(METRICS_WINDOW.total_seconds() // 60)
    if not minutes:
        return Check(
            "metrics",
            True,
            f"Azure Monitor answers; {endpoint}/{deployment} served no requests in the last "
            f"{window} minutes",
        )
    return Check(
        "metrics",
        True,
        f"Azure Monitor answers: {endpoint}/{deployment} served {served} requests over "
        f"{len(minutes)} of the last {window} minutes",
    )


def _live(ep: EndpointInfo) -> dict[str, int]:
    return {
        d: w
        for d, w in ep.live_traffic().items()
        if w > 0
        and (dep := ep.deployments.get(d)) is not None
        and dep.provisioning_state == "Succeeded"
    }
