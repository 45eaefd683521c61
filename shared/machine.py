"""The rollout state machine: ``decide(rollout, observation, now)`` and ``admit(...)``. Pure.

``decide`` looks at one rollout and what the engine observed (the live endpoint, the judge's
verdict on the current stage, deployment logs, and an optional command from an operator, an
alert or a newer version) and returns the next rollout, the effects to apply, and the decision
record (reason constant + evidence) when anything worth recording happened. It makes at most
one transition per call. Effects are idempotent (set traffic to X, create-or-update deployment
N, delete deployment N), so re-issuing them on the next tick heals a crash between the write
and the effects.

Traffic bookkeeping: ``rollout.traffic``/``mirror`` is what the engine last asked for,
``prev_traffic``/``prev_mirror`` what was live before, and ``confirmed`` whether the asked-for
split was seen live. A split that is neither (while unconfirmed) or differs (once confirmed)
was changed by hand: the rollout pauses and nothing is overwritten. Pause stops progress,
never protection: rollback commands (alerts, operators) still act on a paused rollout, and
while a canary has live or mirrored traffic it is judged for rollback every tick, paused, held
or past its deadline (a promote verdict while paused changes nothing).

Judging (see :mod:`shared.judging`): no data is never a pass. A shadow or stage without data
holds until its max duration, then does what ``on_deadline`` says; a shadow moves on without
data only under the explicit ``shadow.on_no_data: continue``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from shared import judging
from shared.errors import PhaseConflict
from shared.judging import Assessment, assess
from shared.model import (
    PROVISION_FAILED,
    PROVISIONED,
    Command,
    CreateDeployment,
    DecisionRecord,
    DeleteDeployment,
    Effect,
    EndpointInfo,
    ModelRef,
    Observation,
    Phase,
    PublishEvent,
    Rollout,
    SetTraffic,
    Waiting,
    deployment_name,
    effect_to_dict,
    iso,
)
from shared.policy import RolloutPolicy

# ----------------------------------------------------------------------- reason constants
STARTED = "RolloutStarted"
NO_LIVE_DEPLOYMENT = "NoLiveDeployment"
ENDPOINT_MISSING = "EndpointMissing"
DEPLOYMENT_REQUESTED = "DeploymentRequested"
PROVISIONING = "DeploymentProvisioning"
PROVISIONING_FAILED = "ProvisioningFailed"
PROVISIONING_TIMEOUT = "ProvisioningTimedOut"
PROVISIONING_REFUSED = "ProvisioningRefused"  # Azure refused the create for good (quota, SKU)
EFFECT_FAILED = "EffectFailed"  # an effect or a reconcile failed; repeats only count
SHADOW_STARTED = "ShadowStarted"
SHADOW_COMPLETE = "ShadowComplete"
STAGE_STARTED = "StageStarted"
TRAFFIC_PENDING = "TrafficPending"
TRAFFIC_CONFIRMED = "TrafficConfirmed"
JUDGE_HOLD = judging.JUDGE_HOLD
JUDGE_PROMOTE = judging.JUDGE_PROMOTE
JUDGE_ROLLBACK = judging.JUDGE_ROLLBACK
NO_VERDICT = judging.NO_VERDICT
WARMING_UP = judging.WARMING_UP
NO_DATA = judging.NO_DATA
METRICS_UNAVAILABLE = judging.METRICS_UNAVAILABLE
SETTLING = judging.SETTLING
SHADOW_NO_DATA_CONTINUED = "ShadowNoDataContinued"  # shadow.on_no_data: continue
GUARDRAIL_ERROR_RATE = judging.GUARDRAIL_ERROR_RATE
GUARDRAIL_LATENCY = judging.GUARDRAIL_LATENCY
STAGE_DEADLINE = "StageDeadline"
SHADOW_DEADLINE = "ShadowDeadline"
PROMOTING = "Promoting"
PROMOTED = "Promoted"
WATCHING = "Watching"
OLD_DEPLOYMENT_DELETING = "OldDeploymentDeleting"
SUCCEEDED = "Succeeded"
ROLLING_BACK = "RollingBack"
TRAFFIC_RESTORED = "TrafficRestored"
CANARY_DELETING = "CanaryDeleting"
ENDED = "RolloutEnded"
MANUAL_CHANGE = "ManualChangeDetected"
DEPLOYMENT_MISSING = "DeploymentMissing"
PAUSED_BY_OPERATOR = "PausedByOperator"
RESUMED = "Resumed"
PROMOTED_BY_OPERATOR = "PromotedByOperator"
ROLLBACK_BY_OPERATOR = "RollbackByOperator"
ABORTED_BY_OPERATOR = "AbortedByOperator"
ALERT_FIRED = "AlertFired"
ALERT_ON_OTHER_DEPLOYMENT = "AlertOnOtherDeployment"  # an alert names deployments, not the canary
SUPERSEDED_BY_NEWER = "SupersededByNewerVersion"
# A rollback was asked for (alert, operator) but the deployments it would restore are gone or
# being deleted: rolling back would leave the endpoint with nothing to serve.
ROLLBACK_IMPOSSIBLE = "RollbackImpossible"
# admission
ADMITTED = "Admitted"
QUEUED = "WaitingForActiveRollout"
REPLACED_WAITING = "ReplacedWaitingVersion"
SAME_VERSION = "VersionAlreadyActive"
VERSION_ALREADY_LIVE = "VersionAlreadyLive"  # the endpoint already serves this version
OLDER_THAN_LIVE = "OlderThanLiveVersion"  # a downgrade needs an explicit operator start
NOT_NEWER = "NotNewerThanCurrent"
SUPERSEDING = "SupersedingActiveRollout"
STARTED_FROM_WAITING = "StartedWaitingVersion"

# The lifecycle events published (CloudEvent type suffixes).
EV_STARTED = "RolloutStarted"
EV_STAGE = "StageAdvanced"
EV_PROMOTED = "RolloutPromoted"
EV_SUCCEEDED = "RolloutSucceeded"
EV_ROLLING_BACK = "RolloutRollingBack"  # a rollback began: traffic is being restored
EV_ROLLED_BACK = "RolloutRolledBack"  # ... and ended; abort and supersede end as below
EV_ABORTED = "RolloutAborted"
EV_SUPERSEDED = "RolloutSuperseded"
EV_FAILED = "RolloutFailed"
EV_PAUSED = "RolloutPaused"

_LOG_LIMIT = 16_000  # characters of deployment logs kept as evidence
# Azure answers 404 for a new deployment for a while after accepting its create (azure-dev
# issue 4037; the emulator reproduces it), and 409 to a second create while the first runs:
# within this grace a missing canary is not a lost create, so it is not asked for again.
CREATE_GRACE_S = 60.0


@dataclass(frozen=True)
class Transition:
    """The outcome of one decision: next state, effects to apply, and what to record."""

    rollout: Rollout
    effects: tuple[Effect, ...] = ()
    record: DecisionRecord | None = None

    @property
    def changed(self) -> bool:
        return self.record is not None


# ------------------------------------------------------------------------------- decide


def decide(rollout: Rollout, observation: Observation, now: datetime) -> Transition:
    """Decide the next step of ``rollout`` from what was observed at ``now``.

    Raises PhaseConflict for a command the phase forbids (nothing changes then).
    """
    if observation.command is not None:
        return _command(rollout, observation.command, observation, now)
    if rollout.phase.terminal:
        return Transition(rollout)
    ep = observation.endpoint
    if ep is None:
        return _pause(rollout, now, ENDPOINT_MISSING, f"endpoint {rollout.endpoint} not found")
    if rollout.phase is Phase.PENDING:
        return _pending(rollout, ep, now)
    if rollout.phase is Phase.ROLLING_BACK:
        return _rolling_back(rollout, ep, now)

    rollout, confirm = _confirm_traffic(rollout, ep, now)
    if observation.judging is not None:
        rollout = rollout.evolve(readings=dict(observation.judging.readings))
    drift = _manual_change(rollout, ep)
    if drift is not None:
        return _pause(rollout, now, drift[0], drift[1], evidence=drift[2])
    if rollout.paused:
        return _protect(rollout, observation, now, confirm)
    if not rollout.confirmed:
        return _status(
            rollout,
            confirm,
            now,
            effects=(SetTraffic(rollout.traffic, rollout.mirror),),
            reason=TRAFFIC_PENDING,
            message="waiting for the requested split to be live",
            evidence=_split_evidence(rollout, ep),
        )
    if rollout.phase is Phase.PROVISIONING:
        return _provisioning(rollout, ep, observation, now)
    if rollout.phase is Phase.SHADOWING:
        return _shadowing(rollout, assess(rollout, observation, now), now, confirm)
    if rollout.phase is Phase.CANARY:
        return _canary(rollout, assess(rollout, observation, now), now, confirm)
    if rollout.phase is Phase.PROMOTING:
        return _goto(
            rollout,
            now,
            Phase.WATCHING,
            PROMOTED,
            f"{rollout.canary} serves 100 %; watching for {rollout.policy.watch_window:g}s",
            effects=(_event(rollout, EV_PROMOTED),),
        )
    if rollout.phase is Phase.WATCHING:
        return _watching(rollout, ep, now, confirm)
    return Transition(rollout)  # pragma: no cover - every active phase is handled above


def _pending(r: Rollout, ep: EndpointInfo, now: datetime) -> Transition:
    baseline = ep.live_deployment()
    if baseline is None:
        return _goto(
            r,
            now,
            Phase.FAILED,
            NO_LIVE_DEPLOYMENT,
            f"endpoint {r.endpoint} has no deployment with live traffic to clone",
            evidence={"traffic": dict(ep.traffic)},
            effects=(_event(r, EV_FAILED),),
        )
    live = ep.live_traffic()
    canary = deployment_name(r.model.name, r.model.version, frozenset(ep.deployments))
    r = r.evolve(
        baseline=baseline,
        canary=canary,
        baseline_traffic=live,
        baseline_mirror=ep.live_mirror(),
        traffic=live,
        mirror=ep.live_mirror(),
        prev_traffic=live,
        prev_mirror=ep.live_mirror(),
        confirmed=True,
    )
    create = CreateDeployment(
        name=canary, source=baseline, model=r.model, instance_count=r.policy.instance_count
    )
    return _goto(
        r,
        now,
        Phase.PROVISIONING,
        DEPLOYMENT_REQUESTED,
        f"creating {canary} from {baseline} with {r.model.asset_id}",
        evidence={"baseline": baseline, "traffic": live},
        effects=(create, _event(r, EV_STARTED)),
    )


def _provisioning(r: Rollout, ep: EndpointInfo, obs: Observation, now: datetime) -> Transition:
    dep = ep.deployments.get(r.canary)
    waited = (now - r.phase_since).total_seconds()
    if dep is not None and dep.provisioning_state == PROVISIONED:
        if r.policy.has_shadow:
            mirror = {r.canary: r.policy.shadow_percent}
            return _ask_traffic(
                r,
                now,
                Phase.SHADOWING,
                -1,
                dict(r.traffic),
                mirror,
                SHADOW_STARTED,
                f"mirroring {r.policy.shadow_percent} % to {r.canary}"
                + (
                    f" (the mirror to {', '.join(sorted(lent))} comes back after the shadow)"
                    if (lent := _kept_mirror(r))
                    else ""
                ),
                {"lent_mirror": lent} if lent else None,
            )
        return _start_stage(r, now, 0, STAGE_STARTED)
    if dep is not None and dep.provisioning_state in PROVISION_FAILED:
        logs = (obs.logs or "")[-_LOG_LIMIT:]
        return _end_failed(
            r,
            now,
            PROVISIONING_FAILED,
            f"deployment {r.canary} provisioning {dep.provisioning_state}",
            {"provisioning_state": dep.provisioning_state, "logs": logs},
        )
    if waited >= r.policy.provisioning_timeout:
        return _end_failed(
            r,
            now,
            PROVISIONING_TIMEOUT,
            f"deployment {r.canary} not ready after {waited:.0f}s",
            {
                "provisioning_state": dep.provisioning_state if dep else None,
                "waited_s": waited,
                **({"last_error": dict(r.failure)} if r.failure else {}),
            },
        )
    state = dep.provisioning_state if dep else "NotFound"
    effects: tuple[Effect, ...] = ()
    if dep is None and waited >= CREATE_GRACE_S:
        # the create call was lost (crash, transient error): ask again
        effects = (CreateDeployment(r.canary, r.baseline, r.model, r.policy.instance_count),)
    return _status(
        r,
        None,
        now,
        effects=effects,
        reason=PROVISIONING,
        message=f"deployment {r.canary} is {state}",
        evidence={"provisioning_state": state},
    )


def _end_failed(
    r: Rollout, now: datetime, reason: str, message: str, evidence: dict[str, Any]
) -> Transition:
    """Provisioning failed: live traffic was never touched; remove the deployment if asked."""
    if r.policy.delete_failed_deployment:
        return _goto(
            r.evolve(outcome=Phase.FAILED),
            now,
            Phase.ROLLING_BACK,
            reason,
            message,
            evidence=evidence,
            effects=(DeleteDeployment(r.canary),),
        )
    return _goto(r, now, Phase.FAILED, reason, message, evidence, effects=(_event(r, EV_FAILED),))


# ------------------------------------------------------------------------------ judging
# What a tick's judging means (assess, judge_settings, ...) is in shared.judging.


def _protect(
    r: Rollout, obs: Observation, now: datetime, confirm: DecisionRecord | None
) -> Transition:
    """A paused rollout: progress stops, protection does not. A canary with traffic is still
    judged; a rollback (judge or guardrail) rolls it back, anything else changes nothing."""
    if r.phase in (Phase.SHADOWING, Phase.CANARY) and r.stage_since is not None:
        a = assess(r, obs, now)
        if a.outcome == "rollback":
            evidence = {**a.evidence, "paused": r.pause_reason}
            return _begin_rollback(r, now, a.reason, a.message, evidence, ep=obs.endpoint)
    return _status(r, confirm, now)


def _shadowing(
    r: Rollout, a: Assessment, now: datetime, confirm: DecisionRecord | None
) -> Transition:
    since = r.stage_since or r.phase_since
    elapsed = (now - since).total_seconds()
    pol = r.policy
    if a.outcome == "rollback":
        return _begin_rollback(r, now, a.reason, a.message, a.evidence)
    if a.outcome == "promote" and elapsed >= pol.shadow_duration:
        return _start_stage(r, now, 0, SHADOW_COMPLETE, evidence=a.evidence)
    no_data_ok = a.outcome == "no_data" and pol.shadow_on_no_data == "continue"
    if no_data_ok and elapsed >= pol.shadow_duration:
        evidence = {**a.evidence, "on_no_data": "continue", "elapsed_s": elapsed}
        return _start_stage(r, now, 0, SHADOW_NO_DATA_CONTINUED, evidence=evidence)
    if elapsed >= pol.shadow_max_duration:
        return _deadline(r, now, a, elapsed, pol.shadow_max_duration, SHADOW_DEADLINE, "shadow")
    return _hold(r, a, now, confirm, elapsed, pol.shadow_duration)


def _canary(r: Rollout, a: Assessment, now: datetime, confirm: DecisionRecord | None) -> Transition:
    stage = r.policy.stages[r.stage]
    since = r.stage_since or r.phase_since
    elapsed = (now - since).total_seconds()
    if a.outcome == "rollback":
        return _begin_rollback(r, now, a.reason, a.message, a.evidence)
    if a.outcome == "promote" and elapsed >= stage.min_duration:
        return _start_stage(r, now, r.stage + 1, JUDGE_PROMOTE, evidence=a.evidence)
    if elapsed >= stage.max_duration:
        what = f"stage {r.stage} ({stage.weight} %)"
        return _deadline(r, now, a, elapsed, stage.max_duration, STAGE_DEADLINE, what)
    return _hold(r, a, now, confirm, elapsed, stage.min_duration)


def _deadline(
    r: Rollout,
    now: datetime,
    a: Assessment,
    elapsed: float,
    most: float,
    reason: str,
    what: str,
) -> Transition:
    """A shadow or stage not cleared by its max duration: roll back or hold for an operator
    (the judge keeps watching a held canary, see :func:`_protect`)."""
    evidence = {**a.evidence, "last_reason": a.reason, "elapsed_s": elapsed, "max_duration_s": most}
    if r.policy.on_deadline == "rollback":
        return _begin_rollback(r, now, reason, f"{what} deadline reached ({a.reason})", evidence)
    return _pause(
        r,
        now,
        reason,
        f"{what} not cleared in {most:g}s ({a.reason}); holding for an operator",
        evidence=evidence,
    )


def _hold(
    r: Rollout,
    a: Assessment,
    now: datetime,
    confirm: DecisionRecord | None,
    elapsed: float,
    minimum: float,
) -> Transition:
    evidence = {**a.evidence, "elapsed_s": round(elapsed, 3), "min_duration_s": minimum}
    if a.reason == NO_VERDICT:
        return _status(r, confirm, now, reason=NO_VERDICT, message=a.message)
    reason = JUDGE_HOLD if a.reason in (JUDGE_HOLD, JUDGE_PROMOTE) else a.reason
    return _status(r, confirm, now, reason=reason, message=a.message, evidence=evidence)


def _watching(
    r: Rollout, ep: EndpointInfo, now: datetime, confirm: DecisionRecord | None
) -> Transition:
    waited = (now - r.phase_since).total_seconds()
    if waited < r.policy.watch_window:
        return _status(
            r,
            confirm,
            now,
            reason=WATCHING,
            message=f"watch window: {r.policy.watch_window - waited:.0f}s left",
        )
    old = r.baseline
    dep = ep.deployments.get(old)
    if not r.policy.delete_old_deployment or dep is None:
        return _goto(
            r,
            now,
            Phase.SUCCEEDED,
            SUCCEEDED,
            f"{r.model.asset_id} is live on {r.endpoint}"
            + ("" if r.policy.delete_old_deployment else f"; {old} kept at 0 %"),
            effects=(_event(r, EV_SUCCEEDED),),
        )
    return _deleting(r, dep.provisioning_state, now, OLD_DEPLOYMENT_DELETING, confirm, old)


def _deleting(
    r: Rollout,
    state: str,
    now: datetime,
    reason: str,
    confirm: Any = None,
    name: str | None = None,
) -> Transition:
    """Ask for a deployment's deletion (again, while it is not yet Deleting) and wait."""
    name = name or r.canary
    effects: tuple[Effect, ...] = () if state == "Deleting" else (DeleteDeployment(name),)
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
            r.evolve(traffic=target, mirror=_kept_mirror(r, ep), confirmed=False),
            None,
            now,
            effects=(SetTraffic(target, _kept_mirror(r, ep)),),
            reason=ROLLING_BACK,
            message=f"restoring traffic to {', '.join(sorted(target))}",
            evidence=_split_evidence(r, ep),
        )
    dep = ep.deployments.get(r.canary) if r.canary else None
    if dep is not None and _delete_canary(r):
        return _deleting(r, dep.provisioning_state, now, CANARY_DELETING)
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
        evidence={"traffic": ep.live_traffic()},
        effects=(_event(r, ev, outcome=outcome.value),),
    )


