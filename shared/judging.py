"""What one tick's judging means for a shadow or stage: :func:`assess`. Pure.

The engine reads the stage's settled minutes (:mod:`shared.settle`), asks the judge with
:func:`judge_settings` and hands both to ``decide`` in the observation's
:class:`~shared.observation.Judging`; :func:`assess` turns them, with the absolute guardrails
(:mod:`shared.guardrails`), into an :class:`Assessment`: rollback, promote, hold, or no data
(which is never a pass). The state machine (:mod:`shared.machine`) decides the transition.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from shared import guardrails
from shared.judge.types import JudgeSettings, Verdict
from shared.model import Phase, Rollout, iso
from shared.observation import Observation
from shared.reasons import (
    JUDGE_HOLD,
    JUDGE_PROMOTE,
    JUDGE_ROLLBACK,
    METRICS_UNAVAILABLE,
    NO_DATA,
    NO_VERDICT,
    SETTLING,
    WARMING_UP,
)


@dataclass(frozen=True)
class Assessment:
    """The core's reading of one tick's judging: what it means for the stage.

    outcome: rollback (the judge or a guardrail), promote (the judge cleared the stage), hold,
    or no_data (nothing to judge: never a pass).
    """

    outcome: Literal["rollback", "promote", "hold", "no_data"]
    reason: str
    message: str
    evidence: dict[str, Any]


def judge_settings(r: Rollout) -> JudgeSettings:
    """The judge settings of the current stage: a fresh e-process per judged phase at alpha/S
    (S = the shadow, if there is one, plus every stage below 100 %: canary-statistics, "a
    fresh one per stage at alpha/S"), with the stage's own ``min_requests`` when higher."""
    s = r.policy.judge
    s = replace(s, alpha=s.alpha / max(1, r.policy.judged_count))
    if r.phase is Phase.CANARY and 0 <= r.stage < len(r.policy.stages):
        s = replace(s, min_requests=max(s.min_requests, r.policy.stages[r.stage].min_requests))
    return s


# Phases whose canary may serve live or mirrored traffic while a split is asked for and not
# yet confirmed (a stage change, the promotion, a change by hand meanwhile).
_ASKING = (Phase.SHADOWING, Phase.CANARY, Phase.PROMOTING)


def window_since(r: Rollout) -> datetime | None:
    """The start of the judged window: the stage's traffic confirmed; while a split is asked
    for and not confirmed, the moment it was asked (the canary is judged for rollback on
    whatever it serves meanwhile, as a window of its own: the minutes before were the last
    stage's, whose evidence is carried); in the watch window, since the promoted version took
    all the traffic; while provisioning, since traffic routed to the canary by hand was first
    seen (None when there is none)."""
    if r.phase is Phase.WATCHING:
        return r.phase_since
    if r.phase is Phase.PROVISIONING:
        return r.hand_since  # traffic routed to it by hand (machine.traffic.note_hand_traffic)
    if asking(r):
        return r.asked_at
    return r.stage_since


def stage_key(r: Rollout) -> str:
    """Names the judged window (its settle reading belongs to it alone)."""
    return f"{r.phase.value}:{r.stage}:{iso(window_since(r))}"


def judging_start(r: Rollout) -> datetime | None:
    """When the judged window's minutes start: :func:`window_since` plus the warm-up."""
    since = window_since(r)
    if since is None:
        return None
    return since + timedelta(seconds=r.policy.warmup)


def asking(r: Rollout) -> bool:
    """Whether the canary is judged for rollback only: in a phase where it may serve, a split
    asked for and not yet confirmed."""
    return (
        r.phase in _ASKING and r.stage_since is None and not r.confirmed and r.asked_at is not None
    )


def old_delete_failed(r: Rollout) -> bool:
    """Whether Azure failed the last request to delete an old deployment (after the watch
    window): it is then still there to roll back to, and the rollout treats it so."""
    effect = r.failure.get("effect") or {}
    return effect.get("kind") == "delete_deployment" and effect.get("name") != r.canary


def old_going(r: Rollout) -> bool:
    """Whether the old deployment is being deleted after the watch window (asked, and the
    request not failed): nothing to roll back to any more."""
    return r.phase is Phase.WATCHING and r.cleanup and not old_delete_failed(r)


def watch_guarded(r: Rollout) -> bool:
    """Whether the watch window is guarded now: the policy has guardrails and the old
    deployment is not being deleted yet (there is still something to roll back to)."""
    return r.phase is Phase.WATCHING and r.policy.guardrails.active and not old_going(r)


def full_guarded(r: Rollout) -> bool:
    """Whether the promoted canary, serving everything, is guarded now: in the watch window
    (:func:`watch_guarded`), or once the promotion's split is live while the rollout is held
    in Promoting (paused: pause stops progress, never protection)."""
    if watch_guarded(r):
        return True
    return (
        r.phase is Phase.PROMOTING
        and r.confirmed
        and r.stage_since is not None
        and r.policy.guardrails.active
    )


def assess_watch(r: Rollout, obs: Observation) -> Assessment | None:
    """The absolute guardrails while the promoted canary serves everything (the watch window,
    or a promotion held with its split live), before the old deployment is deleted: a breach
    rolls back to the old deployment; None otherwise. There is no baseline traffic to compare
    with, so the judge is not asked; missing metrics are never a breach."""
    j = obs.judging
    if not full_guarded(r) or j is None or not j.minutes:
        return None
    breach = guardrails.check(j.minutes, r.policy.guardrails, j.step_s)
    if breach is None:
        return None
    evidence = {
        "minutes": dict(j.evidence),
        "guardrail": breach.evidence,
        "errors": list(r.policy.errors),
        "watching": r.phase is Phase.WATCHING,
    }
    return Assessment("rollback", breach.reason, breach.message, evidence)


def assess(r: Rollout, obs: Observation, now: datetime) -> Assessment:
    """What the judging of this tick means for the stage (pure)."""
    j, verdict = obs.judging, obs.verdict
    base: dict[str, Any] = {**verdict_evidence(verdict), "errors": list(r.policy.errors)}
    if j is not None:
        base["minutes"] = dict(j.evidence)
    if j is not None and j.unavailable is not None:
        return Assessment(
            "no_data", METRICS_UNAVAILABLE, f"metrics unavailable: {j.unavailable}", base
        )
    if verdict is not None and verdict.decision == "rollback":
        return Assessment("rollback", JUDGE_ROLLBACK, verdict.reason, base)
    if j is not None and j.minutes:
        breach = guardrails.check(j.minutes, r.policy.guardrails, j.step_s)
        if breach is not None:
            return Assessment(
                "rollback", breach.reason, breach.message, {**base, "guardrail": breach.evidence}
            )
    if verdict is None:
        start = judging_start(r)
        if j is None and start is not None and now < start:
            return Assessment("no_data", WARMING_UP, f"warming up for {r.policy.warmup:g}s", base)
        if j is not None and not j.minutes:
            if not j.evidence.get("minutes_read"):
                return Assessment("no_data", NO_DATA, "no metric minutes yet", base)
            return Assessment("hold", SETTLING, "waiting for minutes to settle", base)
        return Assessment("hold", NO_VERDICT, "no verdict yet", base)
    if verdict.reason == NO_DATA:
        return Assessment("no_data", NO_DATA, "no minute with traffic on both sides", base)
    if verdict.decision == "promote":
        return Assessment("promote", JUDGE_PROMOTE, verdict.reason, base)
    return Assessment("hold", JUDGE_HOLD, verdict.reason, base)


def verdict_evidence(v: Verdict | None) -> dict[str, Any]:
    if v is None:
        return {}
    return {"verdict": v.decision, "verdict_reason": v.reason, "judge": dict(v.evidence)}
