"""Admission: a registered version starts, waits, supersedes or is ignored; new rollouts. Pure."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from shared.machine.decide import decide
from shared.machine.records import Transition, _record
from shared.model import (
    Command,
    DecisionRecord,
    Effect,
    ModelRef,
    Observation,
    Phase,
    Rollout,
    Waiting,
    iso,
)
from shared.policy import RolloutPolicy
from shared.reasons import (
    ADMITTED,
    NOT_NEWER,
    OLDER_THAN_LIVE,
    QUEUED,
    REPLACED_WAITING,
    SAME_VERSION,
    STARTED_FROM_WAITING,
    SUPERSEDING,
    VERSION_ALREADY_LIVE,
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