def _usable(ep: EndpointInfo, name: str) -> bool:
    """A deployment that exists and is not being deleted (traffic may go to it)."""
    dep = ep.deployments.get(name)
    return dep is not None and dep.provisioning_state != "Deleting"


def _restore_split(r: Rollout, ep: EndpointInfo) -> dict[str, int] | None:
    """The split to return to: the baseline's original one if its deployments are all still
    usable, otherwise the baseline takes everything the canary had; None when no deployment to
    restore is usable (a rollback would leave the endpoint with nothing to serve)."""
    original = {k: v for k, v in r.baseline_traffic.items() if k != r.canary}
    if original and all(_usable(ep, k) for k in original) and sum(original.values()) == 100:
        return dict(original)
    live = {k: v for k, v in ep.live_traffic().items() if k != r.canary and _usable(ep, k)}
    if not _usable(ep, r.baseline):
        if not live:
            return None
        fallback = max(live, key=lambda k: (live[k], k))
    else:
        fallback = r.baseline
    spare = 100 - sum(live.values())
    live[fallback] = live.get(fallback, 0) + spare
    return {k: v for k, v in live.items() if v > 0}


def _kept_mirror(r: Rollout, ep: EndpointInfo | None = None) -> dict[str, int]:
    """The mirror found before the rollout, given back once the shadow no longer needs it (a
    deployment mirrors to at most one target: azure.md). Never to the canary or a deployment
    with live traffic, nor (when the endpoint is known) to one that is gone."""
    live = set(r.baseline_traffic) | {r.canary}
    return {
        k: v
        for k, v in r.baseline_mirror.items()
        if k not in live and v > 0 and (ep is None or _usable(ep, k))
    }


