"""Carrying out what the core decided: one call to Azure per effect, the lifecycle events of the
slot's outbox to Event Grid, and notices to the chat channels. Functions over the ports (the
engine passes its own); none of them decides anything.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from shared import machine
from shared.effects import (
    CopyAutoscale,
    CreateDeployment,
    DeleteAutoscale,
    DeleteDeployment,
    Effect,
    PublishEvent,
    ScaleDeployment,
    SetTraffic,
)
from shared.errors import StaleState
from shared.model import Rollout
from shared.ports import (
    AutoscaleControl,
    EndpointControl,
    EventPublisher,
    RolloutStore,
    Slot,
    SlotWrite,
)
from shared.writes import MAX_ATTEMPTS

if TYPE_CHECKING:
    from shared.notify.dispatch import Notifications

log = logging.getLogger("autocanary")


def apply_effect(
    endpoints: EndpointControl, autoscale: AutoscaleControl | None, r: Rollout, effect: Effect
) -> None:
    """One effect's call to Azure (idempotent). Autoscale effects are skipped when the
    endpoints have no autoscale settings to carry (``autoscale`` None); lifecycle events are
    not effects on Azure (they go out from the outbox)."""
    if isinstance(effect, CreateDeployment):
        endpoints.create_deployment(r.endpoint, effect)
    elif isinstance(effect, SetTraffic):
        endpoints.set_traffic(r.endpoint, effect.traffic, effect.mirror)
    elif isinstance(effect, DeleteDeployment):
        endpoints.delete_deployment(r.endpoint, effect.name)
    elif isinstance(effect, ScaleDeployment):
        endpoints.scale_deployment(r.endpoint, effect.name, effect.instance_count)
    elif isinstance(effect, CopyAutoscale) and autoscale is not None:
        autoscale.copy_to(r.endpoint, effect.source, effect.target)
    elif isinstance(effect, DeleteAutoscale) and autoscale is not None:
        autoscale.delete_for(r.endpoint, effect.name)


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
            events.publish(event.type, event.subject, event.data, event_id=event.id)
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


def clear_failure(store: RolloutStore, endpoint: str, rollout_id: str) -> None:
    """Take a failure recorded on the rollout off it once its effects went through (the core
    says what that leaves); a rollout no longer active is left alone."""
    for _ in range(3):
        slot = store.read(endpoint)
        r = slot.active
        cleared = machine.effects_succeeded(r) if r is not None and r.id == rollout_id else None
        if cleared is None:
            return
        try:
            store.write(slot, SlotWrite(active=cleared, waiting=slot.waiting, rollouts=(cleared,)))
            return
        except StaleState:
            continue
