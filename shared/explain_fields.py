"""Stage timing and per-decision log fields, for :mod:`shared.explain` (which re-exports them).

Pure: functions of a rollout, a decision and the time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared import reasons as R
from shared.explain_figures import error_why, guardrail_why
from shared.model import DecisionRecord, Phase, Rollout, iso

# --------------------------------------------------------------------------------- timing


def stage_timing(r: Rollout, now: datetime) -> dict[str, Any]:
    """Where the rollout is in its stages, since when, its deadline and the time left. A
    paused shadow or stage has no deadline: a resume restarts its clock (nothing runs out
    while it is paused)."""
    count = len(r.policy.stages)
    started: datetime | None = None
    most: float | None = None
    if r.phase is Phase.SHADOWING:
        name, started, most = "shadow", r.stage_since, r.policy.shadow_max_duration
    elif r.phase is Phase.CANARY and 0 <= r.stage < count:
        name, started = f"stage {r.stage + 1}", r.stage_since
        most = r.policy.stages[r.stage].max_duration
    elif r.phase is Phase.WATCHING:
        name, started, most = "watch", r.phase_since, r.policy.watch_window
    elif r.phase is Phase.PROVISIONING:
        name, started, most = "provisioning", r.phase_since, r.policy.provisioning_timeout
    else:
        name = r.phase.value.lower()
    deadline = None if started is None or most is None else started.timestamp() + most
    if r.paused and r.phase in (Phase.SHADOWING, Phase.CANARY):
        deadline = None
    return {
        "index": r.stage,
        "count": count,
        "weight": r.stage_weight if r.phase is Phase.CANARY else 0,
        "name": name,
        "started_at": iso(started),
        "deadline": None if deadline is None else iso(datetime.fromtimestamp(deadline, now.tzinfo)),
        "time_in_stage_s": None if started is None else max(0.0, (now - started).total_seconds()),
        "time_left_s": None if deadline is None else max(0.0, deadline - now.timestamp()),
    }


# ------------------------------------------------------------------------------------ logs


def decision_log_fields(d: DecisionRecord, r: Rollout) -> dict[str, Any]:
    """Flat fields (str or number) for one structured log record of decision ``d``."""
    out: dict[str, Any] = {
        "rollout_id": d.rollout_id,
        "endpoint": r.endpoint,
        "model": r.model.name,
        "version": r.model.version,
        "seq": d.seq,
        "at": iso(d.at) or "",
        "reason": d.reason,
        "actor": d.actor,
        "phase_from": d.phase_from.value,
        "phase_to": d.phase_to.value,
        "stage_from": d.stage_from,
        "stage_to": d.stage_to,
        "canary": r.canary,
        "baseline": r.baseline,
        "message": d.message,
    }
    figures = (
        guardrail_why(d.evidence)
        if d.reason in (R.GUARDRAIL_ERROR_RATE, R.GUARDRAIL_LATENCY)
        else error_why(d.evidence)
    )
    if figures is not None:
        out["metric"] = figures["metric"]
        for side in ("canary", "baseline"):
            part = figures[side]
            if part.get("value") is not None:
                out[f"{side}_value"] = part["value"]
            for k in ("errors", "requests"):
                if part.get(k) is not None:
                    out[f"{side}_{k}"] = part[k]
        if figures["threshold"].get("value") is not None:
            out["threshold"] = figures["threshold"]["value"]
    if verdict := d.evidence.get("verdict_reason"):
        out["verdict_reason"] = str(verdict)
    return out