def _baseline_going(r: Rollout, ep: EndpointInfo | None) -> str | None:
    """Why a rollback cannot restore the old split now, or None if it can."""
    if r.phase in (Phase.PENDING, Phase.PROVISIONING) or not r.canary:
        return None
    if r.cleanup and r.phase is Phase.WATCHING:
        return f"the old deployment {r.baseline} is being deleted after the watch window"
    if ep is not None and _restore_split(r, ep) is None:
        return f"the old deployment {r.baseline} no longer exists or is being deleted"
    return None


# ------------------------------------------------------------------------------ commands

_ROLLBACKABLE = frozenset(
    {
        Phase.PENDING,
        Phase.PROVISIONING,
        Phase.SHADOWING,
        Phase.CANARY,
        Phase.PROMOTING,
        Phase.WATCHING,
    }
)


def allowed_actions(r: Rollout) -> list[str]:
    """The operator actions the rollout's phase allows now (shown by the HTTP API)."""
    if r.phase.terminal:
        return []
    out: list[str] = []
    if r.phase is not Phase.ROLLING_BACK:
        out.append("resume" if r.paused else "pause")
    if r.phase in (Phase.SHADOWING, Phase.CANARY):
        out.append("promote")
    going = (r.cleanup and r.phase is Phase.WATCHING) or r.pause_reason == ROLLBACK_IMPOSSIBLE
    if r.phase in _ROLLBACKABLE and not going:
        out += ["rollback", "abort"]
    return out


