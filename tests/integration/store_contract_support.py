"""Rows the RolloutStore contract tests build (a model, a rollout, a decision) and a start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.model import DecisionRecord, ModelRef, Phase, Rollout
from shared.policy import RolloutPolicy
from shared.ports import RolloutStore, Slot, SlotWrite

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
NASTY = "ep/a\\b#c?d|e%f~g\x01h\x7fi\u0085j"


def model(name: str = "fraud", version: str = "1", **tags: str) -> ModelRef:
    return ModelRef(name=name, version=version, tags=tags, event_id=f"ev-{name}-{version}")


def rollout(
    rid: str,
    endpoint: str = "ep-1",
    *,
    phase: Phase = Phase.CANARY,
    name: str = "fraud",
    version: str = "1",
    created: datetime = T0,
    seq: int = 0,
) -> Rollout:
    return Rollout(
        id=rid,
        endpoint=endpoint,
        model=model(name, version),
        policy=RolloutPolicy(endpoint=endpoint),
        phase=phase,
        baseline="blue",
        canary=f"{name}-v{version}",
        created_at=created,
        phase_since=created,
        stage=0 if phase is Phase.CANARY else -1,
        traffic={"blue": 90, f"{name}-v{version}": 10},
        seq=seq,
    )


def decision(rid: str, seq: int, at: datetime | None = None, **evidence: Any) -> DecisionRecord:
    """A StageHeld decision, ``seq`` minutes after T0 unless ``at`` says when."""
    return DecisionRecord(
        seq=seq,
        at=T0 + timedelta(minutes=seq) if at is None else at,
        rollout_id=rid,
        phase_from=Phase.CANARY,
        phase_to=Phase.CANARY,
        stage_from=0,
        stage_to=0,
        reason="StageHeld",
        message=f"decision {seq}",
        evidence=evidence,
    )


def start(store: RolloutStore, r: Rollout, event_id: str | None = None) -> Slot:
    """Put ``r`` as the active rollout of its (empty or ended) endpoint."""
    before = store.read(r.endpoint)
    return store.write(before, SlotWrite(active=r, waiting=before.waiting, event_id=event_id))
