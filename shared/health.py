"""The app's own health, as an operator asks after a deploy or a change of settings: can it
read its store, is there a rollout policy, and does every endpoint the policy's rules name
exist in the workspace with a deployment taking live traffic (a rollout needs one to clone and
judge against). Each check says what it found, what to do when it failed, and how long it took.

A function over the ports (the engine passes its own); nothing is written, nothing is sent.
Endpoint reads are bounded (``MAX_ENDPOINTS``): a workspace with more rule endpoints reports the
first ones by name and says how many were not read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from shared import reasons as R
from shared.errors import AutocanaryError, NotFound
from shared.observation import EndpointInfo
from shared.policy import PolicySet
from shared.ports import EndpointControl, RolloutQuery, RolloutStore

MAX_ENDPOINTS = 20


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
    policies: PolicySet,
    *,
    timer: Callable[[], float] = time.perf_counter,
) -> HealthReport:
    """Every check in order (store, policy, then each rule endpoint by name)."""

    def timed(name: str, fn: Callable[[], Check]) -> Check:
        start = timer()
        try:
            found = fn()
        except AutocanaryError as exc:
            found = Check(name, False, exc.message, exc.hint)
        return Check(found.name, found.ok, found.detail, found.hint, (timer() - start) * 1000)

    checks = [timed("store", lambda: _store(store)), _policy(policies)]
    names = sorted({rule.endpoint for rule in policies.rules})
    for name in names[:MAX_ENDPOINTS]:
        rules = [r.name for r in policies.rules if r.endpoint == name]
        checks.append(timed(f"endpoint {name}", partial(_endpoint, endpoints, name, rules)))
    if len(names) > MAX_ENDPOINTS:
        rest = len(names) - MAX_ENDPOINTS
        checks.append(
            Check(
                "endpoints not read",
                True,
                f"{rest} more rule endpoints were not read (at most {MAX_ENDPOINTS} a check)",
            )
        )
    return HealthReport(tuple(checks))


def _store(store: RolloutStore) -> Check:
    store.list_rollouts(RolloutQuery(limit=1))
    return Check("store", True, "the rollout store answers")


def _policy(policies: PolicySet) -> Check:
    # a policy is refused at start-up unless it has rules (shared.policy.parse_policy)
    ends = len({r.endpoint for r in policies.rules})
    return Check("policy", True, f"{len(policies.rules)} rules over {ends} endpoints")


def _endpoint(endpoints: EndpointControl, name: str, rules: list[str]) -> Check:
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
    return Check(check, True, f"live: {split}")


def _live(ep: EndpointInfo) -> dict[str, int]:
    return {
        d: w
        for d, w in ep.live_traffic().items()
        if w > 0
        and (dep := ep.deployments.get(d)) is not None
        and dep.provisioning_state == "Succeeded"
    }
