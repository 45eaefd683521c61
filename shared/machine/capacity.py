"""Canary capacity: how many instances the canary runs at each stage, and what it cost. Pure.

Policy ``capacity: follow_traffic`` (the default) sizes the canary to its share of the traffic:
``ceil(live x weight x headroom)`` instances (at least 1, at most the live count) for a shadow
or a stage of ``weight`` %, where ``live`` is the largest instance count the baseline has had
since the rollout began, until promotion (its autoscale setting, or a person, may scale it
out while the rollout runs; see :func:`_follow_live` for why never down);
``capacity: full`` gives it the live count from the start. Before its weight rises the canary
is scaled, and seen ``Succeeded`` at that count; before promotion (100 %) it runs the
baseline's count exactly, whatever it was created with (an ``instance_count`` override
included: a canary promoted on one instance would serve all traffic on one instance). When
the baseline scales out during a stage, the canary is scaled to its share of the new count
at once (:func:`follow`), without waiting for the next stage: it serves that share now.

``Rollout.capacity`` holds:
  live:       the baseline's instance count, followed up until promotion (absent: not
              known, and the canary is not sized: its count is whatever the clone has)
  live_start: the baseline's count when the rollout began, once ``live`` has moved from it
  following:  the count last asked for mid-stage (:func:`follow`: asked once per count, and
              once more if the canary still reads as before ``FOLLOW_SHOWN_S`` after the ask,
              ``following_at``; ``following_again`` once it was)
  count:      the canary's instance count as last seen (0 while it does not exist)
  state:      its provisioning state as last seen
  since:      when ``count`` was last seen to change
  instance_s: the canary's instance-seconds up to ``since``
  pending:    a stage waiting for the canary's count: {stage, target, reason, actor, since,
              evidence (what the step was decided on)}; a resume drops the judge's (its
              clearing belonged to the window the resume starts again), never an operator's
  autoscale:  the live deployment's autoscale setting was asked to be copied to the canary
              (at promotion; the copy may exist from then on)
  autoscale_copied: that copy went through (set by ``effects_succeeded``); until then the
              watch window sends it again every tick and the old deployment, whose setting
              is deleted with it, is kept (:func:`copy_pending`)
  peaks:      the most instances each old deployment ran until promotion, and
  restore:    the scales back to them a rollback asked for (:mod:`shared.machine.restore`)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.effects import ScaleDeployment
from shared.machine.cost import instance_seconds
from shared.machine.records import Transition, _pause, _record, _status
from shared.machine.restore import follow_peaks
from shared.model import PROVISION_FAILED, PROVISIONED, Phase, Rollout, iso, parse_time
from shared.observation import EndpointInfo
from shared.policy import RolloutPolicy
from shared.reasons import CANARY_SCALE_FAILED, CANARY_SCALING


def canary_target(policy: RolloutPolicy, live: int, weight: int) -> int:
    """Instances the canary needs for ``weight`` % of the traffic (or of mirrored copies)."""
    if weight >= 100 or policy.capacity == "full":
        return live
    return max(1, min(live, math.ceil(live * weight / 100 * policy.headroom - 1e-9)))


def first_weight(policy: RolloutPolicy) -> int:
    """The share the canary takes first: the shadow's mirror, else the first stage."""
    return policy.shadow_percent if policy.has_shadow else policy.stages[0].weight


def start_capacity(r: Rollout, ep: EndpointInfo, now: datetime) -> dict[str, Any]:
    """The capacity record of a rollout that begins now, cloning ``r.baseline``."""
    dep = ep.deployments.get(r.baseline)
    live = dep.instance_count if dep is not None else None
    out: dict[str, Any] = {"count": 0, "state": None, "since": iso(now), "instance_s": 0.0}
    if live is not None and live >= 1:
        out["live"] = int(live)
    return out


def create_count(r: Rollout) -> int | None:
    """The instance count to create the canary with: the policy's override, else its first
    share of the live count (None: the clone keeps the live deployment's count)."""
    if r.policy.instance_count is not None:
        return r.policy.instance_count
    live = r.capacity.get("live")
    if not live:
        return None
    return canary_target(r.policy, int(live), first_weight(r.policy))


# Phases in which the baseline serves its share of the live traffic and the canary is sized
# from it: after promotion the canary serves everything and has the autoscale setting.
_SIZED_FROM_BASELINE = (Phase.PROVISIONING, Phase.SHADOWING, Phase.CANARY)


