"""Rolling back and cleaning up: restore the baseline split, delete, end. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.effects import DeleteAutoscale, DeleteDeployment, Effect, SetTraffic
from shared.machine.records import CREATE_GRACE_S, Transition, _event, _goto, _status
from shared.machine.restore import restore, restore_evidence
from shared.machine.traffic import _kept_mirror, _restore_split, _split_evidence
from shared.model import Phase, Rollout
from shared.observation import EndpointInfo
from shared.reasons import (
    AUTOSCALE_COPY_REMOVING,
    CANARY_DELETING,
    CANARY_NOT_SEEN,
    ENDED,
    EV_ABORTED,
    EV_FAILED,
    EV_ROLLED_BACK,
    EV_ROLLING_BACK,
    EV_SUPERSEDED,
    ROLLBACK_IMPOSSIBLE,
    ROLLING_BACK,
)

_BEFORE_LIVE = (Phase.PENDING, Phase.PROVISIONING)  # the canary serves nothing yet


def _rolling_back(r: Rollout, ep: EndpointInfo, now: datetime) -> Transition:
    """Restore the baseline split, then delete the canary (if asked), then end."""
    outcome = r.outcome or Phase.ROLLED_BACK
    canary_live = r.canary in ep.live_traffic() or r.canary in ep.live_mirror()
    if canary_live:
        target = _restore_split(r, ep)
        if target is None:
            return _goto(
                r.evolve(traffic=ep.live_traffic(), mirror=ep.live_mirror(), confirmed=True),
                now,
                Phase.FAILED,
                ROLLBACK_IMPOSSIBLE,
                f"no deployment to restore on {r.endpoint}: {r.canary} keeps serving",
                evidence=_split_evidence(r, ep),
                effects=(_event(r, EV_FAILED, reason=ROLLBACK_IMPOSSIBLE),),
            )
        return _status(
            r.evolve(traffic=target, mirror=_kept_mirror(r, ep), confirmed=False, landed_at=None),
            None,
            now,
            effects=(SetTraffic(target, _kept_mirror(r, ep)),),
            reason=ROLLING_BACK,
            message=f"restoring traffic to {', '.join(sorted(target))}",
            evidence=_split_evidence(r, ep),
        )
    # the split is restored: the old deployments get back the instances their shares need
    # before the canary is deleted (a tick later; a failed scale never holds the rollback)
    restoring = restore(r, ep, now)
    if restoring is not None:
        return restoring
    dep = ep.deployments.get(r.canary) if r.canary else None
    copied = bool(r.capacity.get("autoscale"))
    if dep is not None and _delete_canary(r):
        return _deleting(r, dep.provisioning_state, now, CANARY_DELETING, autoscale=copied)
    waited = (now - r.phase_since).total_seconds()
    deleted = r.reason == CANARY_DELETING  # it was seen and its deletion asked: it is gone
    if dep is None and r.canary and _delete_canary(r) and not deleted and waited < CREATE_GRACE_S:
        # Azure answers 404 for a new deployment for a while after its create was accepted
        # (azure-dev issue 4037): a canary not seen yet may still appear. Ending now would
        # leave it behind, serving nothing and never deleted.
        return _status(
            r,
            None,
            now,
            reason=CANARY_NOT_SEEN,
            message=f"{r.canary} not seen: waiting up to {CREATE_GRACE_S:g}s for a create "
            "still in flight, so it can be deleted",
            evidence={"waited_s": waited, "grace_s": CREATE_GRACE_S},
        )
    if copied:
        # The canary's copy of the autoscale setting goes before the rollout ends, and the
        # rollout waits for that delete to go through (effects_succeeded takes the copy off
        # the rollout): a kill or a failed call after a terminal write would leave it for
        # good, targeting a deployment that no longer exists (or a later canary of that name).
        return _status(
            r,
            None,
            now,
            # the canary stays: only autocanary's copy goes, never a setting of the owners'
            effects=(DeleteAutoscale(r.canary, copies_only=True),),
            reason=AUTOSCALE_COPY_REMOVING,
            message=f"deleting the autoscale copy of {r.canary} before the rollout ends",
        )
    ev = {
        Phase.FAILED: EV_FAILED,
        Phase.ABORTED: EV_ABORTED,
        Phase.SUPERSEDED: EV_SUPERSEDED,
    }.get(outcome, EV_ROLLED_BACK)
    return _goto(
        r.evolve(confirmed=True),
        now,
        outcome,
        ENDED,
        f"rollout of {r.model.asset_id} ended: {outcome.value}",
        evidence={"traffic": ep.live_traffic(), **restore_evidence(r, ep)},
        effects=(_event(r, ev, outcome=outcome.value),),
    )


def _begin_rollback(
    r: Rollout,
    now: datetime,
    reason: str,
    message: str,
    evidence: Mapping[str, Any],
    *,
    actor: str = "engine",
    outcome: Phase = Phase.ROLLED_BACK,
    ep: EndpointInfo | None = None,
) -> Transition:
    r = r.evolve(outcome=outcome, paused=False, pause_reason="", cleanup=False)
    effects: list[Effect] = []
    # Before live stages the canary has no traffic, unless someone routed some to it by hand:
    # then it is taken out too (protection goes by what the endpoint serves, not by phase).
    canary_serving = ep is not None and bool(
        r.canary and (r.canary in ep.live_traffic() or r.canary in ep.live_mirror())
    )
    # Without the endpoint (a supersede decided on the stored state alone) the split is not
    # touched here: the next reconcile, at once, reads the endpoint and restores what it can.
    if ep is not None and r.canary and (r.phase not in _BEFORE_LIVE or canary_serving):
        target = _restore_split(r, ep)
        if target:  # None was refused by the caller (_baseline_going)
            kept = _kept_mirror(r, ep)
            r = r.evolve(prev_traffic=r.traffic, prev_mirror=r.mirror)
            r = r.evolve(traffic=target, mirror=kept, confirmed=False, landed_at=None)
            effects.append(SetTraffic(target, kept))
    effects.append(_event(r, EV_ROLLING_BACK, reason=reason, outcome=outcome.value))
    return _goto(r, now, Phase.ROLLING_BACK, reason, message, evidence, tuple(effects), actor)


def _deleting(
    r: Rollout,
    state: str,
    now: datetime,
    reason: str,
    confirm: str | None = None,
    name: str | None = None,
    autoscale: bool = False,
) -> Transition:
    """Ask for a deployment's deletion (again, while it is not yet Deleting) and wait; with
    ``autoscale``, the autoscale setting that targets it is removed first (an Azure Monitor
    setting is a resource of its own: deleting the deployment leaves it behind)."""
    name = name or r.canary
    effects: tuple[Effect, ...] = ()
    if state != "Deleting":
        effects = (*((DeleteAutoscale(name),) if autoscale else ()), DeleteDeployment(name))
    return _status(
        r.evolve(cleanup=True),
        confirm,
        now,
        effects=effects,
        reason=reason,
        message=f"deleting {name}",
    )


def _delete_canary(r: Rollout) -> bool:
    """Whether a rollout that did not succeed removes its canary deployment."""
    if r.outcome in (Phase.ABORTED, Phase.SUPERSEDED):
        return True
    return r.policy.delete_failed_deployment
