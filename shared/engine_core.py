"""What the use cases beside the engine (``shared.operators``, ``shared.alerting``,
``shared.ingest``) need of it: its ports and the few engine calls they make. A Protocol, so
they depend on this and not on ``shared.services`` (which builds them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from shared.machine import Admission
    from shared.notify.dispatch import Notifications
    from shared.observation import Command
    from shared.policy import PolicySet
    from shared.ports import Clock, RolloutStore, Slot


class Reconciled(Protocol):
    """What they read of a reconcile's outcome (``shared.ticking.ReconcileOutcome``)."""

    @property
    def rollout_id(self) -> str | None: ...

    @property
    def reason(self) -> str | None: ...

    @property
    def changed(self) -> bool: ...

    @property
    def error(self) -> dict[str, Any] | None: ...

    @property
    def effect_retryable(self) -> bool: ...


class EngineCore(Protocol):
    """The engine (``shared.services.Engine``) as the use cases beside it see it."""

    store: RolloutStore
    clock: Clock
    policies: PolicySet
    notifications: Notifications | None
    workspace_id: str | None

    def reconcile(self, endpoint: str, command: Command | None = None) -> Reconciled: ...

    def live_models(self, endpoint: str) -> dict[str, str | None]:
        """The models the endpoint serves live now (deployment -> azureml:name:version)."""
        ...

    def read_slot(self, endpoint: str) -> Slot:
        """The endpoint's slot, a waiting version left behind by a crash (between a rollout's
        end and its start) first started or dropped (see ``Engine.read_slot``)."""
        ...

    def commit_admission(self, slot: Slot, adm: Admission, event_id: str | None = None) -> None:
        """Write an admission and carry out what it asks (see ``Engine.commit_admission``)."""
        ...