def _command(r: Rollout, cmd: Command, obs: Observation, now: datetime) -> Transition:
    kind = cmd.kind
    if r.phase.terminal:
        raise PhaseConflict(
            f"rollout {r.id} already ended ({r.phase.value}); {kind} is not possible",
            details={"phase": r.phase.value, "allowed": []},
        )
    evidence = {"reason": cmd.reason, **dict(cmd.evidence)}
    if kind == "alert" and r.phase is Phase.ROLLING_BACK and obs.endpoint is not None:
        # Already rolling back: do the next rollback step now (traffic routed back to the
        # canary by hand, say, is taken out at once instead of on the next tick).
        return _rolling_back(r, obs.endpoint, now)
    if kind in ("rollback", "alert", "abort", "supersede"):
        if r.phase not in _ROLLBACKABLE:
            raise PhaseConflict(
                f"rollout {r.id} is {r.phase.value}: it is already being rolled back",
                details={"phase": r.phase.value, "allowed": allowed_actions(r)},
            )
        if kind == "alert" and cmd.deployments and not _names_canary(r, cmd.deployments):
            # The firing time series is another deployment's (e.g. the baseline's): recorded,
            # and the healthy canary is left as it is.
            return _record(
                r,
                now,
                ALERT_ON_OTHER_DEPLOYMENT,
                f"alert on {', '.join(cmd.deployments)}, not on canary {r.canary or '(none yet)'}"
                "; nothing rolled back",
                {**evidence, "deployments": list(cmd.deployments), "canary": r.canary},
                actor=cmd.actor,
            )
        going = _baseline_going(r, obs.endpoint)
        if going is not None:
            if kind in ("alert", "supersede"):
                # Nothing to go back to: keep the new version serving and wait for a person.
                return _pause(
                    r,
                    now,
                    ROLLBACK_IMPOSSIBLE,
                    f"{cmd.reason}, but {going}: {r.canary} keeps serving; resume to finish",
                    evidence=evidence,
                    actor=cmd.actor,
                    force_record=True,
                )
            raise PhaseConflict(
                f"{kind} is not possible: {going}",
                details={"phase": r.phase.value, "allowed": allowed_actions(r)},
            )
        reason, outcome = {
            "rollback": (ROLLBACK_BY_OPERATOR, Phase.ROLLED_BACK),
            "alert": (ALERT_FIRED, Phase.ROLLED_BACK),
            "abort": (ABORTED_BY_OPERATOR, Phase.ABORTED),
            "supersede": (SUPERSEDED_BY_NEWER, Phase.SUPERSEDED),
        }[kind]
        return _begin_rollback(
            r, now, reason, cmd.reason, evidence, actor=cmd.actor, outcome=outcome, ep=obs.endpoint
        )
    if kind not in allowed_actions(r):
        raise PhaseConflict(
            f"{kind} is not possible while the rollout is {r.phase.value}"
            + (" (paused)" if r.paused else ""),
            details={"phase": r.phase.value, "paused": r.paused, "allowed": allowed_actions(r)},
        )
    if kind == "pause":
        return _pause(r, now, PAUSED_BY_OPERATOR, cmd.reason, evidence=evidence, actor=cmd.actor)
    if kind == "resume":
        ep = obs.endpoint
        missing = _missing_deployments(r, ep)
        if ep is not None and missing == [r.canary] and r.phase in (Phase.SHADOWING, Phase.CANARY):
            return _recreate_canary(r, ep, now, cmd, evidence)
        if missing:
            # Without the baseline there is nothing to roll back to: promoting the canary
            # (which then serves everything) is the way out.
            way_out = ["promote"] if r.baseline in missing else ["rollback", "abort"]
            raise PhaseConflict(
                f"resume is not possible: deployment {', '.join(missing)} does not exist; "
                + ("promote the canary" if r.baseline in missing else "roll back or abort"),
                details={
                    "phase": r.phase.value,
                    "missing": missing,
                    "allowed": way_out,
                },
            )
        resumed = r.evolve(paused=False, pause_reason="")
        effects: tuple[Effect, ...] = ()
        if ep is not None and r.phase not in (Phase.PENDING, Phase.PROVISIONING):
            live, mirror = ep.live_traffic(), ep.live_mirror()
            if (live, mirror) != (dict(r.traffic), dict(r.mirror)):
                # The operator resumes: re-assert the rollout's split and restart the stage clock.
                resumed = resumed.evolve(
                    prev_traffic=live, prev_mirror=mirror, confirmed=False, stage_since=None
                )
                effects = (SetTraffic(r.traffic, r.mirror),)
            else:
                resumed = resumed.evolve(stage_since=now)
        return _record(resumed, now, RESUMED, cmd.reason, evidence, effects, actor=cmd.actor)
    # promote
    unpaused = r.evolve(paused=False, pause_reason="")
    if cmd.full:
        return _start_stage(
            unpaused, now, len(r.policy.stages) - 1, PROMOTED_BY_OPERATOR, evidence, cmd.actor
        )
    return _start_stage(unpaused, now, r.stage + 1, PROMOTED_BY_OPERATOR, evidence, cmd.actor)


