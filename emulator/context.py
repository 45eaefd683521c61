"""The contract between the emulator's parts.

The server (``emulator.app``) builds one :class:`Context` and an aiohttp ``web.Application``,
then calls ``setup(app, ctx)`` of each add-on module: ``emulator.monitor`` (metrics batch API),
``emulator.logs`` (Log Analytics query API), ``emulator.alerts`` (metric alert rules),
``emulator.eventgrid`` (Event Grid subscriptions and delivery). Add-ons read requests from
``ctx.records`` and endpoint facts through ``ctx.endpoints``; the ARM part announces model
registrations through ``ctx.events``. Background loops are started from ``app.on_startup`` /
stopped from ``app.on_cleanup`` by the module that owns them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from emulator.records import RequestLog


@dataclass(frozen=True)
class Identity:
    """Where the emulated workspace lives: ARM ids are built from these."""

    subscription: str = "00000000-0000-0000-0000-000000000000"
    resource_group: str = "rg-autocanary-local"
    workspace: str = "ws-local"
    location: str = "localregion"

    @property
    def workspace_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{self.workspace}"
        )

    def endpoint_id(self, endpoint: str) -> str:
        return f"{self.workspace_id}/onlineEndpoints/{endpoint}"

    def deployment_id(self, endpoint: str, deployment: str) -> str:
        return f"{self.endpoint_id(endpoint)}/deployments/{deployment}"


class EndpointDirectory(Protocol):
    """Read-only view of the emulated endpoints, for the add-ons."""

    def endpoint_names(self) -> list[str]: ...

    def deployment_names(self, endpoint: str) -> list[str]: ...


class EventSink(Protocol):
    """Where the ARM part announces events (implemented by emulator.eventgrid)."""

    def model_registered(
        self,
        name: str,
        version: str,
        tags: Mapping[str, str],
        properties: Mapping[str, str],
    ) -> None:
        """Emit Microsoft.MachineLearningServices.ModelRegistered to every subscription."""
        ...


class _NoEvents:
    def model_registered(
        self,
        name: str,
        version: str,
        tags: Mapping[str, str],
        properties: Mapping[str, str],
    ) -> None:
        return None


@dataclass
class Context:
    """Shared state of one emulator process."""

    identity: Identity
    records: RequestLog
    endpoints: EndpointDirectory
    state_dir: Path
    bucket_seconds: float = 60.0
    events: EventSink = field(default_factory=_NoEvents)
    extras: dict[str, Any] = field(default_factory=dict)
