"""Commands from operators, alerts and newer versions, and the actions a phase allows. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.effects import CreateDeployment, Effect, SetTraffic
from shared.errors import PhaseConflict
from shared.judging import old_going
from shared.machine.capacity import without_pending
from shared.machine.records import Transition, _goto, _pause, _record
from shared.machine.rollback import _begin_rollback, _rolling_back
from shared.machine.traffic import _baseline_going, _start_stage, _usable
from shared.model import Phase, Rollout, Waiting
from shared.observation import OPERATOR_ACTIONS, Command, EndpointInfo, Observation
from shared.reasons import (
    ABORTED_BY_OPERATOR,
    ALERT_FIRED,
    ALERT_ON_OTHER_DEPLOYMENT,
    PAUSED_BY_OPERATOR,
    PROMOTED_BY_OPERATOR,
    RESUMED,
    ROLLBACK_BY_OPERATOR,
    ROLLBACK_IMPOSSIBLE,
    SUPERSEDED_BY_NEWER,
    WATCH_NO_DATA,
)

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


# Endpoint-level actions beside the rollout's own commands: ``retry`` starts the latest
# rollout's version again (new rollout id), ``cancel`` drops the waiting version. Neither goes
# through ``decide``: they change the endpoint's slot (see :mod:`shared.machine.admit`).
SLOT_ACTIONS = ("retry", "cancel")
ACTIONS = (*OPERATOR_ACTIONS, *SLOT_ACTIONS)
# A rollout that ended this way may be retried (an abort or a supersede was meant to stop it).
RETRYABLE = frozenset({Phase.FAILED, Phase.ROLLED_BACK})


def allowed_actions(
    r: Rollout,
    *,
    waiting: Waiting | None = None,
    latest: bool = True,
    ep: EndpointInfo | None = None,
    now: datetime | None = None,
) -> list[str]:
    """The operator actions allowed now (shown by the HTTP API): the rollout phase's commands,
    ``cancel`` while a version waits (``waiting``), and ``retry`` for the endpoint's latest
    rollout (``latest``; False for a past one) when it is Failed or RolledBack and nothing
    waits. Given the endpoint as read (``ep``, at ``now``), the actions the command would
    refuse on it are left out and a rollback it would take is kept (the same checks as
    :func:`_command`): rollback and abort need something to go back to, resume the
    deployments the rollout needs, promote a canary that is there."""
    if ep is not None and not r.phase.terminal:
        return _on_endpoint(r, allowed_actions(r, waiting=waiting, latest=latest), ep, now)
    if r.phase.terminal:
        out = ["retry"] if latest and r.phase in RETRYABLE and waiting is None else []
        return out + (["cancel"] if waiting is not None else [])
    out = []
    if r.phase is not Phase.ROLLING_BACK:
        out.append("resume" if r.paused else "pause")
    if r.phase in (Phase.SHADOWING, Phase.CANARY):
        out.append("promote")
    going = old_going(r) or r.pause_reason == ROLLBACK_IMPOSSIBLE
    if r.phase in _ROLLBACKABLE and not going:
        out += ["rollback", "abort"]
    if waiting is not None:
        out.append("cancel")
    return out


def _on_endpoint(
    r: Rollout, stored: list[str], ep: EndpointInfo, now: datetime | None
) -> list[str]:
    out = [a for a in stored if a not in ("rollback", "abort")]
    if r.phase in _ROLLBACKABLE and _baseline_going(r, ep, now) is None:
        at = next((i for i, a in enumerate(out) if a == "cancel"), len(out))
        out[at:at] = ["rollback", "abort"]
    missing = _missing_deployments(r, ep)
    recreates = missing == [r.canary] and r.phase in (Phase.SHADOWING, Phase.CANARY)
    if missing and not recreates:
        out = [a for a in out if a != "resume"]
    if r.canary and not _usable(ep, r.canary):
        out = [a for a in out if a != "promote"]
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
                details={
                    "phase": r.phase.value,
                    "allowed": allowed_actions(r, ep=obs.endpoint, now=now),
                },
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
        going = _baseline_going(r, obs.endpoint, now)
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
                details={
                    "phase": r.phase.value,
                    "allowed": allowed_actions(r, ep=obs.endpoint, now=now),
                },
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
            details={
                "phase": r.phase.value,
                "paused": r.paused,
                "allowed": allowed_actions(r, ep=obs.endpoint, now=now),
            },
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
        if (r.capacity.get("pending") or {}).get("actor") == "engine":
            # the judge's clearing belonged to the window the resume starts again: the stage
            # is judged afresh (an operator's step waiting for instances stays theirs)
            resumed = without_pending(resumed)
        if r.pause_reason == WATCH_NO_DATA:  # the operator finishes the watch without data
            resumed = resumed.evolve(checks={**r.checks, "watch_unguarded_ok": cmd.actor})
        effects: tuple[Effect, ...] = ()
        # (in Provisioning too: traffic routed to the canary by hand is taken off it again)
        if ep is not None and r.phase is not Phase.PENDING:
            live, mirror = ep.live_traffic(), ep.live_mirror()
            if (live, mirror) != (dict(r.traffic), dict(r.mirror)):
                # The operator resumes: re-assert the rollout's split and restart the stage clock.
                resumed = resumed.evolve(
                    prev_traffic=live,
                    prev_mirror=mirror,
                    confirmed=False,
                    landed_at=None,  # a new ask: Azure has not said it landed
                    stage_since=None,
                    # judged from now on its own window: the minutes before are the paused
                    # window's, already carried (shared.judging.window_since)
                    asked_at=now,
                )
                effects = (SetTraffic(r.traffic, r.mirror),)
            else:
                resumed = resumed.evolve(stage_since=now)
        return _record(resumed, now, RESUMED, cmd.reason, evidence, effects, actor=cmd.actor)
    # promote
    unpaused = r.evolve(paused=False, pause_reason="")
    baseline_gone = r.baseline in _missing_deployments(r, obs.endpoint)
    if cmd.full or baseline_gone:
        # without the baseline there is no split between it and the canary: the way out is the
        # canary serving everything (what a refused resume tells the operator to do)
        if baseline_gone and not cmd.full:
            evidence = {**evidence, "baseline_missing": r.baseline, "to": "100 %"}
        last = len(r.policy.stages) - 1
        return _start_stage(
            unpaused, now, last, PROMOTED_BY_OPERATOR, evidence, cmd.actor, ep=obs.endpoint
        )
    return _start_stage(
        unpaused, now, r.stage + 1, PROMOTED_BY_OPERATOR, evidence, cmd.actor, ep=obs.endpoint
    )


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
    # the promoted canary serving everything (or asked to) needs no baseline
    promoted = r.phase in (Phase.WATCHING, Phase.PROMOTING)
    needed = [r.canary] + ([] if promoted else [r.baseline])
    return [d for d in needed if d and not _usable(ep, d)]  # being deleted counts as gone