def _names_canary(r: Rollout, deployments: tuple[str, ...]) -> bool:
    """Whether an alert's deployment dimension names the canary (case-insensitively)."""
    return bool(r.canary) and r.canary.lower() in {d.lower() for d in deployments}


def _recreate_canary(
    r: Rollout, ep: EndpointInfo, now: datetime, cmd: Command, evidence: Mapping[str, Any]
) -> Transition:
    """Resume after the canary was deleted outside autocanary: provision it again (the stages
    start over from the shadow), from the live split as it is now."""
    live = {k: v for k, v in ep.live_traffic().items() if k in ep.deployments}
    mirror = {k: v for k, v in ep.live_mirror().items() if k in ep.deployments}
    restarted = r.evolve(
        paused=False,
        pause_reason="",
        stage=-1,
        stage_since=None,
        traffic=live,
        mirror=mirror,
        prev_traffic=live,
        prev_mirror=mirror,
        confirmed=True,
        readings={},
    )
    create = CreateDeployment(r.canary, r.baseline, r.model, r.policy.instance_count)
    return _goto(
        restarted,
        now,
        Phase.PROVISIONING,
        RESUMED,
        f"{cmd.reason}: {r.canary} was deleted outside autocanary; creating it again",
        {**dict(evidence), "recreated": r.canary},
        (create,),
        cmd.actor,
    )


