"""Operator use cases: steer a rollout, retry it, cancel the waiting version, start by hand.

Each one re-reads the endpoint's slot, asks the pure core (:mod:`shared.machine`) what the
action does, writes the slot under its ETag (a conflict re-reads and decides again, bounded),
then applies the effects, exactly like the engine's other use cases. The rollout's own
commands (pause, resume, promote, rollback, abort) go through :meth:`Engine.reconcile`;
``retry``, ``cancel`` and ``start`` change the slot itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared import applying, machine
from shared.errors import InvalidInput, NotFound, PhaseConflict, StaleState
from shared.machine import Admission
from shared.model import DecisionRecord, ModelRef, Rollout, Waiting, iso
from shared.observation import OPERATOR_ACTIONS, Command
from shared.ports import IgnoredEvent, RolloutQuery, RolloutStore, Slot, SlotWrite
from shared.writes import MAX_ATTEMPTS

if TYPE_CHECKING:
    from shared.engine_core import EngineCore
    from shared.operator_requests import StartRequest

log = logging.getLogger("autocanary")


@dataclass(frozen=True)
class ActionResult:
    """What an operator action did.

    rollout:   the rollout acted on (for start and retry: the new one; for a start that waits,
               the active one it waits for), None when there is none
    decision:  the decision the action recorded, None when it changed nothing
    outcome:   done | started | waiting | superseding | cancelled
    waiting:   the version waiting on the endpoint after the action
    cancelled: the version a cancel dropped
    """

    endpoint: str
    action: str
    rollout: Rollout | None
    decision: DecisionRecord | None
    outcome: str = "done"
    waiting: Waiting | None = None
    cancelled: Waiting | None = None


class Operators:
    """The operator use cases over an engine's ports (``Engine.act`` and ``Engine.start``)."""

    def __init__(self, engine: EngineCore) -> None:
        self.engine = engine
        self.store = engine.store
        self.clock = engine.clock

    # ------------------------------------------------------------------ endpoint actions
    def act(
        self, endpoint: str, action: str, reason: str, actor: str, *, full: bool = False
    ) -> ActionResult:
        if action not in machine.ACTIONS:
            raise InvalidInput(
                f"unknown action {action!r}",
                code="unknown_action",
                details={"allowed": list(machine.ACTIONS)},
            )
        if not reason.strip():
            raise InvalidInput("a reason is required")
        reason, actor = reason.strip(), (actor or "operator").strip()
        if action == "retry":
            return self.retry(endpoint, reason, actor)
        if action == "cancel":
            return self.cancel(endpoint, reason, actor)
        assert action in OPERATOR_ACTIONS
        command = Command(action, reason, actor=actor, full=full)  # type: ignore[arg-type]
        outcome = self.engine.reconcile(endpoint, command)
        slot = self.store.read(endpoint)
        rollout = self._rollout(endpoint, outcome.rollout_id, slot)
        decision = self._decision(endpoint, rollout, actor) if outcome.changed else None
        return ActionResult(endpoint, action, rollout, decision, waiting=slot.waiting)

    def retry(self, endpoint: str, reason: str, actor: str) -> ActionResult:
        """Start the latest rollout's version again (new rollout id) when it ended Failed or
        RolledBack; the policy is matched again, so a fixed policy applies to the retry."""
        for _ in range(MAX_ATTEMPTS):
            slot = self.engine.read_slot(endpoint)
            latest = self._latest(endpoint, slot)
            policy = None
            if latest.phase in machine.RETRYABLE and slot.waiting is None:
                placement = self.engine.policies.place(latest.model.name, latest.model.tags)
                policy = placement.policy
                if policy is None or policy.endpoint != latest.endpoint:
                    where = placement.detail if policy is None else f"endpoint {policy.endpoint}"
                    raise PhaseConflict(
                        f"retry refused: the policy no longer places {latest.model.asset_id} "
                        f"on {endpoint} ({where})",
                        code="not_retryable",
                        details={"reason": placement.reason, "allowed": []},
                    )
            adm = machine.retry(
                latest,
                slot.active,
                slot.waiting,
                policy or latest.policy,
                self.clock.now(),
                self.engine.live_models(endpoint),
                reason=reason,
                actor=actor,
            )
            result = self._admit(slot, adm, "retry")
            if result is not None:
                return result
        raise StaleState(f"endpoint {endpoint} kept changing; try again")

    def cancel(self, endpoint: str, reason: str, actor: str) -> ActionResult:
        """Drop the waiting version: recorded on the active rollout's history and kept as an
        ignored event (``GET /api/events?ignored=true``) with the reason."""
        for _ in range(MAX_ATTEMPTS):
            slot = self.store.read(endpoint)
            if slot.active is None and slot.waiting is None:
                self._latest(endpoint, slot)  # NotFound for an unknown endpoint
            now = self.clock.now()
            c = machine.cancel_waiting(slot.active, slot.waiting, now, reason=reason, actor=actor)
            rollouts = (c.active,) if c.record is not None and c.active is not None else ()
            try:
                self.store.write(
                    slot,
                    SlotWrite(
                        active=c.active,
                        waiting=None,
                        rollouts=rollouts,
                        decisions=(c.record,) if c.record is not None else (),
                    ),
                )
            except StaleState:
                continue
            model = c.cancelled.model
            applying.record_dropped(
                self.store,
                IgnoredEvent(
                    model.event_id or machine.operator_event_id("cancel", now, model.asset_id),
                    model,
                    machine.WAITING_CANCELLED,
                    c.message,
                    now,
                ),
            )
            log.info("endpoint %s: %s", endpoint, c.message)
            shown = c.active or self._newest(endpoint)
            return ActionResult(
                endpoint, "cancel", shown, c.record, outcome="cancelled", cancelled=c.cancelled
            )
        raise StaleState(f"endpoint {endpoint} kept changing; try again")

    # ------------------------------------------------------------------ manual start
    def start(self, req: StartRequest) -> ActionResult:
        """Start a version by hand, matched by the policy like a registered event."""
        tags = dict(req.tags)
        placement = self.engine.policies.place(req.model, tags)
        policy = placement.policy
        if policy is None:
            raise PhaseConflict(
                f"start refused: {placement.detail}",
                code="start_refused",
                details={"reason": placement.reason, "allowed": []},
            )
        endpoint = policy.endpoint
        if req.endpoint is not None and req.endpoint != endpoint:
            raise InvalidInput(
                f"the policy places {req.model} on endpoint {endpoint} (rule {policy.rule}), "
                f"not {req.endpoint}",
                code="endpoint_mismatch",
                details={"endpoint": endpoint, "rule": policy.rule},
            )
        for _ in range(MAX_ATTEMPTS):
            slot = self.engine.read_slot(endpoint)
            now = self.clock.now()
            model = ModelRef(
                req.model,
                req.version,
                tags=tags,
                event_id=machine.operator_event_id("start", now, req.model, req.version, endpoint),
                event_time=now,
            )
            adm = machine.manual_start(
                slot.active,
                slot.waiting,
                model,
                policy,
                now,
                self.engine.live_models(endpoint),
                reason=req.reason,
                actor=req.actor,
                allow_downgrade=req.allow_downgrade,
            )
            result = self._admit(slot, adm, "start")
            if result is not None:
                return result
        raise StaleState(f"endpoint {endpoint} kept changing; try again")

    # ------------------------------------------------------------------ helpers
    def _admit(self, slot: Slot, adm: Admission, action: str) -> ActionResult | None:
        """Write an admission (None: the slot changed meanwhile, decide again)."""
        try:
            self.engine.commit_admission(slot, adm)
        except StaleState:
            return None
        outcome = {"start": "started", "wait": "waiting", "supersede": "superseding"}[adm.outcome]
        log.info("endpoint %s: %s %s (%s)", slot.endpoint, action, outcome, adm.detail)
        now_slot = self.store.read(slot.endpoint)
        rollout = adm.active
        if adm.outcome == "start" and rollout is not None:
            rollout = self._rollout(slot.endpoint, rollout.id, now_slot)
        decision = adm.records[0] if adm.records else None
        return ActionResult(
            slot.endpoint, action, rollout, decision, outcome=outcome, waiting=now_slot.waiting
        )

    def _latest(self, endpoint: str, slot: Slot) -> Rollout:
        if slot.active is not None:
            return slot.active
        latest = self._newest(endpoint)
        if latest is None:
            raise NotFound(f"no rollout is known for endpoint {endpoint}", code="unknown_endpoint")
        return latest

    def _newest(self, endpoint: str) -> Rollout | None:
        latest = self.store.list_rollouts(RolloutQuery(endpoint=endpoint, limit=1))
        return latest[0] if latest else None

    def _rollout(self, endpoint: str, rollout_id: str | None, slot: Slot) -> Rollout | None:
        """The rollout ``rollout_id`` as stored now (the active one, or an ended one)."""
        if slot.active is not None and (rollout_id is None or slot.active.id == rollout_id):
            return slot.active
        for r in self.store.list_rollouts(RolloutQuery(endpoint=endpoint, limit=5)):
            if rollout_id is None or r.id == rollout_id:
                return r
        return slot.active

    def _decision(self, endpoint: str, r: Rollout | None, actor: str) -> DecisionRecord | None:
        """The newest decision ``actor`` recorded on ``r`` (the one this action wrote)."""
        if r is None:
            return None
        for d in reversed(self.store.decisions(endpoint, r.id)):
            if d.actor == actor:
                return d
        return None


