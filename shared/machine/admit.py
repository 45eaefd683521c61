"""Admission: a registered version starts, waits, supersedes or is ignored; new rollouts. Pure."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from shared.effects import Effect
from shared.errors import PhaseConflict
from shared.machine.commands import RETRYABLE, allowed_actions
from shared.machine.decide import decide
from shared.machine.records import Transition, _record
from shared.model import DecisionRecord, ModelRef, Phase, Rollout, Waiting, iso
from shared.observation import Command, Observation
from shared.policy import RolloutPolicy
from shared.reasons import (
    ADMITTED,
    NOT_NEWER,
    OLDER_THAN_LIVE,
    QUEUED,
    REPLACED_WAITING,
    RETRIED_BY_OPERATOR,
    SAME_VERSION,
    STARTED_BY_OPERATOR,
    STARTED_FROM_WAITING,
    SUPERSEDING,
    VERSION_ALREADY_LIVE,
    WAITING_CANCELLED,
    WAITING_REPLACED,
)

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
    # the waiting version this admission drops for a newer one, with why (listed with the
    # ignored events once the slot is written)
    dropped: Waiting | None = None
    dropped_reason: str = ""
    dropped_detail: str = ""


def rollout_id(model: ModelRef, now: datetime) -> str:
    """Time-sortable and unique per event: ``20261121T130501Z-fraud-7-1a2b3c4d``."""
    digest = hashlib.sha256(f"{model.event_id}|{model.name}|{model.version}".encode()).hexdigest()[
        :8
    ]
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in f"{model.name}-{model.version}")
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{safe[:60]}-{digest}"


def new_rollout(
    model: ModelRef,
    policy: RolloutPolicy,
    now: datetime,
    reason: str,
    *,
    actor: str = "engine",
    evidence: Mapping[str, Any] | None = None,
) -> Transition:
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
        {**dict(evidence or {}), "event_id": model.event_id, "policy": policy.to_dict()},
        actor=actor,
    )


def admit(
    active: Rollout | None,
    waiting: Waiting | None,
    model: ModelRef,
    policy: RolloutPolicy,
    now: datetime,
    live_models: Mapping[str, str | None] | None = None,
    *,
    started: str = ADMITTED,
    actor: str = "engine",
    evidence: Mapping[str, Any] | None = None,
    allow_downgrade: bool = False,
) -> Admission:
    """A new version for an endpoint: start it, park it, supersede the active one, or ignore.

    ``live_models`` (deployment -> ``azureml:name:version``, as the endpoint reports them)
    stops a stale event from starting a rollout of the version already live, or a downgrade:
    that needs an explicit operator start (``allow_downgrade``). An operator's start or retry
    records ``started`` (its reason), ``actor`` and ``evidence`` on the new rollout."""
    if active is None or active.phase.terminal:
        stale = _stale_against_live(model, live_models or {})
        if stale is not None and not (allow_downgrade and stale[0] == OLDER_THAN_LIVE):
            return Admission("ignore", stale[0], stale[1], active, waiting)
        note = dict(evidence or {})
        if stale is not None:
            note["downgrade"] = stale[1]
        t = new_rollout(model, policy, now, started, actor=actor, evidence=note)
        assert t.record is not None
        return Admission("start", started, t.record.message, t.rollout, waiting, (t.record,))
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
    dropped = f"waiting {waiting.model.asset_id} replaced by {model.asset_id}" if waiting else ""
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
                    evidence={
                        "event_id": model.event_id,
                        **({"replaced": waiting.model.to_dict()} if waiting else {}),
                    },
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
            dropped=waiting,
            dropped_reason=WAITING_REPLACED,
            dropped_detail=dropped,
        )
    records: tuple[DecisionRecord, ...] = ()
    if waiting is not None:
        # In the slot's own write, so that the replaced version leaves a trace even when the
        # ignored events' listing (written after it, in another partition) is lost.
        evidence = {"replaced": waiting.model.to_dict(), "by": model.to_dict()}
        record = _record(active, now, WAITING_REPLACED, dropped, evidence, actor="engine").record
        assert record is not None
        active, records = active.evolve(seq=record.seq, updated_at=now), (record,)
    return Admission(
        "wait",
        REPLACED_WAITING if waiting else QUEUED,
        f"{model.asset_id} waits for {active.model.asset_id} to finish{replaced}",
        active,
        parked,
        records,
        dropped=waiting,
        dropped_reason=WAITING_REPLACED,
        dropped_detail=dropped,
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
    """The endpoint is free: the newest waiting version starts (once
    :func:`waiting_stale` found nothing against it)."""
    return new_rollout(waiting.model, waiting.policy, now, STARTED_FROM_WAITING)


def waiting_stale(
    waiting: Waiting, live_models: Mapping[str, str | None]
) -> tuple[str, str] | None:
    """Why the waiting version must not start now that the endpoint is free, or None: the
    check a new event gets, against what the endpoint serves now (the version already live,
    or an older one: a downgrade needs an explicit operator start). It waited behind a
    rollout, which may have been an operator's downgrade, so what is live is what counts."""
    return _stale_against_live(waiting.model, live_models)


