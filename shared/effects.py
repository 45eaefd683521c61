"""Effects: what the core asks of Azure (one idempotent call each) and the lifecycle events it
announces, with the outbox entry an event becomes. Pure values; the services layer carries them
out (:mod:`shared.applying`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from shared.model import ModelRef


@dataclass(frozen=True)
class CreateDeployment:
    """Clone ``source`` with ``model`` as deployment ``name`` (create-or-update: idempotent)."""

    name: str
    source: str
    model: ModelRef
    instance_count: int | None = None
    kind: Literal["create_deployment"] = "create_deployment"


@dataclass(frozen=True)
class SetTraffic:
    """Set the endpoint's traffic and mirror maps in one update (idempotent)."""

    traffic: Mapping[str, int]
    mirror: Mapping[str, int]
    kind: Literal["set_traffic"] = "set_traffic"


@dataclass(frozen=True)
class DeleteDeployment:
    name: str
    kind: Literal["delete_deployment"] = "delete_deployment"


@dataclass(frozen=True)
class ScaleDeployment:
    """Set deployment ``name``'s instance count (create-or-update with the count: idempotent).
    Azure answers Updating, then Succeeded once the instances run."""

    name: str
    instance_count: int
    kind: Literal["scale_deployment"] = "scale_deployment"


@dataclass(frozen=True)
class CopyAutoscale:
    """Give ``target`` a copy of the Azure Monitor autoscale setting that targets ``source``
    (profiles, rules, min/max/default), retargeted; nothing when ``source`` has none."""

    source: str
    target: str
    kind: Literal["copy_autoscale"] = "copy_autoscale"


@dataclass(frozen=True)
class DeleteAutoscale:
    """Remove every autoscale setting that targets deployment ``name`` (none: nothing); with
    ``copies_only``, only the copies autocanary made (by their names: a setting the owners put
    on the deployment themselves stays, for a deployment that stays)."""

    name: str
    copies_only: bool = False
    kind: Literal["delete_autoscale"] = "delete_autoscale"


@dataclass(frozen=True)
class PublishEvent:
    """A lifecycle event (CloudEvent type suffix, e.g. ``RolloutStarted``) and its data."""

    type: str
    data: Mapping[str, Any]
    kind: Literal["publish_event"] = "publish_event"


Effect = (
    CreateDeployment
    | SetTraffic
    | DeleteDeployment
    | ScaleDeployment
    | CopyAutoscale
    | DeleteAutoscale
    | PublishEvent
)


@dataclass(frozen=True)
class OutboxEvent:
    """A lifecycle event in a slot's outbox: written in the same atomic write as the state it
    announces, sent after that write, and taken off the outbox once sent. ``id`` is stable
    (rollout id, decision seq, position), so a resend after a crash between the send and the
    removal is the same CloudEvent: consumers deduplicate by id (CloudEvents 1.0: "If a
    duplicate event is re-sent (e.g. due to a network error) it MAY have the same id").
    """

    id: str
    type: str
    subject: str
    data: Mapping[str, Any]
    # when its decision was made (ISO 8601), the CloudEvent's time: a resend after an outage
    # keeps it ("" for an event stored before events carried it: the send time is used)
    time: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = {"id": self.id, "type": self.type, "subject": self.subject, "data": dict(self.data)}
        return {**out, "time": self.time} if self.time else out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> OutboxEvent:
        return cls(
            id=str(raw["id"]),
            type=str(raw["type"]),
            subject=str(raw["subject"]),
            data=dict(raw.get("data") or {}),
            time=str(raw.get("time") or ""),
        )


def effect_to_dict(effect: Effect) -> dict[str, Any]:
    if isinstance(effect, CreateDeployment):
        return {
            "kind": effect.kind,
            "name": effect.name,
            "source": effect.source,
            "model": effect.model.asset_id,
            "instance_count": effect.instance_count,
        }
    if isinstance(effect, SetTraffic):
        return {"kind": effect.kind, "traffic": dict(effect.traffic), "mirror": dict(effect.mirror)}
    if isinstance(effect, DeleteAutoscale) and effect.copies_only:
        return {"kind": effect.kind, "name": effect.name, "copies_only": True}
    if isinstance(effect, DeleteDeployment | DeleteAutoscale):
        return {"kind": effect.kind, "name": effect.name}
    if isinstance(effect, ScaleDeployment):
        return {"kind": effect.kind, "name": effect.name, "instance_count": effect.instance_count}
    if isinstance(effect, CopyAutoscale):
        return {"kind": effect.kind, "source": effect.source, "target": effect.target}
    return {"kind": effect.kind, "type": effect.type, "data": dict(effect.data)}