def observe(r: Rollout, ep: EndpointInfo, now: datetime) -> Rollout:
    """Fold what is seen into the capacity record: the canary's count and state (the
    instance-seconds so far are counted at each change of count) and, until promotion, the
    baseline's count (``live``: the canary's share is of the load the baseline is sized for
    now)."""
    cap = r.capacity
    if not cap or not r.canary:
        return r
    r = follow_peaks(_follow_live(r, ep), ep, _SIZED_FROM_BASELINE)
    cap = r.capacity
    dep = ep.deployments.get(r.canary)
    count = int(dep.instance_count or 0) if dep is not None else 0
    state = dep.provisioning_state if dep is not None else None
    if cap.get("count") == count and cap.get("state") == state:
        return r
    folded = instance_seconds(cap, now)
    return r.evolve(
        capacity={**cap, "count": count, "state": state, "since": iso(now), "instance_s": folded}
    )


def _follow_live(r: Rollout, ep: EndpointInfo) -> Rollout:
    cap = r.capacity
    live = cap.get("live")
    base = ep.deployments.get(r.baseline) if r.baseline else None
    if not live or base is None or r.phase not in _SIZED_FROM_BASELINE:
        return r
    count = int(base.instance_count or 0)
    # Up, never down: a baseline scaled in while the rollout runs has most often been scaled
    # for its own, smaller share (its autoscale setting follows the load it serves, and the
    # canary now serves part of it), not for a smaller production load; a canary sized from
    # that count would be promoted short of what the whole load needs. The count asked for
    # reads back at once (the deployment Updating or Scaling until it runs): the canary is
    # sized for the load that count was asked for.
    if count <= int(live):
        return r
    return r.evolve(capacity={**cap, "live": count, "live_start": cap.get("live_start", live)})


@dataclass(frozen=True)
class _Sizing:
    """What stage ``index`` (-1: the shadow) asks of the canary, and what it has."""

    weight: int
    live: int
    need: int
    seen: int
    state: str | None

    def evidence(self, r: Rollout) -> dict[str, Any]:
        return {
            "instances": self.seen,
            "target": self.need,
            "live_instances": self.live,
            "live_instances_at_start": int(r.capacity.get("live_start", self.live)),
            "weight": self.weight,
            "provisioning_state": self.state,
            "capacity": r.policy.capacity,
            "headroom": r.policy.headroom,
        }


def _sizing(r: Rollout, index: int) -> _Sizing | None:
    """None when the canary is not sized (the live count is not known, or no canary)."""
    cap = r.capacity
    live = cap.get("live")
    if not live or not r.canary:
        return None
    weight = r.policy.stages[index].weight if index >= 0 else r.policy.shadow_percent
    need = canary_target(r.policy, int(live), weight)
    return _Sizing(weight, int(live), need, int(cap.get("count") or 0), cap.get("state"))


def follow(r: Rollout, now: datetime, index: int) -> Transition | None:
    """The canary short of its share of the live count during stage ``index`` (-1: the
    shadow), because the baseline scaled out since the stage began: ask for the instances at
    once (the split stays: the canary serves that share now). Asked once per count, only while
    the canary is ``Succeeded`` (a scale under way is waited for; a failed one is retried by
    the next stage's :func:`gate`, which pauses if it fails again). None when nothing is
    asked."""
    cap = r.capacity
    size = _sizing(r, index)
    if size is None or "pending" in cap:
        return None
    if size.state != PROVISIONED or size.seen >= size.need:
        return None
    again = ""
    if cap.get("following") == size.need:
        # Asked already. Still Succeeded at the old count FOLLOW_SHOWN_S after the ask: the
        # scale never went out (a kill right after the decision was written), so it is
        # asked once more; a scale Azure ran and failed is left to the next stage's gate.
        asked = parse_time(cap.get("following_at"))
        if cap.get("following_again") or asked is None:
            return None
        if (now - asked).total_seconds() < FOLLOW_SHOWN_S:
            return None
        again = " (asked again: the first ask did not show)"
    what = "the shadow" if index < 0 else f"stage {index}"
    marks = {"following_again": True} if again else {"following_at": iso(now)}
    kept = {k: v for k, v in cap.items() if k not in ("following_at", "following_again")}
    return _record(
        r.evolve(capacity={**(cap if again else kept), "following": size.need, **marks}),
        now,
        CANARY_SCALING,
        f"scaling {r.canary} from {size.seen} to {size.need} instances during {what}: "
        f"{r.baseline} now runs {size.live}{again}",
        size.evidence(r),
        (ScaleDeployment(r.canary, size.need),),
    )