# ----------------------------------------------------------------- operators: slot actions


def operator_event_id(kind: str, now: datetime, *parts: str) -> str:
    """The event id of a version an operator starts (no Event Grid event carries it):
    ``start-20261121T130501123456Z-1a2b3c4d5e6f``, unique per request and at most 64
    characters, so the rollout id derived from it is new too."""
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]
    return f"{kind}-{now.strftime('%Y%m%dT%H%M%S%fZ')}-{digest}"


def manual_start(
    active: Rollout | None,
    waiting: Waiting | None,
    model: ModelRef,
    policy: RolloutPolicy,
    now: datetime,
    live_models: Mapping[str, str | None],
    *,
    reason: str,
    actor: str,
    allow_downgrade: bool = False,
) -> Admission:
    """An operator starts ``model`` (an event was lost, or a downgrade): the same admission as
    a registered version, with the operator's reason; a version that would be ignored is
    refused (PhaseConflict naming why). An older version than the live one needs
    ``allow_downgrade``."""
    adm = admit(
        active,
        waiting,
        model,
        policy,
        now,
        live_models,
        started=STARTED_BY_OPERATOR,
        actor=actor,
        # the tags the policy matched are the operator's word, not read from the registry
        evidence={"reason": reason, "actor": actor, "tags_given_by_operator": dict(model.tags)},
        allow_downgrade=allow_downgrade,
    )
    if adm.outcome == "ignore":
        raise _refused("start", adm, active, waiting)
    return adm


def retry(
    latest: Rollout,
    active: Rollout | None,
    waiting: Waiting | None,
    policy: RolloutPolicy,
    now: datetime,
    live_models: Mapping[str, str | None],
    *,
    reason: str,
    actor: str,
) -> Admission:
    """Start the version of the endpoint's ``latest`` rollout again, as a new rollout, when it
    ended Failed or RolledBack and nothing else is active or waiting; the same admission
    rules as a registered version (a version no longer newer than the live one is refused)."""
    busy = active is not None and not active.phase.terminal
    if busy or latest.phase not in RETRYABLE or waiting is not None:
        shown = active if busy and active is not None else latest
        if waiting is not None and not busy and latest.phase in RETRYABLE:
            why = f"{waiting.model.asset_id} waits to start next; cancel it first"
        else:
            why = f"the latest rollout {shown.id} is {shown.phase.value}"
        raise PhaseConflict(
            f"retry is only for a Failed or RolledBack latest rollout: {why}",
            code="not_retryable",
            details={
                "phase": shown.phase.value,
                "rollout_id": shown.id,
                "allowed": allowed_actions(shown, waiting=waiting),
            },
        )
    model = replace(latest.model, event_id=operator_event_id("retry", now, latest.id))
    adm = admit(
        None,
        None,
        model,
        policy,
        now,
        live_models,
        started=RETRIED_BY_OPERATOR,
        actor=actor,
        evidence={
            "reason": reason,
            "actor": actor,
            "retry_of": latest.id,
            "previous_phase": latest.phase.value,
            "previous_reason": latest.reason,
        },
    )
    if adm.outcome == "ignore":
        raise _refused("retry", adm, latest, None)
    return adm


def _refused(
    action: str, adm: Admission, shown: Rollout | None, waiting: Waiting | None
) -> PhaseConflict:
    more = ""
    if adm.reason == OLDER_THAN_LIVE:
        more = ' (POST /api/rollouts with "allow_downgrade": true starts it)'
    return PhaseConflict(
        f"{action} refused: {adm.detail}{more}",
        code="start_refused" if action == "start" else "not_retryable",
        details={
            "reason": adm.reason,
            "allowed": allowed_actions(shown, waiting=waiting) if shown is not None else [],
        },
    )


@dataclass(frozen=True)
class Cancellation:
    """The waiting version dropped: the active rollout with the decision recorded on it (when
    one is active), and the version that will not start."""

    active: Rollout | None
    record: DecisionRecord | None
    cancelled: Waiting
    message: str


def cancel_waiting(
    active: Rollout | None, waiting: Waiting | None, now: datetime, *, reason: str, actor: str
) -> Cancellation:
    """Drop the waiting version. The decision goes into the active rollout's history without
    changing its status (its reason still says what the rollout is doing)."""
    if waiting is None:
        raise PhaseConflict(
            "cancel is not possible: no version is waiting on this endpoint",
            code="nothing_waiting",
            details={
                "phase": active.phase.value if active else None,
                "allowed": allowed_actions(active) if active is not None else [],
            },
        )
    message = f"{waiting.model.asset_id} will not start: cancelled by {actor} ({reason})"
    if active is None or active.phase.terminal:
        return Cancellation(active, None, waiting, message)
    evidence = {"reason": reason, "cancelled": waiting.model.to_dict()}
    record = _record(active, now, WAITING_CANCELLED, message, evidence, actor=actor).record
    assert record is not None
    # the record only: the rollout keeps its reason, message and evidence
    return Cancellation(active.evolve(seq=record.seq, updated_at=now), record, waiting, message)


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