def _missing_deployments(r: Rollout, ep: EndpointInfo | None) -> list[str]:
    """Deployments the rollout needs that are gone (a resume could only pause again)."""
    if ep is None or r.phase in (Phase.PENDING, Phase.PROVISIONING):
        return []
    needed = [r.canary] + ([] if r.phase is Phase.WATCHING else [r.baseline])
    return [d for d in needed if d and d not in ep.deployments]


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
    if r.canary and (r.phase not in (Phase.PENDING, Phase.PROVISIONING) or canary_serving):
        target = _restore_split(r, ep) if ep is not None else dict(r.baseline_traffic)
        if target:  # None was refused by the caller (_baseline_going)
            kept = _kept_mirror(r, ep)
            r = r.evolve(prev_traffic=r.traffic, prev_mirror=r.mirror)
            r = r.evolve(traffic=target, mirror=kept, confirmed=False)
            effects.append(SetTraffic(target, kept))
    effects.append(_event(r, EV_ROLLING_BACK, reason=reason, outcome=outcome.value))
    return _goto(r, now, Phase.ROLLING_BACK, reason, message, evidence, tuple(effects), actor)


# ------------------------------------------------------------------------------ traffic


def stage_split(r: Rollout, weight: int) -> dict[str, int]:
    """The canary gets ``weight``; the rest is shared by the baseline split in proportion
    (largest remainder), so the map always sums to 100."""
    if weight >= 100:
        return {r.canary: 100}
    base = {k: v for k, v in r.baseline_traffic.items() if k != r.canary and v > 0}
    if not base:
        base = {r.baseline: 100}
    total = sum(base.values())
    rest = 100 - weight
    raw = {k: rest * v / total for k, v in base.items()}
    out = {k: int(v) for k, v in raw.items()}
    short = rest - sum(out.values())
    for k in sorted(raw, key=lambda k: (raw[k] - out[k], k), reverse=True)[:short]:
        out[k] += 1
    out = {k: v for k, v in out.items() if v > 0}
    out[r.canary] = weight
    return out


def _start_stage(
    r: Rollout,
    now: datetime,
    index: int,
    reason: str,
    evidence: Mapping[str, Any] | None = None,
    actor: str = "engine",
) -> Transition:
    stages = r.policy.stages
    weight = stages[index].weight
    if weight >= 100:
        return _ask_traffic(
            r,
            now,
            Phase.PROMOTING,
            index,
            {r.canary: 100},
            _kept_mirror(r),
            reason,
            f"promoting {r.canary} to 100 %",
            evidence,
            actor,
        )
    return _ask_traffic(
        r,
        now,
        Phase.CANARY,
        index,
        stage_split(r, weight),
        _kept_mirror(r),
        reason,
        f"stage {index}: {weight} % to {r.canary}",
        evidence,
        actor,
    )


def _ask_traffic(
    r: Rollout,
    now: datetime,
    phase: Phase,
    stage: int,
    traffic: Mapping[str, int],
    mirror: Mapping[str, int],
    reason: str,
    message: str,
    evidence: Mapping[str, Any] | None = None,
    actor: str = "engine",
) -> Transition:
    nxt = r.evolve(
        prev_traffic=dict(r.traffic),
        prev_mirror=dict(r.mirror),
        traffic=dict(traffic),
        mirror=dict(mirror),
        confirmed=False,
        stage=stage,
        stage_since=None,
    )
    effects: list[Effect] = [SetTraffic(traffic, mirror)]
    if phase is Phase.CANARY and (r.phase is not Phase.CANARY or stage != r.stage):
        effects.append(_event(nxt, EV_STAGE, stage=stage, weight=r.policy.stages[stage].weight))
    return _goto(nxt, now, phase, reason, message, evidence or {}, tuple(effects), actor, r)


def _confirm_traffic(r: Rollout, ep: EndpointInfo, now: datetime) -> tuple[Rollout, Any]:
    """Mark the asked-for split confirmed when it is live; the stage clock starts then."""
    if r.confirmed:
        return r, None
    if ep.live_traffic() == dict(r.traffic) and ep.live_mirror() == dict(r.mirror):
        confirmed = r.evolve(confirmed=True, stage_since=now)
        return confirmed, TRAFFIC_CONFIRMED
    return r, None


def _manual_change(r: Rollout, ep: EndpointInfo) -> tuple[str, str, dict[str, Any]] | None:
    """A split or deployment change that the engine did not ask for, or None."""
    if r.paused:
        return None
    live, mirror = ep.live_traffic(), ep.live_mirror()
    evidence = _split_evidence(r, ep)
    if r.phase not in (Phase.PENDING, Phase.PROVISIONING) and r.canary not in ep.deployments:
        return DEPLOYMENT_MISSING, f"deployment {r.canary} was deleted outside autocanary", evidence
    if r.phase not in (Phase.WATCHING, Phase.PROMOTING) and r.baseline not in ep.deployments:
        return (
            DEPLOYMENT_MISSING,
            f"deployment {r.baseline} was deleted outside autocanary",
            evidence,
        )
    if (live, mirror) == (dict(r.traffic), dict(r.mirror)):
        return None
    if not r.confirmed and (live, mirror) == (dict(r.prev_traffic), dict(r.prev_mirror)):
        return None  # our own change is still in flight
    return (
        MANUAL_CHANGE,
        "traffic or mirror was changed outside autocanary; paused, nothing overwritten",
        evidence,
    )


def _split_evidence(r: Rollout, ep: EndpointInfo) -> dict[str, Any]:
    return {
        "expected_traffic": dict(r.traffic),
        "expected_mirror": dict(r.mirror),
        "observed_traffic": ep.live_traffic(),
        "observed_mirror": ep.live_mirror(),
    }


