"""Carrying out what the core decided: one call to Azure per effect, the lifecycle events of the
slot's outbox to Event Grid, and notices to the chat channels. Functions over the ports (the
engine passes its own), and :class:`Applier`, which commits a transition and carries out its
effects, handing a failed call back to the core; none of them decides anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from shared import machine
from shared.decisionlog import log_decisions
from shared.effects import (
    CopyAutoscale,
    CreateDeployment,
    DeleteAutoscale,
    DeleteDeployment,
    Effect,
    OutboxEvent,
    PublishEvent,
    ScaleDeployment,
    SetTraffic,
)
from shared.errors import AutocanaryError, StaleState, Superseded, is_permanent
from shared.machine import Transition
from shared.model import Rollout
from shared.ports import (
    AutoscaleControl,
    Clock,
    EndpointControl,
    EventPublisher,
    IgnoredEvent,
    RolloutStore,
    Slot,
    SlotWrite,
)
from shared.ticking import error_dict
from shared.writes import MAX_ATTEMPTS, transition_write

if TYPE_CHECKING:
    from shared.notify.dispatch import Notifications

log = logging.getLogger("autocanary")


def apply_effect(
    endpoints: EndpointControl,
    autoscale: AutoscaleControl | None,
    r: Rollout,
    effect: Effect,
    still_wanted: Callable[[], bool] | None = None,
) -> bool:
    """One effect's call to Azure (idempotent); True for a traffic update Azure reported
    done (its split is live). Autoscale effects are skipped when the
    endpoints have no autoscale settings to carry (``autoscale`` None); lifecycle events are
    not effects on Azure (they go out from the outbox). A traffic update asks
    ``still_wanted`` right before it is sent (:meth:`Applier.still_wanted`)."""
    if isinstance(effect, CreateDeployment):
        endpoints.create_deployment(r.endpoint, effect)
    elif isinstance(effect, SetTraffic):
        return endpoints.set_traffic(r.endpoint, effect.traffic, effect.mirror, still_wanted)
    elif isinstance(effect, DeleteDeployment):
        endpoints.delete_deployment(r.endpoint, effect.name)
    elif isinstance(effect, ScaleDeployment):
        endpoints.scale_deployment(r.endpoint, effect.name, effect.instance_count)
    elif isinstance(effect, CopyAutoscale) and autoscale is not None:
        autoscale.copy_to(r.endpoint, effect.source, effect.target)
    elif isinstance(effect, DeleteAutoscale) and autoscale is not None:
        autoscale.delete_for(r.endpoint, effect.name, copies_only=effect.copies_only)
    return False


def _time(event: OutboxEvent) -> datetime | None:
    """The event's decision time (None: stored without one, or unreadable: the send's)."""
    try:
        return datetime.fromisoformat(event.time) if event.time else None
    except ValueError:
        return None


def log_dropped(endpoint: str, dropped: Sequence[OutboxEvent]) -> None:
    """Say which unsent lifecycle events a write took off the full outbox (the topic has
    refused events for a long while: see ``shared.writes.MAX_OUTBOX_EVENTS``)."""
    if dropped:
        log.error(
            "the event outbox of %s is full (the topic keeps refusing events): %d unsent "
            "lifecycle event(s) dropped, oldest first: %s",
            endpoint,
            len(dropped),
            ", ".join(f"{e.type} {e.id}" for e in dropped[:10]),
        )


def announce(notifications: Notifications | None, r: Rollout, effects: Sequence[Effect]) -> None:
    """Tell people about the lifecycle events of a transition just committed (once: the
    outbox may resend an event to Event Grid; a chat notice is never repeated). Queued for
    the channels' senders: this never blocks on a webhook."""
    if notifications is None:
        return
    for effect in effects:
        if isinstance(effect, PublishEvent):
            notifications.rollout_event(r, effect)


def send_outbox(store: RolloutStore, events: EventPublisher, slot: Slot) -> Slot:
    """Send the slot's unsent lifecycle events in order, then take the sent ones off its
    outbox (ETag-guarded; a stale slot is re-read). An event that fails to go out stops the
    rest (order is kept) and stays for the next tick; a crash between the send and the removal
    resends it with the same id. Returns the slot as it now stands."""
    sent: set[str] = set()
    for event in slot.outbox:
        try:
            events.publish(
                event.type, event.subject, event.data, event_id=event.id, time=_time(event)
            )
        except Exception as exc:
            log.warning(
                "publishing %s (%s) failed, kept for the next tick: %s", event.type, event.id, exc
            )
            break
        sent.add(event.id)
    for _ in range(MAX_ATTEMPTS):
        left = tuple(e for e in slot.outbox if e.id not in sent)
        if len(left) == len(slot.outbox):
            return slot
        try:
            return store.write(
                slot, SlotWrite(active=slot.active, waiting=slot.waiting, outbox=left)
            )
        except StaleState:
            slot = store.read(slot.endpoint)
    return slot


def clear_failure_of(
    store: RolloutStore, endpoint: str, rollout_id: str, applied: Sequence[Effect] = ()
) -> None:
    """Write what the calls just made (``applied``, all gone through) settle on the rollout:
    a failure recorded on it taken off once what failed went through, a rollback's autoscale
    copy once deleted (the core says what, :func:`shared.machine.effects_succeeded`); a
    rollout no longer active is left alone."""
    for _ in range(3):
        slot = store.read(endpoint)
        r = slot.active
        ok = r is not None and r.id == rollout_id
        cleared = machine.effects_succeeded(r, applied) if r is not None and ok else None
        if cleared is None:
            return
        try:
            store.write(slot, SlotWrite(active=cleared, waiting=slot.waiting, rollouts=(cleared,)))
            return
        except StaleState:
            continue