def refuse_no_active(store: RolloutStore, endpoint: str, waiting: Waiting | None) -> None:
    """Refuse a rollout command on an endpoint with no active rollout: 404 when none is
    known there, else 409 ``no_active_rollout`` with what may be done instead (the retry of a
    Failed or RolledBack latest rollout, the cancel of a waiting version)."""
    latest = store.list_rollouts(RolloutQuery(endpoint=endpoint, limit=1))
    if not latest:
        raise NotFound(f"no rollout is known for endpoint {endpoint}", code="unknown_endpoint")
    raise PhaseConflict(
        f"endpoint {endpoint} has no active rollout (latest {latest[0].id} is "
        f"{latest[0].phase.value})",
        code="no_active_rollout",
        details={
            "phase": latest[0].phase.value,
            "allowed": machine.allowed_actions(latest[0], waiting=waiting),
        },
    )


def compact_view(r: Rollout, waiting: Waiting | None = None) -> dict[str, Any]:
    """The rollout fields an action reply carries (no decisions)."""
    return {
        **machine.summary(r),
        "allowed_actions": machine.allowed_actions(r, waiting=waiting),
        "outcome": r.phase.value if r.phase.terminal else None,
        "ended_at": iso(r.updated_at) if r.phase.terminal else None,
    }


def action_reply(
    result: ActionResult,
    view: Callable[[Rollout, Waiting | None], dict[str, Any]] = compact_view,
) -> dict[str, Any]:
    """The compact reply of an action: the new state (``view`` of the rollout, without its
    decisions), not the whole document."""
    reply: dict[str, Any] = {
        "endpoint": result.endpoint,
        "action": result.action,
        "outcome": result.outcome,
        "rollout": view(result.rollout, result.waiting) if result.rollout else None,
        "decision": result.decision.to_dict() if result.decision else None,
        "waiting": _waiting(result.waiting),
    }
    if result.cancelled is not None:
        reply["cancelled"] = _waiting(result.cancelled)
    return reply


def _waiting(w: Waiting | None) -> dict[str, Any] | None:
    if w is None:
        return None
    return {"model": w.model.to_dict(), "rule": w.policy.rule, "endpoint": w.policy.endpoint}