# ------------------------------------------------------------------------------ helpers


def _event(r: Rollout, event_type: str, **extra: Any) -> PublishEvent:
    data: dict[str, Any] = {
        "rollout_id": r.id,
        "endpoint": r.endpoint,
        "model": r.model.name,
        "version": r.model.version,
        "canary": r.canary,
        "baseline": r.baseline,
        **extra,
    }
    return PublishEvent(event_type, data)


def _pause(
    r: Rollout,
    now: datetime,
    reason: str,
    message: str,
    *,
    evidence: Mapping[str, Any] | None = None,
    actor: str = "engine",
    force_record: bool = False,
) -> Transition:
    if r.paused and r.pause_reason == reason and not force_record:
        return Transition(r)
    paused = r.evolve(paused=True, pause_reason=reason)
    return _record(
        paused, now, reason, message, evidence or {}, (_event(r, EV_PAUSED, reason=reason),), actor
    )


def _status(
    r: Rollout,
    confirm: Any,
    now: datetime,
    *,
    effects: tuple[Effect, ...] = (),
    reason: str | None = None,
    message: str = "",
    evidence: Mapping[str, Any] | None = None,
) -> Transition:
    """No transition: keep the latest status; record only when the reason changes or the
    split was just confirmed. Effects (re-issued idempotent calls) still go out."""
    if confirm is not None:
        return _record(
            r,
            now,
            TRAFFIC_CONFIRMED,
            f"split live: {dict(r.traffic)} mirror {dict(r.mirror)}",
            evidence or {},
            effects,
        )
    if reason is None or (reason == r.reason and message == r.message):
        updated = r if evidence is None else r.evolve(evidence=dict(evidence))
        return Transition(updated, effects, None)
    if reason == r.reason:
        return Transition(r.evolve(message=message, evidence=dict(evidence or {})), effects, None)
    return _record(r, now, reason, message, evidence or {}, effects)


def _goto(
    r: Rollout,
    now: datetime,
    phase: Phase,
    reason: str,
    message: str,
    evidence: Mapping[str, Any] | None = None,
    effects: tuple[Effect, ...] = (),
    actor: str = "engine",
    before: Rollout | None = None,
) -> Transition:
    """Move to ``phase``; the record's from-phase and from-stage are ``before``'s (default
    ``r``'s), so a caller that already changed the stage passes the original rollout."""
    nxt = r.evolve(phase=phase, phase_since=now)
    if phase is not Phase.ROLLING_BACK:
        nxt = nxt.evolve(cleanup=False)
    return _record(nxt, now, reason, message, evidence or {}, effects, actor, before=before or r)


def _record(
    r: Rollout,
    now: datetime,
    reason: str,
    message: str,
    evidence: Mapping[str, Any] | None = None,
    effects: tuple[Effect, ...] = (),
    actor: str = "engine",
    before: Rollout | None = None,
) -> Transition:
    prior = before or r
    seq = r.seq + 1
    record = DecisionRecord(
        seq=seq,
        at=now,
        rollout_id=r.id,
        phase_from=prior.phase,
        phase_to=r.phase,
        stage_from=prior.stage,
        stage_to=r.stage,
        reason=reason,
        message=message,
        actor=actor,
        evidence=dict(evidence or {}),
        effects=tuple(effect_to_dict(e) for e in effects),
    )
    nxt = r.evolve(
        seq=seq, reason=reason, message=message, evidence=dict(evidence or {}), updated_at=now
    )
    return Transition(nxt, effects, record)


# ------------------------------------------------------------------------------- failures


def effect_failed(
    r: Rollout,
    error: Mapping[str, Any],
    now: datetime,
    *,
    effect: Effect | None = None,
    permanent: bool = False,
) -> Transition:
    """An effect of the last decision (or the reconcile itself) failed.

    A create that Azure refused for good ends the rollout Failed with Azure's error: retrying
    it every tick until the provisioning timeout cannot help. Any other failure is recorded
    once; the same failure again only counts on the rollout (no new decision row), and the
    rollout's reason is left alone so the next decision does not record itself again."""
    where = effect_to_dict(effect) if effect is not None else {"kind": "reconcile"}
    if permanent and isinstance(effect, CreateDeployment) and r.phase is Phase.PROVISIONING:
        return _end_failed(
            r.evolve(failure={}),
            now,
            PROVISIONING_REFUSED,
            f"Azure refused to create {effect.name}: {error.get('message', '')}",
            {"error": dict(error), "effect": where},
        )
    key = f"{where.get('kind')}|{where.get('name', '')}|{error.get('code', '')}"
    prev = r.failure
    if prev.get("key") == key:
        counted = {**prev, "count": int(prev.get("count", 1)) + 1, "last_at": iso(now)}
        return Transition(r.evolve(failure=counted))
    failure = {
        "key": key,
        "code": str(error.get("code", "")),
        "message": str(error.get("message", "")),
        "effect": where,
        "permanent": permanent,
        "count": 1,
        "first_at": iso(now),
        "last_at": iso(now),
    }
    t = _record(
        r.evolve(failure=failure),
        now,
        EFFECT_FAILED,
        str(error.get("message", "")),
        {**dict(error), "effect": where},
    )
    kept = t.rollout.evolve(reason=r.reason, message=r.message, evidence=dict(r.evidence))
    return Transition(kept, t.effects, t.record)


def effects_succeeded(r: Rollout) -> Rollout | None:
    """The rollout with its failure cleared once a reconcile's effects all went through, or
    None when there was nothing to clear (nothing to write)."""
    return r.evolve(failure={}) if r.failure else None


# ------------------------------------------------------------------------------- admit