@dataclass(frozen=True)
class Applier:
    """The engine's ports as a transition's commit and effects need them (the engine builds one
    from its own when it needs it)."""

    store: RolloutStore
    endpoints: EndpointControl
    autoscale: AutoscaleControl | None
    events: EventPublisher
    notifications: Notifications | None
    clock: Clock

    def commit(self, slot: Slot, t: Transition) -> Slot | None:
        """Write the transition (its lifecycle events into the slot's outbox, in the same
        write); the slot as written, or None when nothing changed."""
        planned = transition_write(slot, t)
        if planned is None:
            return None
        written = self.store.write(slot, planned)
        log_decisions(planned.decisions, planned.rollouts)
        log_dropped(slot.endpoint, planned.dropped)
        return written

    def apply(
        self, r: Rollout, effects: Sequence[Effect], *, clear_failure: bool = True
    ) -> BaseException | None:
        """Apply the calls to Azure in order; a failed one is handed to the core
        (``effect_failed``) and stops the others (the next reconcile re-issues them: every
        effect is idempotent). Lifecycle events are not sent here: they were written to the
        slot's outbox with the state they announce and go out from there (:func:`send_outbox`),
        whatever the calls did. When every call went through, a failure left over is cleared.
        A traffic update that a newer decision replaced before it was sent ends the calls and
        is not recorded as a failure (the newer decision's own calls carry the rollout on):
        the :class:`~shared.errors.Superseded` is returned, so that the caller answers from the
        stored state rather than from the decision it made. Returns the failure, if one call
        failed."""
        failed: BaseException | None = None
        landed: SetTraffic | None = None
        for effect in effects:
            if failed is not None or isinstance(effect, PublishEvent):
                continue
            try:
                done = apply_effect(
                    self.endpoints, self.autoscale, r, effect, self.still_wanted(r, effect)
                )
                if done and isinstance(effect, SetTraffic):
                    landed = effect
            except Superseded as exc:
                log.info("%s on %s not sent: %s", effect.kind, r.endpoint, exc.message)
                return exc
            except Exception as exc:
                log.warning("effect %s on %s failed: %s", effect.kind, r.endpoint, exc)
                self.record_failure(r.endpoint, exc, effect=effect, rollout_id=r.id)
                failed = exc
        if failed is not None:
            return failed
        if landed is not None:
            self.note_landed(r, landed)
        calls = [e for e in effects if not isinstance(e, PublishEvent)]
        if clear_failure and machine.effects_succeeded(r, calls) is not None:
            clear_failure_of(self.store, r.endpoint, r.id, calls)
        return None

    def still_wanted(self, r: Rollout, effect: Effect) -> Callable[[], bool] | None:
        """The question a traffic update of ``r`` asks right before it is sent: does the
        stored rollout still ask for that split (:func:`shared.machine.still_asks`)? The slot
        is read afresh each time (after a wait for a busy endpoint too). A failed read answers
        yes: the split was decided on a read moments ago, and a rollback must not wait on the
        store. None for any other effect."""
        if not isinstance(effect, SetTraffic):
            return None

        def ask() -> bool:
            try:
                current = self.store.read(r.endpoint).active
            except Exception as exc:
                log.warning("could not re-read %s before a traffic update: %s", r.endpoint, exc)
                return True
            return machine.still_asks(current, r.id, effect.traffic, effect.mirror)

        return ask

    def note_landed(self, r: Rollout, effect: SetTraffic) -> None:
        """Note on the stored rollout that Azure reported its split live
        (:func:`shared.machine.traffic_landed`), under the slot's ETag; no decision is
        recorded (the next reconcile confirms the split, as before). Best effort: when the
        slot changed meanwhile, or the write fails, nothing is noted."""
        try:
            slot = self.store.read(r.endpoint)
            now = self.clock.now()
            noted = machine.traffic_landed(slot.active, r.id, effect.traffic, effect.mirror, now)
            if noted is not None:
                self.store.write(
                    slot, SlotWrite(active=noted, waiting=slot.waiting, rollouts=(noted,))
                )
        except StaleState:
            return
        except AutocanaryError as exc:
            log.warning("could not note the split of %s as live: %s", r.endpoint, exc.message)

    def record_failure(
        self,
        endpoint: str,
        exc: BaseException,
        *,
        effect: Effect | None = None,
        rollout_id: str | None = None,
    ) -> None:
        """Hand a failure to the core and write what it decides (best effort, bounded)."""
        error = error_dict(exc)
        for _ in range(3):
            try:
                slot = self.store.read(endpoint)
                r = slot.active
                if r is None or r.phase.terminal or (rollout_id and r.id != rollout_id):
                    return
                now = self.clock.now()
                t = machine.effect_failed(r, error, now, effect=effect, permanent=is_permanent(exc))
                stored = self.commit(slot, t)
            except StaleState:
                continue
            except Exception:
                log.exception("could not record the failure on %s", endpoint)
                return
            self.apply(t.rollout, t.effects, clear_failure=False)
            if stored is not None:
                announce(self.notifications, t.rollout, t.effects)
                send_outbox(self.store, self.events, stored)
            return


def record_dropped(store: RolloutStore, event: IgnoredEvent) -> None:
    """List a version that was dropped after its slot write (a cancelled or replaced waiting
    version) with the ignored events. Best effort: the slot write, and its decision where there
    is one, already holds the change, so a failure here is logged and never undoes it or
    reports it as not done (a retry of the request would then find nothing to drop)."""
    try:
        store.record_ignored(event)
    except AutocanaryError as exc:
        log.error(
            "endpoint version %s dropped (%s) but not listed with the ignored events: %s",
            event.model.asset_id,
            event.reason,
            exc.message,
        )