# How long a mid-stage scale may take to show on the canary (Updating, or the new count)
FOLLOW_SHOWN_S = 120.0


def _scale_refused(r: Rollout) -> bool:
    """Whether Azure refused the canary's scale for good (a 400: not enough quota for the new
    count, an invalid count): asking again every tick until the provisioning timeout cannot
    help, so the wait ends at once for an operator (recorded by ``effect_failed``)."""
    effect = r.failure.get("effect") or {}
    return (
        bool(r.failure.get("permanent"))
        and effect.get("kind") == "scale_deployment"
        and effect.get("name") == r.canary
    )


def without_pending(r: Rollout) -> Rollout:
    if "pending" not in r.capacity:
        return r
    return r.evolve(capacity={k: v for k, v in r.capacity.items() if k != "pending"})


def gate(
    r: Rollout,
    now: datetime,
    index: int,
    reason: str,
    actor: str,
    confirm: str | None = None,
    evidence: Mapping[str, Any] | None = None,
) -> tuple[Rollout, Transition | None]:
    """Whether the canary has the instances stage ``index`` (-1: the shadow) needs.

    Ready (seen Succeeded at the target: at least it for a partial share, exactly the live
    count for 100 %): the rollout (no stage waits any more) and None. Otherwise the stage
    waits, recorded as ``CanaryScaling``; the scale is asked for (again) while the canary is
    Succeeded at another count (and once when the wait begins on a Failed canary, as after a
    resume), and a scale that ends Failed or does not finish within the provisioning timeout
    pauses the rollout for an operator (``CanaryScaleFailed``)."""
    cap = r.capacity
    size = _sizing(r, index)
    if size is None:
        return without_pending(r), None
    need, seen, state = size.need, size.seen, size.state
    exact = size.weight >= 100
    if state == PROVISIONED and (seen == need if exact else seen >= need):
        return without_pending(r), None
    pending = dict(cap.get("pending") or {})
    fresh = pending.get("stage") != index or pending.get("target") != need
    if fresh:
        pending = {"stage": index, "target": need, "since": iso(now)}
    pending.update(reason=reason, actor=actor)
    operator = actor != "engine"
    if evidence is not None and (operator or "evidence" not in pending):
        # the step keeps the evidence it was decided on for when it is taken: an operator's
        # (the reason given), the judge's clearing (the verdict of the tick it cleared: the
        # first crossing is what the anytime-valid test licenses, and a later tick's evidence
        # may read hold while the instances come)
        pending["evidence"] = dict(evidence)
    since = parse_time(pending.get("since")) or now
    waited = (now - since).total_seconds()
    what = "promotion" if exact else ("the shadow" if index < 0 else f"stage {index}")
    asked = {"asked_by": actor, "for": reason, **dict(pending.get("evidence") or {})}
    evidence = {**size.evidence(r), "elapsed_s": round(waited, 3), **(asked if operator else {})}
    failed = state in PROVISION_FAILED and not fresh  # a Failed canary is asked once more
    refused = _scale_refused(r)
    if failed or refused or waited >= r.policy.provisioning_timeout:
        why = f"is {state}" if state in PROVISION_FAILED else f"not ready after {waited:.0f}s"
        held = without_pending(r)
        if refused:
            why = f"Azure refused it ({r.failure.get('code')}: {r.failure.get('message')})"
            evidence = {**evidence, "error": dict(r.failure)}
            held = held.evolve(failure={})  # a resume asks for the scale again
        return r, _pause(
            held,
            now,
            CANARY_SCALE_FAILED,
            f"scaling {r.canary} to {need} instances before {what}: {why}; holding for an operator",
            evidence=evidence,
        )
    waiting = r.evolve(capacity={**cap, "pending": pending})
    ask = state == PROVISIONED or (fresh and state in PROVISION_FAILED)
    effects = (ScaleDeployment(r.canary, need),) if ask else ()
    return r, _status(
        waiting,
        confirm,
        now,
        effects=effects,
        reason=CANARY_SCALING,
        message=f"scaling {r.canary} from {seen} to {need} instances before {what}",
        evidence=evidence,
        actor=actor,
    )


def copy_pending(r: Rollout) -> bool:
    """Whether the promoted canary's copy of the autoscale setting is asked for and not known
    to have gone through: it is sent with the promotion and again when the watch window
    starts, and a kill after either write (or a failed call) loses it; the old deployment's
    own setting goes with the old deployment, so without the copy the endpoint would be left
    with no autoscale setting at all."""
    return bool(r.capacity.get("autoscale")) and not r.capacity.get("autoscale_copied")
