"""Shadow, live stages and the watch window: what the judge's assessment means. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from shared.effects import CopyAutoscale, Effect
from shared.judging import (
    Assessment,
    asking,
    assess,
    assess_watch,
    full_guarded,
    watch_guarded,
)
from shared.machine.capacity import copy_pending, follow
from shared.machine.compare import compared
from shared.machine.records import Transition, _event, _goto, _pause, _status
from shared.machine.rollback import _begin_rollback, _deleting
from shared.machine.traffic import _baseline_going, _start_stage
from shared.model import Phase, Rollout, iso, parse_time
from shared.observation import EndpointInfo, Observation
from shared.reasons import (
    AUTOSCALE_COPY_FAILED,
    AUTOSCALE_COPYING,
    EV_SUCCEEDED,
    JUDGE_HOLD,
    JUDGE_PROMOTE,
    METRICS_UNAVAILABLE,
    NO_DATA,
    NO_VERDICT,
    OLD_DEPLOYMENT_DELETING,
    ROLLBACK_IMPOSSIBLE,
    SETTLING,
    SHADOW_COMPLETE,
    SHADOW_DEADLINE,
    SHADOW_NO_DATA_CONTINUED,
    STAGE_DEADLINE,
    SUCCEEDED,
    WATCH_NO_DATA,
    WATCHING,
)

# ------------------------------------------------------------------------------ judging
# What a tick's judging means (assess, judge_settings, ...) is in shared.judging.


def _guard(r: Rollout, obs: Observation, now: datetime) -> Transition | None:
    """While a split is asked for and not yet live (a stage change or the promotion pending,
    or a change by hand meanwhile), the canary serves whatever split is live: it is judged
    for rollback only, on the minutes since the split was asked; None when it is not rolled
    back (nothing is promoted on an unconfirmed split)."""
    if not asking(r):
        return None
    a = assess(r, obs, now)
    if a.outcome != "rollback":
        return None
    evidence = {**a.evidence, "unconfirmed": {"asked": dict(r.traffic), "mirror": dict(r.mirror)}}
    if r.paused:
        evidence["paused"] = r.pause_reason
    return _begin_rollback(r, now, a.reason, a.message, evidence, ep=obs.endpoint)


def _protection(r: Rollout, obs: Observation, now: datetime) -> Transition | None:
    """Protection never stops: while progress waits (paused, or the split asked for not yet
    live), whatever the canary serves is judged for rollback every tick: a stage's traffic
    (:func:`assess`; an unconfirmed split: :func:`_guard`), traffic routed to it by hand while
    it provisions, everything once promoted (the absolute guardrails: :func:`assess_watch`).
    A rollback (judge or guardrail) rolls it back, or, with nothing to go back to, waits for a
    person; None otherwise."""
    guarded = _guard(r, obs, now)
    if guarded is not None:
        return guarded
    a: Assessment | None = None
    if r.phase in (Phase.SHADOWING, Phase.CANARY) and r.stage_since is not None:
        a = assess(r, obs, now)
    elif r.phase is Phase.PROVISIONING and r.hand_since is not None:
        a = assess(r, obs, now)  # a canary tried by hand while it provisions
    elif full_guarded(r):
        a = assess_watch(r, obs)
    if a is None or a.outcome != "rollback":
        return None
    evidence = dict(a.evidence)
    if r.paused:
        evidence["paused"] = r.pause_reason
    if not r.confirmed:
        evidence["unconfirmed"] = {"asked": dict(r.traffic), "mirror": dict(r.mirror)}
    if r.hand_since is not None:
        evidence["by_hand_since"] = iso(r.hand_since)
    ep = obs.endpoint
    going = _baseline_going(r, ep, now)
    if going is not None:  # nothing to go back to: wait for a person, the canary serving
        return _cannot_roll_back(r, now, a, going, evidence)
    return _begin_rollback(r, now, a.reason, a.message, evidence, ep=ep)


def _protect(r: Rollout, obs: Observation, now: datetime, confirm: str | None) -> Transition:
    """A paused rollout: progress stops, protection does not (:func:`_protection`); anything
    but a rollback changes nothing."""
    protected = _protection(r, obs, now)
    if protected is not None:
        return protected
    judged = r.phase in (Phase.SHADOWING, Phase.CANARY) and r.stage_since is not None
    if judged and confirm is None:
        # a paused canary with traffic keeps its share of a live deployment that scaled out
        followed = follow(r, now, r.stage if r.phase is Phase.CANARY else -1)
        if followed is not None:
            return followed
    return _status(r, confirm, now)


def _shadowing(
    r: Rollout, a: Assessment, now: datetime, confirm: str | None, ep: EndpointInfo
) -> Transition:
    since = r.stage_since or r.phase_since
    elapsed = (now - since).total_seconds()
    pol = r.policy
    if a.outcome == "rollback":
        return _begin_rollback(r, now, a.reason, a.message, a.evidence, ep=ep)
    if r.capacity.get("pending"):
        return _scaling(r, now, a, confirm, ep)
    followed = follow(r, now, -1) if confirm is None else None
    if followed is not None:
        return followed
    done = compared(r)  # a shadow comparison asked for must have agreed
    if a.outcome == "promote" and elapsed >= pol.shadow_duration and done:
        return _start_stage(r, now, 0, SHADOW_COMPLETE, evidence=a.evidence, ep=ep)
    # the opt-out is for a shadow with no data at all: one that had data, then lost its
    # metrics (an outage), waits for them or its deadline like any other
    no_data_ok = (
        a.outcome == "no_data"
        and pol.shadow_on_no_data == "continue"
        and not _had_data(r, r.phase_since)  # the whole shadow, across resumes
    )
    if no_data_ok and elapsed >= pol.shadow_duration and done:
        evidence = {**a.evidence, "on_no_data": "continue", "elapsed_s": elapsed}
        return _start_stage(r, now, 0, SHADOW_NO_DATA_CONTINUED, evidence=evidence, ep=ep)
    if elapsed >= pol.shadow_max_duration:
        most = pol.shadow_max_duration
        return _deadline(r, now, a, elapsed, most, SHADOW_DEADLINE, "shadow", ep)
    return _hold(r, a, now, confirm, elapsed, pol.shadow_duration)


def _had_data(r: Rollout, since: datetime) -> bool:
    """Whether the canary served requests in a settled minute judged since ``since``."""
    for entry in r.series:
        t = parse_time(entry.get("t"))
        canary = entry.get("c") or [0]
        if t is not None and t >= since and int(canary[0] or 0) > 0:
            return True
    return False


def _canary(
    r: Rollout, a: Assessment, now: datetime, confirm: str | None, ep: EndpointInfo
) -> Transition:
    stage = r.policy.stages[r.stage]
    since = r.stage_since or r.phase_since
    elapsed = (now - since).total_seconds()
    if a.outcome == "rollback":
        return _begin_rollback(r, now, a.reason, a.message, a.evidence, ep=ep)
    if r.capacity.get("pending"):
        return _scaling(r, now, a, confirm, ep)
    followed = follow(r, now, r.stage) if confirm is None else None
    if followed is not None:
        return followed
    if a.outcome == "promote" and elapsed >= stage.min_duration:
        return _start_stage(r, now, r.stage + 1, JUDGE_PROMOTE, evidence=a.evidence, ep=ep)
    if elapsed >= stage.max_duration:
        what = f"stage {r.stage} ({stage.weight} %)"
        return _deadline(r, now, a, elapsed, stage.max_duration, STAGE_DEADLINE, what, ep)
    return _hold(r, a, now, confirm, elapsed, stage.min_duration)


def _scaling(
    r: Rollout, now: datetime, a: Assessment, confirm: str | None, ep: EndpointInfo
) -> Transition:
    """A stage that was cleared waits for the canary's instances (the judge still protects
    the current stage: a rollback verdict was handled before this)."""
    pending = r.capacity["pending"]
    return _start_stage(
        r,
        now,
        int(pending["stage"]),
        str(pending.get("reason") or JUDGE_PROMOTE),
        # an operator's step keeps the evidence it was asked with (the reason given)
        evidence=pending.get("evidence") or a.evidence,
        actor=str(pending.get("actor") or "engine"),
        confirm=confirm,
        ep=ep,
    )


def _deadline(
    r: Rollout,
    now: datetime,
    a: Assessment,
    elapsed: float,
    most: float,
    reason: str,
    what: str,
    ep: EndpointInfo,
) -> Transition:
    """A shadow or stage not cleared by its max duration: roll back or hold for an operator
    (the judge keeps watching a held canary, see :func:`_protect`)."""
    evidence = {**a.evidence, "last_reason": a.reason, "elapsed_s": elapsed, "max_duration_s": most}
    return _on_deadline(
        r,
        now,
        reason,
        f"{what} deadline reached ({a.reason})",
        f"{what} not cleared in {most:g}s ({a.reason}); holding for an operator",
        evidence,
        ep,
    )


def _on_deadline(
    r: Rollout,
    now: datetime,
    reason: str,
    message: str,
    held: str,
    evidence: dict[str, Any],
    ep: EndpointInfo,
) -> Transition:
    """What ``on_deadline`` says: roll back (``message``), or hold for an operator (``held``)."""
    if r.policy.on_deadline == "rollback":
        return _begin_rollback(r, now, reason, message, evidence, ep=ep)
    return _pause(r, now, reason, held, evidence=evidence)


def _hold(
    r: Rollout,
    a: Assessment,
    now: datetime,
    confirm: str | None,
    elapsed: float,
    minimum: float,
) -> Transition:
    evidence = {**a.evidence, "elapsed_s": round(elapsed, 3), "min_duration_s": minimum}
    if a.reason == NO_VERDICT:
        return _status(r, confirm, now, reason=NO_VERDICT, message=a.message)
    reason = JUDGE_HOLD if a.reason in (JUDGE_HOLD, JUDGE_PROMOTE) else a.reason
    return _status(r, confirm, now, reason=reason, message=a.message, evidence=evidence)


def _watching(
    r: Rollout, ep: EndpointInfo, obs: Observation, now: datetime, confirm: str | None
) -> Transition:
    """The watch window: the old deployment is kept at 0 %; the absolute guardrails still
    apply (a breach rolls back to it, as an alert does); then it is deleted."""
    waited = (now - r.phase_since).total_seconds()
    a = assess_watch(r, obs)
    if a is not None and a.outcome == "rollback":
        going = _baseline_going(r, ep, now)
        if going is not None:  # e.g. the old deployment deleted by hand: nothing to go back to
            return _cannot_roll_back(r, now, a, going, a.evidence)
        return _begin_rollback(r, now, a.reason, a.message, a.evidence, ep=ep)
    # The promoted canary's autoscale copy, sent again until it has gone through (a kill
    # after the promotion's write and another after the window's first lose it for good).
    copy: tuple[Effect, ...] = (CopyAutoscale(r.baseline, r.canary),) if copy_pending(r) else ()
    if waited < r.policy.watch_window:
        return _status(
            r,
            confirm,
            now,
            effects=copy,
            reason=WATCHING,
            message=f"watch window: {r.policy.watch_window - waited:.0f}s left",
        )
    # With the old deployment gone (deleted by hand) there is nothing to keep or go back to.
    unguarded = None if _baseline_going(r, ep) is not None else _unguarded(r, obs)
    if unguarded is None and "watch_held_since" in r.checks:
        r = r.evolve(checks={k: v for k, v in r.checks.items() if k != "watch_held_since"})
    if unguarded is not None:
        # No data is never a pass: the old deployment stays (something to roll back to) until
        # the guardrails have read the promoted version, for at most another window counted
        # from when the hold began (a window held up by a failing delete is not held yet).
        reason, why = unguarded
        window = r.policy.watch_window
        since = parse_time(r.checks.get("watch_held_since")) or now
        if "watch_held_since" not in r.checks:
            r = r.evolve(checks={**r.checks, "watch_held_since": iso(now)})
        held = (now - since).total_seconds()
        if held < window:
            message = (
                f"watch window over, but {why}: {r.baseline} is kept until the guardrails "
                f"read data (at most {window - held:.0f}s more)"
            )
            return _status(r, confirm, now, reason=reason, message=message)
        message = f"the guardrails read no data in {held:.0f}s after the watch window"
        wait = f"{message}; resume to finish without them, or roll back"
        evidence = {"last_reason": reason, "waited_s": waited, "held_s": held}
        return _on_deadline(r, now, WATCH_NO_DATA, message, wait, evidence, ep)
    if copy and _copy_refused(r):
        # Sending it again every tick cannot help: an operator fixes the cause, then resumes.
        error = dict(r.failure)
        return _pause(
            r.evolve(failure={}),  # a resume sends the copy again
            now,
            AUTOSCALE_COPY_FAILED,
            f"copying the autoscale setting of {r.baseline} to {r.canary}: Azure refused it "
            f"({error.get('code')}: {error.get('message')}); {r.baseline} and its setting are "
            "kept; fix the cause (e.g. a setting of that name targeting another deployment), "
            "then resume",
            evidence={"error": error},
        )
    if copy:
        # The old deployment's setting goes with it: it stays until the canary has its copy.
        return _status(
            r,
            confirm,
            now,
            effects=copy,
            reason=AUTOSCALE_COPYING,
            message=f"copying the autoscale setting of {r.baseline} to {r.canary} before "
            "the rollout ends",
        )
    # Every deployment that served before the rollout is replaced, not only the one cloned
    # (an endpoint split between two deployments leaves neither at 0 % for ever); one at a
    # time, in name order: the next is asked for once the one being deleted is gone.
    olds = _old_deployments(r, ep)
    if not r.policy.delete_old_deployment or not olds:
        kept = ", ".join(olds)
        return _goto(
            r,
            now,
            Phase.SUCCEEDED,
            SUCCEEDED,
            f"{r.model.asset_id} is live on {r.endpoint}"
            + (f"; {kept} kept at 0 %" if kept else ""),
            effects=(_event(r, EV_SUCCEEDED),),
        )
    old = olds[0]
    state = ep.deployments[old].provisioning_state
    if "old_delete_asked" not in r.checks:
        r = r.evolve(checks={**r.checks, "old_delete_asked": iso(now)})
    return _deleting(r, state, now, OLD_DEPLOYMENT_DELETING, confirm, old, autoscale=True)


def _unguarded(r: Rollout, obs: Observation) -> tuple[str, str] | None:
    """Why the watch window's guardrails have not read it to its end this tick (metrics
    unavailable, no settled minute, or none yet from its last minutes: Azure Monitor's
    minutes arrive late and settle later still), or None: unguarded, read to the end, or the
    operator chose to finish without them (a resume from :data:`WATCH_NO_DATA`). Minutes read
    with no requests are data: the promoted version served nothing that could harm."""
    if not watch_guarded(r) or r.checks.get("watch_unguarded_ok"):
        return None
    j = obs.judging
    if j is not None and j.unavailable is not None:
        return METRICS_UNAVAILABLE, f"metrics are unavailable ({j.unavailable})"
    if j is None or not j.minutes:
        return NO_DATA, "no settled metric minute was read"
    starts = [m.start for m in j.minutes if m.start is not None]
    end = r.phase_since + timedelta(seconds=r.policy.watch_window)
    read_to = max(starts) + timedelta(seconds=j.step_s) if starts else None
    if read_to is None or read_to < end:
        upto = f"up to {hhmm_utc(read_to)}" if read_to is not None else "no dated minute"
        return SETTLING, f"the guardrails have read {upto}, the window ends {hhmm_utc(end)}"
    return None


def _copy_refused(r: Rollout) -> bool:
    """Whether Azure refused the canary's autoscale copy for good (recorded by
    ``effect_failed``: a 400 such as TargetResourceIdIsImmutable, a 403)."""
    effect = r.failure.get("effect") or {}
    return (
        bool(r.failure.get("permanent"))
        and effect.get("kind") == "copy_autoscale"
        and effect.get("target") == r.canary
    )


def hhmm_utc(t: datetime) -> str:
    return t.strftime("%H:%M UTC")


def _cannot_roll_back(
    r: Rollout, now: datetime, a: Assessment, going: str, evidence: dict[str, Any]
) -> Transition:
    """A rollback verdict (judge or guardrail) with nothing to restore: the canary keeps
    serving and the rollout waits for a person, as an alert does then (recorded once)."""
    return _pause(
        r,
        now,
        ROLLBACK_IMPOSSIBLE,
        f"{a.message}, but {going}: {r.canary} keeps serving; resume to finish",
        evidence={**evidence, "verdict_reason": a.reason},
    )


def _old_deployments(r: Rollout, ep: EndpointInfo) -> list[str]:
    """The deployments of the split found before the rollout that still exist."""
    before = {r.baseline, *(d for d, pct in r.baseline_traffic.items() if pct > 0)}
    return sorted(d for d in before if d and d != r.canary and d in ep.deployments)
