"""Simulated process kills, injected by wrapping the ports (the engine is not touched).

A :class:`Crasher` is armed with a point: ``before_write`` (the next store write raises before
it reaches the store), ``after_write`` (it raises once the write is stored) or ``after_effect
N`` (it raises once the Nth effect of that invocation went out: create, set traffic, delete
or publish). :class:`SimulatedKill` derives from BaseException, so none of the engine's
``except Exception`` handlers sees it (a killed process records nothing either), and once it
fired every further port call of that invocation raises it too: nothing after the kill runs.
The next invocation goes on from what the fakes hold.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from shared.effects import CreateDeployment
from shared.judge.types import Minute
from shared.model import DecisionRecord, Rollout
from shared.observation import EndpointInfo, OperationError
from shared.ports import (
    AutoscaleControl,
    AutoscaleSetting,
    EndpointControl,
    EventPublisher,
    IgnoredEvent,
    IndexEntry,
    MetricsQuery,
    MetricsSource,
    Page,
    PurgeReport,
    RolloutQuery,
    RolloutStore,
    Slot,
    SlotWrite,
)


class SimulatedKill(BaseException):
    """The process was killed here (simulation only)."""


class Crasher:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.point: str | None = None
        self.n = 0
        self.effects = 0
        self.dead = False
        self.fired: list[str] = []

    def arm(self, point: str, n: int = 0) -> None:
        with self._lock:
            self.point, self.n = point, n

    @property
    def armed(self) -> bool:
        return self.point is not None

    def begin(self) -> None:
        """A new invocation (a fresh process): nothing counted, alive."""
        with self._lock:
            self.effects = 0
            self.dead = False

    def alive(self) -> None:
        with self._lock:
            if self.dead:
                raise SimulatedKill("process already killed")

    def _fire(self, label: str) -> None:
        self.dead = True
        self.point = None
        self.fired.append(label)
        raise SimulatedKill(label)

    def at_write(self, stage: str) -> None:
        with self._lock:
            if self.dead:
                raise SimulatedKill("process already killed")
            if self.point == stage:
                self._fire(stage)

    def effect_done(self) -> None:
        with self._lock:
            self.effects += 1
            if self.point == "after_effect" and self.effects >= self.n:
                self._fire(f"after_effect {self.n}")


class CrashingStore:
    def __init__(self, inner: RolloutStore, crasher: Crasher) -> None:
        self.inner = inner
        self.crasher = crasher

    def read(self, endpoint: str) -> Slot:
        self.crasher.alive()
        return self.inner.read(endpoint)

    def write(self, before: Slot, change: SlotWrite) -> Slot:
        self.crasher.at_write("before_write")
        written = self.inner.write(before, change)
        self.crasher.at_write("after_write")
        return written

    def event_seen(self, endpoint: str | None, event_id: str) -> bool:
        self.crasher.alive()
        return self.inner.event_seen(endpoint, event_id)

    def record_ignored(self, event: IgnoredEvent) -> bool:
        self.crasher.alive()
        return self.inner.record_ignored(event)

    def active_endpoints(self) -> list[str]:
        self.crasher.alive()
        return self.inner.active_endpoints()

    def active_index(self) -> list[IndexEntry]:
        self.crasher.alive()
        return self.inner.active_index()

    def unindex(self, entry: IndexEntry, slot: Slot) -> bool:
        self.crasher.alive()
        return self.inner.unindex(entry, slot)

    def page_rollouts(self, query: RolloutQuery, continuation: str | None = None) -> Page[Rollout]:
        self.crasher.alive()
        return self.inner.page_rollouts(query, continuation)

    def page_ignored(self, limit: int = 100, continuation: str | None = None) -> Page[IgnoredEvent]:
        self.crasher.alive()
        return self.inner.page_ignored(limit, continuation)

    def purge(self, cutoff: datetime, max_rows: int = 2000) -> PurgeReport:
        self.crasher.alive()
        return self.inner.purge(cutoff, max_rows)

    def list_rollouts(self, query: RolloutQuery) -> list[Rollout]:
        self.crasher.alive()
        return self.inner.list_rollouts(query)

    def decisions(self, endpoint: str, rollout_id: str) -> list[DecisionRecord]:
        self.crasher.alive()
        return self.inner.decisions(endpoint, rollout_id)

    def page_decisions(
        self,
        endpoint: str,
        rollout_id: str,
        limit: int = 100,
        continuation: str | None = None,
        from_seq: int = 1,
    ) -> Page[DecisionRecord]:
        self.crasher.alive()
        return self.inner.page_decisions(endpoint, rollout_id, limit, continuation, from_seq)

    def get_rollout(self, endpoint: str, rollout_id: str) -> Rollout | None:
        self.crasher.alive()
        return self.inner.get_rollout(endpoint, rollout_id)

    def ignored_events(self, limit: int = 100) -> list[IgnoredEvent]:
        self.crasher.alive()
        return self.inner.ignored_events(limit)


class CrashingEndpoints:
    def __init__(self, inner: EndpointControl, crasher: Crasher) -> None:
        self.inner = inner
        self.crasher = crasher

    def get_endpoint(self, endpoint: str, *, listed_since: float | None = None) -> EndpointInfo:
        self.crasher.alive()
        return self.inner.get_endpoint(endpoint, listed_since=listed_since)

    def get_split(
        self, endpoint: str, *, listed_since: float | None = None
    ) -> tuple[dict[str, int], dict[str, int]]:
        self.crasher.alive()
        return self.inner.get_split(endpoint, listed_since=listed_since)

    def create_deployment(self, endpoint: str, effect: CreateDeployment) -> None:
        self.crasher.alive()
        self.inner.create_deployment(endpoint, effect)
        self.crasher.effect_done()

    def set_traffic(
        self,
        endpoint: str,
        traffic: Mapping[str, int],
        mirror: Mapping[str, int],
        still_wanted: Callable[[], bool] | None = None,
    ) -> bool:
        self.crasher.alive()
        landed = self.inner.set_traffic(endpoint, traffic, mirror, still_wanted)
        self.crasher.effect_done()
        return landed

    def delete_deployment(self, endpoint: str, name: str) -> None:
        self.crasher.alive()
        self.inner.delete_deployment(endpoint, name)
        self.crasher.effect_done()

    def get_logs(self, endpoint: str, name: str, lines: int = 200) -> str:
        self.crasher.alive()
        return self.inner.get_logs(endpoint, name, lines)

    def provisioning_error(self, endpoint: str, name: str) -> OperationError | None:
        self.crasher.alive()
        return self.inner.provisioning_error(endpoint, name)

    def scale_deployment(self, endpoint: str, name: str, instance_count: int) -> None:
        self.crasher.alive()
        self.inner.scale_deployment(endpoint, name, instance_count)
        self.crasher.effect_done()


class CrashingAutoscale:
    def __init__(self, inner: AutoscaleControl, crasher: Crasher) -> None:
        self.inner = inner
        self.crasher = crasher

    def settings_for(self, endpoint: str, deployment: str) -> list[AutoscaleSetting]:
        self.crasher.alive()
        return self.inner.settings_for(endpoint, deployment)

    def copy_to(self, endpoint: str, source: str, target: str) -> AutoscaleSetting | None:
        self.crasher.alive()
        copy = self.inner.copy_to(endpoint, source, target)
        self.crasher.effect_done()
        return copy

    def delete_for(self, endpoint: str, deployment: str, copies_only: bool = False) -> int:
        self.crasher.alive()
        n = self.inner.delete_for(endpoint, deployment, copies_only)
        self.crasher.effect_done()
        return n


class CrashingEvents:
    def __init__(self, inner: EventPublisher, crasher: Crasher) -> None:
        self.inner = inner
        self.crasher = crasher

    def publish(
        self,
        event_type: str,
        subject: str,
        data: Mapping[str, Any],
        event_id: str | None = None,
        time: datetime | None = None,
    ) -> None:
        self.crasher.alive()
        self.inner.publish(event_type, subject, data, event_id, time)
        self.crasher.effect_done()


class CrashingMetrics:
    def __init__(self, inner: MetricsSource, crasher: Crasher) -> None:
        self.inner = inner
        self.crasher = crasher

    def stage_minutes(self, queries: Sequence[MetricsQuery]) -> Mapping[str, Sequence[Minute]]:
        self.crasher.alive()
        return self.inner.stage_minutes(queries)
