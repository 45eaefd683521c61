"""Simulated process kills for the engine's property tests: a store that dies around its
next write and an endpoints fake that dies right after an effect succeeds."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from shared.effects import CreateDeployment
from shared.ports import Slot, SlotWrite


class Killed(BaseException):
    """A simulated process kill: not an Exception, so nothing in the app catches it."""


class KillableStore:
    """The store, with a kill before or after the next write."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.kill: str | None = None

    def write(self, before: Slot, change: SlotWrite) -> Slot:
        if self.kill == "before_write":
            self.kill = None
            raise Killed("before_write")
        out = self.inner.write(before, change)
        if self.kill == "after_write":
            self.kill = None
            raise Killed("after_write")
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class KillableEndpoints:
    """The endpoints fake, with a kill right after the Nth effect from now succeeds."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.kill_after: int | None = None

    def _effect(self, call: Any, *args: Any) -> Any:
        result = call(*args)
        if self.kill_after is not None:
            self.kill_after -= 1
            if self.kill_after <= 0:
                self.kill_after = None
                raise Killed("after_effect")
        return result

    def create_deployment(self, endpoint: str, effect: CreateDeployment) -> None:
        self._effect(self.inner.create_deployment, endpoint, effect)

    def set_traffic(
        self,
        endpoint: str,
        traffic: Mapping[str, int],
        mirror: Mapping[str, int],
        still_wanted: Callable[[], bool] | None = None,
    ) -> bool:
        return bool(self._effect(self.inner.set_traffic, endpoint, traffic, mirror, still_wanted))

    def delete_deployment(self, endpoint: str, name: str) -> None:
        self._effect(self.inner.delete_deployment, endpoint, name)

    def scale_deployment(self, endpoint: str, name: str, instance_count: int) -> None:
        self._effect(self.inner.scale_deployment, endpoint, name, instance_count)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
