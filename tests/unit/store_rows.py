"""Rows the store tests build: a rollout and a decision record of endpoint ``ep``."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.model import DecisionRecord, ModelRef, Phase, Rollout
from shared.policy import RolloutPolicy

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def rollout(rid: str = "r1", phase: Phase = Phase.CANARY, seq: int = 0) -> Rollout:
    return Rollout(
        id=rid,
        endpoint="ep",
        model=ModelRef("m", "1"),
        policy=RolloutPolicy(),
        phase=phase,
        baseline="blue",
        canary="m-v1",
        created_at=T0,
        phase_since=T0,
        seq=seq,
    )


def decision(seq: int, **evidence: object) -> DecisionRecord:
    return DecisionRecord(
        seq, T0, "r1", Phase.CANARY, Phase.CANARY, 0, 0, "StageHeld", "", evidence=evidence
    )
