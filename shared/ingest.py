"""The ingest path: a registered model (Event Grid ``ModelRegistered``) is placed by the
rollout policy and admitted by the state machine (``shared.machine.admit``): started, waiting
or ignored, exactly once per event id."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from shared.errors import DuplicateEvent, InvalidInput, StaleState
from shared.machine import admit
from shared.model import ModelRef
from shared.ports import IgnoredEvent
from shared.reasons import OTHER_WORKSPACE
from shared.writes import MAX_ATTEMPTS

if TYPE_CHECKING:
    from shared.engine_core import EngineCore
    from shared.notify.routes import Routes

log = logging.getLogger("autocanary")


@dataclass(frozen=True)
class IngestResult:
    outcome: str  # started, waiting, superseding, ignored, duplicate
    reason: str
    detail: str
    endpoint: str | None = None
    rollout_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Ingest:
    """Registered models over an engine (``Engine.on_model_registered``)."""

    def __init__(self, engine: EngineCore) -> None:
        self.engine = engine

    def on_model_registered(self, model: ModelRef, topic: str | None = None) -> IngestResult:
        """Record the rollout for a registered model exactly once per event id. ``topic``,
        the event's (the workspace's ARM id for Azure ML's system topic, MicrosoftDocs/
        azure-docs articles/event-grid/event-schema-machine-learning.md): an event from
        another workspace is ignored, since its model is not this workspace's to deploy."""
        if not model.event_id:
            raise InvalidInput("event has no id")
        workspace = self.engine.workspace_id
        if topic and workspace and topic.lower().rstrip("/") != workspace:
            detail = f"topic {topic} is not this app's workspace {workspace}"
            return self._ignore(model, OTHER_WORKSPACE, detail)
        placement = self.engine.policies.place(model.name, model.tags)
        if placement.policy is None:
            return self._ignore(model, placement.reason, placement.detail, routes=placement.notify)
        policy = placement.policy
        endpoint = policy.endpoint
        for _ in range(MAX_ATTEMPTS):
            if self.engine.store.event_seen(endpoint, model.event_id):
                return self._duplicate(endpoint)
            slot = self.engine.read_slot(endpoint)
            now = self.engine.clock.now()
            live = self.engine.live_models(endpoint)
            adm = admit(slot.active, slot.waiting, model, policy, now, live)
            if adm.outcome == "ignore":
                # The event is claimed in the same write as the slot it changed, so a slot
                # read after that write always finds the claim: a concurrent duplicate
                # delivery is told apart from a genuinely ignorable version here.
                if self.engine.store.event_seen(endpoint, model.event_id):
                    return self._duplicate(endpoint)
                return self._ignore(model, adm.reason, adm.detail, endpoint, routes=policy.notify)
            try:
                self.engine.commit_admission(slot, adm, model.event_id)
            except StaleState:
                continue
            except DuplicateEvent:
                return self._duplicate(endpoint)
            log.info("model %s: %s (%s)", model.asset_id, adm.outcome, adm.detail)
            outcome = {"start": "started", "wait": "waiting", "supersede": "superseding"}
            return IngestResult(
                outcome[adm.outcome],
                adm.reason,
                adm.detail,
                endpoint,
                adm.active.id if adm.active else None,
            )
        raise StaleState(f"endpoint {endpoint} kept changing; event will be retried")

    def _duplicate(self, endpoint: str) -> IngestResult:
        return IngestResult("duplicate", "DuplicateEvent", "event already recorded", endpoint)

    def _ignore(
        self,
        model: ModelRef,
        reason: str,
        detail: str,
        endpoint: str | None = None,
        *,
        routes: Routes = (),
    ) -> IngestResult:
        first = self.engine.store.record_ignored(
            IgnoredEvent(model.event_id, model, reason, detail, self.engine.clock.now())
        )
        log.info("model %s ignored: %s (%s)", model.asset_id, reason, detail)
        if first and self.engine.notifications is not None:
            self.engine.notifications.model_ignored(
                model, reason, detail, endpoint=endpoint, routes=routes
            )
        return IngestResult("ignored" if first else "duplicate", reason, detail, endpoint)
