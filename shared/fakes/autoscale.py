"""Azure Monitor autoscale settings in memory, one per target deployment or more, as Azure
keeps them: a resource of their own (deleting a deployment leaves its setting behind).

A copy is named after its target (``{endpoint}-{deployment}-autoscale``), so copying again
updates the same setting; the contract suite runs this fake and the azure-mgmt-monitor adapter
(on the emulator) through the same tests.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace

from shared.errors import UpstreamError
from shared.ports import AutoscaleSetting
from shared.ports import autoscale_copy_name_on as copy_name_on
from shared.ports import is_autoscale_copy_name as is_copy_name


@dataclass
class FakeAutoscale:
    """AutoscaleControl in memory: ``settings`` maps (endpoint, setting name) to the setting."""

    settings: dict[tuple[str, str], AutoscaleSetting] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    fail_next: list[Exception] = field(default_factory=list)
    # an Azure error code every copy is refused with, for good (400), as Azure refuses a
    # retargeting PUT (TargetResourceIdIsImmutable); "" refuses none
    refuse_copy: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # ---------------------------------------------------------------- set-up helpers
    def add(
        self,
        endpoint: str,
        deployment: str,
        capacity: tuple[int, int, int] = (1, 3, 1),
        name: str | None = None,
    ) -> AutoscaleSetting:
        """A setting made by the endpoint's owners (minimum, maximum, default)."""
        setting = AutoscaleSetting(name or f"{deployment}-autoscale", deployment, True, (capacity,))
        with self._lock:
            self.settings[(endpoint, setting.name)] = setting
        return setting

    def targets(self, endpoint: str) -> list[str]:
        """The deployments of an endpoint that a setting targets, sorted."""
        with self._lock:
            return sorted({s.deployment for (ep, _), s in self.settings.items() if ep == endpoint})

    # ---------------------------------------------------------------- the port
    def settings_for(self, endpoint: str, deployment: str) -> list[AutoscaleSetting]:
        with self._lock:
            self._fault("settings_for", deployment)
            return [
                s
                for (ep, _), s in sorted(self.settings.items())
                if ep == endpoint and s.deployment.lower() == deployment.lower()
            ]

    def copy_to(self, endpoint: str, source: str, target: str) -> AutoscaleSetting | None:
        found = self.settings_for(endpoint, source)
        targeting = self.settings_for(endpoint, target)
        on_target = [s.name for s in targeting]
        with self._lock:
            self._fault("copy_to", target)
            if not found:
                return None
            if self.refuse_copy:
                raise UpstreamError(
                    f"the autoscale setting copy to {target} was refused",
                    code=self.refuse_copy,
                    details={"status": 400},
                )
            theirs = [n for n in on_target if not is_copy_name(n, endpoint, target)]
            if theirs:  # the owners' own setting on the target is kept, nothing copied
                return next(s for s in targeting if s.name == theirs[0])
            name = copy_name_on(on_target, endpoint, target)  # as Azure's adapter names it
            copy = replace(found[0], name=name, deployment=target)
            self.settings[(endpoint, copy.name)] = copy
            return copy

    def delete_for(self, endpoint: str, deployment: str, copies_only: bool = False) -> int:
        found = [
            s
            for s in self.settings_for(endpoint, deployment)
            if not copies_only or is_copy_name(s.name, endpoint, deployment)
        ]
        with self._lock:
            self._fault("delete_for", deployment)
            for s in found:
                self.settings.pop((endpoint, s.name), None)
            return len(found)

    def _fault(self, op: str, target: str) -> None:
        self.calls.append((op, target))
        if self.fail_next:
            raise self.fail_next.pop(0)
