"""The rollout domain: phases, the model version, the rollout record and its decisions (what the
engine observes is :mod:`shared.observation`, its effects :mod:`shared.effects`).

Pure values: no I/O, no Azure imports. Everything here round-trips through plain JSON-able
dicts (``to_dict``/``from_dict``) so the store can keep it and the HTTP API can show it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from shared.errors import InvalidInput
from shared.policy_fields import policy_from_dict
from shared.rollout_policy import RolloutPolicy


class Phase(StrEnum):
    PENDING = "Pending"
    PROVISIONING = "Provisioning"
    SHADOWING = "Shadowing"
    CANARY = "Canary"
    PROMOTING = "Promoting"
    WATCHING = "Watching"
    SUCCEEDED = "Succeeded"
    ROLLING_BACK = "RollingBack"
    ROLLED_BACK = "RolledBack"
    FAILED = "Failed"
    SUPERSEDED = "Superseded"
    ABORTED = "Aborted"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset(
    {Phase.SUCCEEDED, Phase.ROLLED_BACK, Phase.FAILED, Phase.SUPERSEDED, Phase.ABORTED}
)

# Provisioning states of an Azure ML online deployment (azure.md; REST spec
# DeploymentProvisioningState): Creating, Deleting, Scaling, Updating, Succeeded, Failed, Canceled.
PROVISIONED = "Succeeded"
PROVISION_FAILED = frozenset({"Failed", "Canceled"})


def iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).isoformat()


def parse_time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    t = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ModelRef:
    """A registered model version, as ModelRegistered announced it."""

    name: str
    version: str
    tags: Mapping[str, str] = field(default_factory=dict)
    event_id: str = ""
    event_time: datetime | None = None

    @property
    def asset_id(self) -> str:
        return f"azureml:{self.name}:{self.version}"

    def is_newer_than(self, other: ModelRef) -> bool:
        """Numeric versions compare as numbers; otherwise the later registration wins."""
        if self.name == other.name and self.version.isdigit() and other.version.isdigit():
            return int(self.version) > int(other.version)
        if self.event_time and other.event_time:
            return self.event_time > other.event_time
        return self.version != other.version

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "tags": dict(self.tags),
            "event_id": self.event_id,
            "event_time": iso(self.event_time),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ModelRef:
        return cls(
            name=str(raw["name"]),
            version=str(raw["version"]),
            tags={str(k): str(v) for k, v in (raw.get("tags") or {}).items()},
            event_id=str(raw.get("event_id") or ""),
            event_time=parse_time(raw.get("event_time")),
        )


_NAME_BAD = re.compile(r"[^a-z0-9-]+")
_MAX_VERSION_PART = 20  # leaves at least 10 characters of the model name in 32


def deployment_name(model_name: str, version: str, taken: frozenset[str] = frozenset()) -> str:
    """A deployment name after the model version, within Azure's rules: 3-32 characters,
    a letter first, letters, digits and hyphens, alphanumeric last (azure.md)."""
    version_part = _NAME_BAD.sub("-", version.lower()).strip("-") or "0"
    if len(version_part) > _MAX_VERSION_PART:
        # Too long to fit with the model name: a readable head and a digest of the exact
        # version (so two long versions sharing a head still get different names).
        digest = hashlib.sha256(version.encode("utf-8")).hexdigest()[:8]
        head = version_part[: _MAX_VERSION_PART - 9].rstrip("-")
        version_part = f"{head}-{digest}" if head else digest
    base = _NAME_BAD.sub("-", model_name.lower()).strip("-")
    if not base or not base[0].isalpha():
        base = "m-" + base if base else "model"
    suffix = f"-v{version_part}"
    base = base[: 32 - len(suffix)].rstrip("-")
    name = f"{base}{suffix}"[:32].rstrip("-")
    if len(name) < 3:
        name = (name + "-v0")[:32]
    # Azure resource names are case-insensitive (learn.microsoft.com/azure/azure-resource-
    # manager/management/resource-name-rules): "Fraud-v3" is taken for "fraud-v3"
    taken_lower = {t.lower() for t in taken}
    candidate, n = name, 2
    while candidate in taken_lower:
        tail = f"-{n}"
        candidate = name[: 32 - len(tail)].rstrip("-") + tail
        n += 1
    return candidate


# ---------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class DecisionRecord:
    """One decision of the engine, kept forever: why (reason constant) and on what evidence."""

    seq: int
    at: datetime
    rollout_id: str
    phase_from: Phase
    phase_to: Phase
    stage_from: int
    stage_to: int
    reason: str
    message: str
    actor: str = "engine"
    evidence: Mapping[str, Any] = field(default_factory=dict)
    effects: tuple[Mapping[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": iso(self.at),
            "rollout_id": self.rollout_id,
            "phase_from": self.phase_from.value,
            "phase_to": self.phase_to.value,
            "stage_from": self.stage_from,
            "stage_to": self.stage_to,
            "reason": self.reason,
            "message": self.message,
            "actor": self.actor,
            "evidence": dict(self.evidence),
            "effects": [dict(e) for e in self.effects],
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> DecisionRecord:
        at = parse_time(raw["at"])
        assert at is not None
        return cls(
            seq=int(raw["seq"]),
            at=at,
            rollout_id=str(raw["rollout_id"]),
            phase_from=Phase(raw["phase_from"]),
            phase_to=Phase(raw["phase_to"]),
            stage_from=int(raw["stage_from"]),
            stage_to=int(raw["stage_to"]),
            reason=str(raw["reason"]),
            message=str(raw.get("message", "")),
            actor=str(raw.get("actor", "engine")),
            evidence=dict(raw.get("evidence") or {}),
            effects=tuple(dict(e) for e in raw.get("effects") or ()),
        )


@dataclass(frozen=True)
class Rollout:
    """One model version's way onto one endpoint.

    ``stage`` is -1 before live traffic (Pending, Provisioning, Shadowing) and otherwise the
    index into ``policy.stages``. ``traffic``/``mirror`` are what the engine last asked Azure
    for; ``confirmed`` says it saw them live, so a later difference is a change made by hand.
    ``baseline_traffic``/``baseline_mirror`` are the split found before the rollout: a mirror
    set by its owners is lent to the shadow and given back after it, and after a rollback.
    ``outcome`` is where RollingBack ends (RolledBack, Aborted, Superseded, Failed).
    ``prev_traffic``/``prev_mirror`` are what was live before the last change was asked for,
    so a change still in flight is told apart from a change made by hand. ``cleanup`` marks
    that the deployment to remove was asked to be deleted. ``evidence`` is the latest
    evidence (judge verdict, observed split) behind ``reason``. ``failure`` is the effect or
    reconcile failure still unresolved (code, message, count, first and last time): a repeat
    only counts, so a persistent failure never grows the history. ``capacity`` is the canary's
    sizing (:mod:`shared.machine.capacity`): the baseline's live instance count, the canary's
    count as last seen, a stage waiting for the canary to scale, and its instance-seconds.
    """

    id: str
    endpoint: str
    model: ModelRef
    policy: RolloutPolicy
    phase: Phase
    baseline: str
    canary: str
    created_at: datetime
    phase_since: datetime
    stage: int = -1
    stage_since: datetime | None = None
    # when the split now asked for (not yet confirmed) was asked: the canary is judged for
    # rollback from then on, whatever split it is serving meanwhile
    asked_at: datetime | None = None
    # while provisioning (the engine gives the canary nothing): when the canary was first seen
    # serving live or mirrored traffic routed to it by hand; it is judged for rollback from then
    hand_since: datetime | None = None
    paused: bool = False
    pause_reason: str = ""
    traffic: Mapping[str, int] = field(default_factory=dict)
    mirror: Mapping[str, int] = field(default_factory=dict)
    confirmed: bool = True
    # when Azure reported the traffic update for the split asked for done (it is live), before
    # a reconcile saw it: the previous split seen again later was put back by hand
    landed_at: datetime | None = None
    outcome: Phase | None = None
    seq: int = 0
    reason: str = ""
    message: str = ""
    updated_at: datetime | None = None
    baseline_traffic: Mapping[str, int] = field(default_factory=dict)
    baseline_mirror: Mapping[str, int] = field(default_factory=dict)
    prev_traffic: Mapping[str, int] = field(default_factory=dict)
    prev_mirror: Mapping[str, int] = field(default_factory=dict)
    cleanup: bool = False
    evidence: Mapping[str, Any] = field(default_factory=dict)
    failure: Mapping[str, Any] = field(default_factory=dict)
    readings: Mapping[str, Any] = field(default_factory=dict)
    capacity: Mapping[str, Any] = field(default_factory=dict)
    # checks of the canary's answers passed so far (``smoke``: its evidence), so a passed
    # check is not run again on a later tick
    checks: Mapping[str, Any] = field(default_factory=dict)
    # the decision that turned the rollout (rollback, end, pause), kept for its explanation
    # once follow-up decisions come after it (shared.explain); {} until there is one
    decisive: Mapping[str, Any] = field(default_factory=dict)
    # the settled minutes the judge saw, compact and bounded (shared.series)
    series: tuple[Mapping[str, Any], ...] = ()
    # the rollback evidence carried from one judged phase to the next (shared.carry)
    chain: Mapping[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return not self.phase.terminal

    @property
    def stage_weight(self) -> int:
        return self.policy.stages[self.stage].weight if self.stage >= 0 else 0

    def evolve(self, **changes: Any) -> Rollout:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "endpoint": self.endpoint,
            "model": self.model.to_dict(),
            "policy": self.policy.to_dict(),
            "phase": self.phase.value,
            "baseline": self.baseline,
            "canary": self.canary,
            "created_at": iso(self.created_at),
            "phase_since": iso(self.phase_since),
            "stage": self.stage,
            "stage_since": iso(self.stage_since),
            "asked_at": iso(self.asked_at),
            "hand_since": iso(self.hand_since),
            "paused": self.paused,
            "pause_reason": self.pause_reason,
            "traffic": dict(self.traffic),
            "mirror": dict(self.mirror),
            "confirmed": self.confirmed,
            "landed_at": iso(self.landed_at),
            "outcome": self.outcome.value if self.outcome else None,
            "seq": self.seq,
            "reason": self.reason,
            "message": self.message,
            "updated_at": iso(self.updated_at),
            "baseline_traffic": dict(self.baseline_traffic),
            "baseline_mirror": dict(self.baseline_mirror),
            "prev_traffic": dict(self.prev_traffic),
            "prev_mirror": dict(self.prev_mirror),
            "cleanup": self.cleanup,
            "evidence": dict(self.evidence),
            "failure": dict(self.failure),
            "readings": dict(self.readings),
            "capacity": dict(self.capacity),
            "checks": dict(self.checks),
            "decisive": dict(self.decisive),
            "series": [dict(e) for e in self.series],
            "chain": dict(self.chain),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Rollout:
        try:
            created = parse_time(raw["created_at"])
            since = parse_time(raw["phase_since"])
            assert created is not None and since is not None
            return cls(
                id=str(raw["id"]),
                endpoint=str(raw["endpoint"]),
                model=ModelRef.from_dict(raw["model"]),
                policy=policy_from_dict(raw["policy"]),
                phase=Phase(raw["phase"]),
                baseline=str(raw["baseline"]),
                canary=str(raw["canary"]),
                created_at=created,
                phase_since=since,
                stage=int(raw.get("stage", -1)),
                stage_since=parse_time(raw.get("stage_since")),
                asked_at=parse_time(raw.get("asked_at")),
                hand_since=parse_time(raw.get("hand_since")),
                paused=bool(raw.get("paused", False)),
                pause_reason=str(raw.get("pause_reason") or ""),
                traffic=_percents(raw.get("traffic")),
                mirror=_percents(raw.get("mirror")),
                confirmed=bool(raw.get("confirmed", True)),
                landed_at=parse_time(raw.get("landed_at")),
                outcome=Phase(raw["outcome"]) if raw.get("outcome") else None,
                seq=int(raw.get("seq", 0)),
                reason=str(raw.get("reason") or ""),
                message=str(raw.get("message") or ""),
                updated_at=parse_time(raw.get("updated_at")),
                baseline_traffic=_percents(raw.get("baseline_traffic")),
                baseline_mirror=_percents(raw.get("baseline_mirror")),
                prev_traffic=_percents(raw.get("prev_traffic")),
                prev_mirror=_percents(raw.get("prev_mirror")),
                cleanup=bool(raw.get("cleanup", False)),
                evidence=dict(raw.get("evidence") or {}),
                failure=dict(raw.get("failure") or {}),
                readings=dict(raw.get("readings") or {}),
                capacity=dict(raw.get("capacity") or {}),
                checks=dict(raw.get("checks") or {}),
                decisive=dict(raw.get("decisive") or {}),
                series=tuple(dict(e) for e in raw.get("series") or ()),
                chain=dict(raw.get("chain") or {}),
            )
        except (KeyError, ValueError, TypeError, AssertionError) as exc:
            raise InvalidInput(f"stored rollout is malformed: {exc!r}") from exc


def _percents(raw: Any) -> dict[str, int]:
    return {str(k): int(v) for k, v in (raw or {}).items()}


@dataclass(frozen=True)
class Waiting:
    """A newer model version parked behind the active rollout of its endpoint."""

    model: ModelRef
    policy: RolloutPolicy

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model.to_dict(), "policy": self.policy.to_dict()}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Waiting:
        return cls(ModelRef.from_dict(raw["model"]), policy_from_dict(raw["policy"]))
