"""Orchestration of the checks on the canary's answers (the smoke test before traffic, the
shadow comparison): when one is due, take the sample, send it, hand the answers' summary to
the core. No decision here (shared.machine decides); payloads stay in memory and only
statuses, latencies, counts and agreement measures go on."""

from __future__ import annotations

import logging

from shared.errors import AutocanaryError
from shared.judge.agreement import Agreement, Outputs, agreement, parse_outputs
from shared.model import PROVISIONED, Phase, Rollout
from shared.observation import EndpointInfo
from shared.ports import InputSamples, ScoreAnswer, Scoring
from shared.smoke import SmokeResponse, SmokeResult

log = logging.getLogger("autocanary.checks")

# a smoke request is given this much longer than the latency bound before it is cut off
_TIMEOUT_FACTOR = 3.0
_TIMEOUT_MIN_S = 1.0
_TIMEOUT_MAX_S = 60.0
# the smoke requests go one at a time (their latencies are an idle canary's), none after this
# long: a canary that slow fails its smoke test instead of holding the reconcile for minutes
SMOKE_BUDGET_S = 120.0


def smoke_due(r: Rollout, ep: EndpointInfo | None) -> bool:
    """Whether this tick's decision is the smoke test: the canary is Succeeded, before any
    traffic, and no smoke test passed yet."""
    if r.phase is not Phase.PROVISIONING or r.policy.smoke is None or "smoke" in r.checks:
        return False
    dep = ep.deployments.get(r.canary) if ep is not None else None
    return dep is not None and dep.provisioning_state == PROVISIONED and not r.paused


def run_smoke(r: Rollout, scoring: Scoring | None, samples: InputSamples | None) -> SmokeResult:
    """Send the smoke requests to the canary; why not, when they cannot be sent."""
    smoke = r.policy.smoke
    assert smoke is not None
    if scoring is None or samples is None:
        return SmokeResult(unavailable="the app has no scoring client configured")
    try:
        bodies = samples.inputs(r.endpoint, r.baseline, smoke.sample, smoke.requests)
    except AutocanaryError as exc:
        return SmokeResult(unavailable=f"no sample from {smoke.sample}: {exc.message}")
    # repeat the sample up to the number of requests asked for
    bodies = [bodies[i % len(bodies)] for i in range(smoke.requests)]
    timeout = smoke.latency_ms / 1000.0 * _TIMEOUT_FACTOR
    timeout = min(_TIMEOUT_MAX_S, max(_TIMEOUT_MIN_S, timeout))
    try:
        answers = scoring.score(r.endpoint, r.canary, bodies, timeout, budget_s=SMOKE_BUDGET_S)
    except AutocanaryError as exc:
        return SmokeResult(unavailable=f"scoring {r.canary} failed: {exc.message}")
    responses = tuple(SmokeResponse(a.status, a.latency_ms, a.error) for a in answers)
    log.info(
        "smoke test of %s/%s: %d requests, %d answered 200",
        r.endpoint,
        r.canary,
        len(responses),
        sum(1 for x in responses if x.status == 200),
    )
    return SmokeResult(responses)


# the shadow comparison's requests are given this long each, and none is sent after the
# budget (per deployment): a hung deployment holds a reconcile for about budget + timeout, not
# 500 timeouts
COMPARE_TIMEOUT_S = 30.0
COMPARE_BUDGET_S = 45.0
# Requests in flight at once on one deployment: half its instances, at most this many. A
# managed deployment serves max_concurrent_requests_per_instance requests per instance, 1 by
# default (learn.microsoft.com/python/api/azure-ai-ml/azure.ai.ml.entities.
# onlinerequestsettings: "max_concurrent_requests_per_instance: defaults to 1"), and answers
# 429 "Too many pending requests" beyond 2 x that x instance_count in parallel
# (learn.microsoft.com/azure/machine-learning/how-to-troubleshoot-online-endpoints, "HTTP
# status codes"): at the default the comparison holds half the instances' slots at most, and
# users keep the rest.
COMPARE_MAX_CONCURRENCY = 8


def compare_concurrency(ep: EndpointInfo | None, deployment: str) -> int:
    """How many comparison requests may be in flight on ``deployment`` (see above)."""
    dep = ep.deployments.get(deployment) if ep is not None else None
    instances = (dep.instance_count if dep is not None else None) or 1
    return max(1, min(COMPARE_MAX_CONCURRENCY, instances // 2))


def compare_due(r: Rollout) -> bool:
    """Whether this tick compares the shadow's answers: mirrored traffic is live, the policy
    asks for a comparison, and none agreed yet."""
    return (
        r.phase is Phase.SHADOWING
        and r.policy.compare is not None
        and "compare" not in r.checks
        and r.stage_since is not None
        and not r.paused
    )


def run_compare(
    r: Rollout,
    scoring: Scoring | None,
    samples: InputSamples | None,
    ep: EndpointInfo | None = None,
) -> Agreement:
    """Score a sample of recent real inputs on the live deployment and on the canary (header
    routing, both; as many at once as :func:`compare_concurrency` allows on each, from the
    endpoint ``ep`` as just read), and summarise how far their answers agree. Bodies and
    answers stay here."""
    pol = r.policy.compare
    assert pol is not None
    if scoring is None or samples is None:
        return Agreement(0, 0, no_data="the app has no scoring client configured")
    try:
        bodies = samples.inputs(r.endpoint, r.baseline, pol.sample, pol.samples)
        live, new = (
            scoring.score(
                r.endpoint,
                name,
                bodies,
                COMPARE_TIMEOUT_S,
                concurrency=compare_concurrency(ep, name),
                budget_s=COMPARE_BUDGET_S,
            )
            for name in (r.baseline, r.canary)
        )
    except AutocanaryError as exc:
        return Agreement(0, 0, no_data=f"comparison could not run: {exc.message}")
    pairs = [(_outputs(a), _outputs(b)) for a, b in zip(live, new, strict=False)]
    result = agreement(
        pairs, flip_rate=pol.flip_rate, psi_bound=pol.psi, mean_abs_diff=pol.mean_abs_diff
    )
    log.info(
        "shadow comparison of %s/%s with %s: %d inputs, %d paired, agrees=%s",
        r.endpoint,
        r.canary,
        r.baseline,
        result.samples,
        result.paired,
        result.agrees,
    )
    return result


def _outputs(answer: ScoreAnswer) -> Outputs | None:
    return parse_outputs(answer.body) if answer.status == 200 else None
