"""Transitions and the helpers every decision uses: records, events, pause, goto. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.effects import Effect, PublishEvent, effect_to_dict
from shared.explain_figures import FOLLOW_UPS
from shared.machine.cost import cost
from shared.model import DecisionRecord, Phase, Rollout
from shared.reasons import EV_PAUSED, TRAFFIC_CONFIRMED

_LOG_LIMIT = 16_000  # characters of deployment logs kept as evidence
_ERROR_LIMIT = 1_000  # characters of Azure's error message kept with a failed provisioning
_ERROR_SHOWN = 300  # of which its decision's message (the rollout's cause) shows this many
_DECISIVE_LOG_LIMIT = 2_000  # of which the rollout keeps this many with its explanation
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
    confirm: str | None,
    now: datetime,
    *,
    effects: tuple[Effect, ...] = (),
    reason: str | None = None,
    message: str = "",
    evidence: Mapping[str, Any] | None = None,
    actor: str = "engine",
) -> Transition:
    """No transition: keep the latest status; record only when the reason changes or the
    split was just confirmed (a record names ``actor``: who the step is taken for). Effects
    (re-issued idempotent calls) still go out."""
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
    return _record(r, now, reason, message, evidence or {}, effects, actor=actor)


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
    if r.phase.terminal and r.capacity and "cost" not in (evidence or {}):
        evidence = {**dict(evidence or {}), "cost": cost(r, now)}  # the rollout's last decision
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
    if reason not in FOLLOW_UPS:
        nxt = nxt.evolve(decisive=_decisive(record))
    return Transition(nxt, _explained(effects, nxt, record), record)


def _decisive(record: DecisionRecord) -> dict[str, Any]:
    """The record as the rollout keeps it for its explanation (shared.explain): without the
    effects, and deployment logs cut to their end."""
    kept = record.to_dict()
    kept.pop("effects", None)
    evidence = kept["evidence"]
    if isinstance(evidence.get("logs"), str):
        evidence["logs"] = evidence["logs"][-_DECISIVE_LOG_LIMIT:]
    return kept


def _explained(
    effects: tuple[Effect, ...], r: Rollout, record: DecisionRecord
) -> tuple[Effect, ...]:
    """The decision's lifecycle events carry its cause in words and its numbers
    (``data.cause``, ``data.why``: shared/explain.py), the same that the API, the logs and
    the chat notices show (without ``why.minutes_used``). The record keeps the events as
    decided (without them)."""
    if not any(isinstance(e, PublishEvent) for e in effects):
        return effects
    cause, why = explain_decision(r, record)
    # The minutes the judge used stay in the API (they can be dozens): an event waits in the
    # slot's outbox until sent, and the slot is one Table row of at most 1 MiB.
    why.pop("minutes_used", None)
    return tuple(
        PublishEvent(e.type, {**e.data, "cause": cause, "why": why})
        if isinstance(e, PublishEvent)
        else e
        for e in effects
    )


def explain_decision(r: Rollout, record: DecisionRecord) -> tuple[str, dict[str, Any]]:
    """``explain.cause`` and ``explain.why`` of a decision (imported here, when first used:
    the presenter reads the machine's values, never the other way round at import time)."""
    from shared import explain

    return explain.cause(r, record), dict(explain.why(r, record))