@dataclass(frozen=True)
class Admission:
    """What a newly registered model version does to its endpoint's slot."""

    outcome: Literal["start", "wait", "supersede", "ignore"]
    reason: str
    detail: str
    active: Rollout | None
    waiting: Waiting | None
    records: tuple[DecisionRecord, ...] = ()
    effects: tuple[Effect, ...] = ()
    ended: Rollout | None = None


def rollout_id(model: ModelRef, now: datetime) -> str:
    """Time-sortable and unique per event: ``20261121T130501Z-fraud-7-1a2b3c4d``."""
    digest = hashlib.sha256(f"{model.event_id}|{model.name}|{model.version}".encode()).hexdigest()[
        :8
    ]
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in f"{model.name}-{model.version}")
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{safe[:60]}-{digest}"


def new_rollout(model: ModelRef, policy: RolloutPolicy, now: datetime, reason: str) -> Transition:
    r = Rollout(
        id=rollout_id(model, now),
        endpoint=policy.endpoint,
        model=model,
        policy=policy,
        phase=Phase.PENDING,
        baseline="",
        canary="",
        created_at=now,
        phase_since=now,
    )
    return _record(
        r,
        now,
        reason,
        f"{model.asset_id} -> endpoint {policy.endpoint} (rule {policy.rule})",
        {"event_id": model.event_id, "policy": policy.to_dict()},
    )


def admit(
    active: Rollout | None,
    waiting: Waiting | None,
    model: ModelRef,
    policy: RolloutPolicy,
    now: datetime,
    live_models: Mapping[str, str | None] | None = None,
) -> Admission:
    """A new version for an endpoint: start it, park it, supersede the active one, or ignore.

    ``live_models`` (deployment -> ``azureml:name:version``, as the endpoint reports them)
    stops a stale event from starting a rollout of the version already live, or a downgrade:
    that needs an explicit operator start."""
    if active is None or active.phase.terminal:
        stale = _stale_against_live(model, live_models or {})
        if stale is not None:
            return Admission("ignore", stale[0], stale[1], active, waiting)
        t = new_rollout(model, policy, now, ADMITTED)
        assert t.record is not None
        return Admission("start", ADMITTED, t.record.message, t.rollout, waiting, (t.record,))
    if active.model.name == model.name and active.model.version == model.version:
        return Admission(
            "ignore", SAME_VERSION, f"{model.asset_id} is already rolling out", active, waiting
        )
    if not model.is_newer_than(active.model):
        return Admission(
            "ignore",
            NOT_NEWER,
            f"{model.asset_id} is not newer than active {active.model.asset_id}",
            active,
            waiting,
        )
    if waiting is not None and not model.is_newer_than(waiting.model):
        return Admission(
            "ignore",
            NOT_NEWER,
            f"{model.asset_id} is not newer than waiting {waiting.model.asset_id}",
            active,
            waiting,
        )
    parked = Waiting(model, policy)
    replaced = f" (replaces waiting {waiting.model.asset_id})" if waiting else ""
    # A promoted version (Promoting, Watching) is never superseded: it finishes first.
    if policy.on_newer_version == "supersede" and active.phase in _SUPERSEDABLE:
        t = decide(
            active,
            Observation(
                endpoint=None,
                command=Command(
                    "supersede",
                    f"superseded by {model.asset_id}",
                    actor="engine",
                    evidence={"event_id": model.event_id},
                ),
            ),
            now,
        )
        return Admission(
            "supersede",
            SUPERSEDING,
            f"{model.asset_id} supersedes {active.model.asset_id}{replaced}",
            t.rollout,
            parked,
            (t.record,) if t.record else (),
            t.effects,
        )
    return Admission(
        "wait",
        REPLACED_WAITING if waiting else QUEUED,
        f"{model.asset_id} waits for {active.model.asset_id} to finish{replaced}",
        active,
        parked,
    )


_SUPERSEDABLE = frozenset({Phase.PENDING, Phase.PROVISIONING, Phase.SHADOWING, Phase.CANARY})


def _stale_against_live(
    model: ModelRef, live_models: Mapping[str, str | None]
) -> tuple[str, str] | None:
    live: list[tuple[str, ModelRef]] = []
    for deployment, asset in live_models.items():
        parts = (asset or "").split(":")
        if len(parts) == 3 and parts[0] == "azureml" and parts[1] == model.name:
            live.append((deployment, ModelRef(parts[1], parts[2])))
    for deployment, ref in live:
        if ref.version == model.version:
            return VERSION_ALREADY_LIVE, f"{model.asset_id} is already live on {deployment}"
    if live and not any(model.is_newer_than(ref) for _, ref in live):
        versions = ", ".join(f"{ref.asset_id} on {dep}" for dep, ref in live)
        return (
            OLDER_THAN_LIVE,
            f"{model.asset_id} is older than the live {versions}; "
            "a downgrade needs an explicit operator start",
        )
    return None


def start_waiting(waiting: Waiting, now: datetime) -> Transition:
    """The endpoint is free: the newest waiting version starts."""
    return new_rollout(waiting.model, waiting.policy, now, STARTED_FROM_WAITING)


def summary(r: Rollout) -> dict[str, Any]:
    """A compact view for listings."""
    return {
        "id": r.id,
        "endpoint": r.endpoint,
        "model": r.model.name,
        "version": r.model.version,
        "phase": r.phase.value,
        "stage": r.stage,
        "weight": r.stage_weight if r.phase is Phase.CANARY else None,
        "paused": r.paused,
        "pause_reason": r.pause_reason or None,
        "reason": r.reason,
        "message": r.message,
        "baseline": r.baseline,
        "canary": r.canary,
        "traffic": dict(r.traffic),
        "mirror": dict(r.mirror),
        "created_at": iso(r.created_at),
        "updated_at": iso(r.updated_at),
    }
