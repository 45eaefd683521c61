"""What a simulated run keeps: after each step the decisions the store gained and the invariants
checked, a trace line per tick, notes, and at the end the summary.

The :class:`Recorder` only reads the world (the fakes' store and endpoints, and at the end the
metrics, autoscale and published events); the run loop (:mod:`shared.simulation.runner`) tells
it when a step ended and what the sizing invariant expects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared import machine
from shared.clock import FakeClock
from shared.fakes.autoscale import FakeAutoscale
from shared.fakes.clocked_endpoints import ClockedEndpoints
from shared.fakes.events import RecordingPublisher
from shared.fakes.store import InMemoryRolloutStore
from shared.model import Rollout
from shared.ports import RolloutQuery
from shared.simulation.invariants import (
    Violation,
    decision_violations,
    endpoint_violations,
    unjudged,
)
from shared.simulation.lines import Line, decision_line, fmt_duration
from shared.simulation.scenario import Scenario
from shared.simulation.traffic import SimMetrics

MAX_VIOLATIONS = 50  # kept in the summary (the count is always exact)


@dataclass
class RunResult:
    decisions: list[Line]
    summary: dict[str, Any]
    violations: list[Line]
    trace: list[Line] = field(default_factory=list)
    notes: list[Line] = field(default_factory=list)

    @property
    def reasons(self) -> list[str]:
        return [str(d["reason"]) for d in self.decisions]


class Recorder:
    """The lines of one run (decisions, violations, trace, notes), each also sent to ``sink``
    as it is made (notes only with ``trace``)."""

    def __init__(
        self,
        endpoint: str,
        store: InMemoryRolloutStore,
        endpoints: ClockedEndpoints,
        *,
        start: datetime,
        served_before: bool,
        check: bool = True,
        trace: bool = False,
        sink: Callable[[Line], None] | None = None,
        tick_s: float = 60.0,
    ) -> None:
        self.endpoint = endpoint
        self.store = store
        self.endpoints = endpoints
        self.start = start
        self.served_before = served_before
        self.check = check
        self.trace_on = trace
        self.sink = sink
        self.decisions: list[Line] = []
        self.violations: list[Line] = []
        self.violation_count = 0
        self.trace: list[Line] = []
        self.notes: list[Line] = []
        self._seen: dict[str, int] = {}  # rollout id -> last decision seq emitted
        self._writes = -1  # store transactions seen by the last step
        self.tick_s = tick_s
        self._full_since: dict[str, float] = {}  # deployment -> when it began serving 100 %
        self._unjudged_since: float | None = None  # when the canary was first seen unjudged

    def emit(self, line: Line) -> None:
        if self.sink is not None:
            self.sink(line)

    def note(self, t: float, kind: str, **data: Any) -> None:
        line = {"note": kind, "t": fmt_duration(t), **data}
        self.notes.append(line)
        if self.trace_on:
            self.emit(line)

    def rollouts(self) -> list[Rollout]:
        q = RolloutQuery(endpoint=self.endpoint, limit=1000)
        return sorted(self.store.list_rollouts(q), key=lambda r: (r.created_at, r.id))

    # ------------------------------------------------------------------ after each step
    def after_step(self, t: float, step: str, *, min_instances: int | None) -> None:
        """The endpoint's invariants (``min_instances``: what a deployment serving 100 % must
        run, None when unchecked), then the decisions written since the last step and their
        rollouts' invariants."""
        name = self.endpoint
        if self.check:
            info = self.endpoints.snapshot(name)
            full = {n for n, pct in info.traffic.items() if int(pct) >= 100}
            since = {n: self._full_since.get(n, t) for n in full}
            self._full_since = since
            # the whole load given back (a rollback) may find its deployment short until the
            # next tick asks for its instances; never a canary given it (scaled before)
            active = self.store.read(name).active
            canary = active.canary if active is not None else None
            settling = frozenset(
                n for n, at in since.items() if t - at < self.tick_s and n != canary
            )
            for v in endpoint_violations(
                info,
                served_before=self.served_before,
                min_instances=min_instances,
                settling=settling,
            ):
                self._violation(t, step, v)
            gap = unjudged(info, active) if active is not None else None
            if gap is None:
                self._unjudged_since = None
            elif self._unjudged_since is None:
                self._unjudged_since = t
            elif t - self._unjudged_since > self.tick_s:  # one tick to see a change by hand
                self._violation(t, step, gap)
        if self.store.transactions == self._writes:
            return  # nothing was written: no new decision
        self._writes = self.store.transactions
        active = self.store.read(name).active
        if active is not None and active.id in self._seen and self._seen[active.id] >= active.seq:
            return  # the active rollout's status was refreshed; no decision was added
        for r in self.rollouts():
            if self._seen.get(r.id, 0) >= r.seq:
                continue
            records = self.store.decisions(name, r.id)
            for rec in records:
                if rec.seq > self._seen.get(r.id, 0):
                    line = decision_line(rec, r, self.start)
                    self.decisions.append(line)
                    self.emit(line)
            self._seen[r.id] = r.seq
            if self.check:
                for v in decision_violations(records, r):
                    self._violation(t, step, v)

    def _violation(self, t: float, step: str, v: Violation) -> None:
        self.violation_count += 1
        if len(self.violations) < MAX_VIOLATIONS:
            self.violations.append({"t": fmt_duration(t), "after": step, **v.to_dict()})

    def trace_tick(self, t: float) -> None:
        info = self.endpoints.snapshot(self.endpoint)
        slot = self.store.read(self.endpoint)
        r = slot.active
        line = {
            "trace": {
                "t": fmt_duration(t),
                "traffic": {k: v for k, v in info.traffic.items() if v > 0},
                "mirror": dict(info.mirror),
                "deployments": {
                    n: {"model": d.model, "provisioning_state": d.provisioning_state}
                    for n, d in sorted(info.deployments.items())
                },
                "phase": r.phase.value if r else None,
                "paused": r.paused if r else None,
                "pause_reason": (r.pause_reason or None) if r else None,
                "waiting": slot.waiting.model.asset_id if slot.waiting else None,
            }
        }
        self.trace.append(line)
        self.emit(line)

    # ------------------------------------------------------------------ the end
    def result(self, summary: dict[str, Any]) -> RunResult:
        return RunResult(self.decisions, summary, self.violations, self.trace, self.notes)

    def summary(
        self,
        scenario: Scenario,
        *,
        clock: FakeClock,
        metrics: SimMetrics,
        autoscale: FakeAutoscale,
        events: RecordingPublisher,
        refused: Mapping[str, int],
        now_s: float,
        ticks: int,
    ) -> dict[str, Any]:
        name = self.endpoint
        info = self.endpoints.snapshot(name)
        rollouts = self.rollouts()
        last = rollouts[-1] if rollouts else None
        duration = None
        if last is not None:
            end = last.updated_at if last.phase.terminal and last.updated_at else clock.now()
            duration = (end - last.created_at).total_seconds()
        allowed = machine.allowed_actions(last) if last is not None else []
        settled = last is not None and (
            last.phase.terminal or (last.paused and bool(last.pause_reason) and bool(allowed))
        )
        served = metrics.served(name)
        totals: dict[str, dict[str, int]] = {}
        for cells in served.values():
            for dep, cell in cells.items():
                row = totals.setdefault(dep, {"requests": 0, "errors": 0, "live_requests": 0})
                row["requests"] += cell.requests
                row["errors"] += cell.errors
                row["live_requests"] += cell.live_requests
        canary_errors: dict[str, int] = {}
        for r in rollouts:
            if r.canary:
                canary_errors[r.id] = sum(
                    cells[r.canary].live_errors for cells in served.values() if r.canary in cells
                )
        return {
            "scenario": scenario.name,
            "seed": scenario.seed,
            "phase": last.phase.value if last else None,
            "reason": last.reason if last else None,
            "paused": last.paused if last else None,
            "rollout": last.id if last else None,
            "model": last.model.asset_id if last else None,
            "duration": fmt_duration(duration) if duration is not None else None,
            "duration_s": duration,
            "simulated": fmt_duration(now_s),
            "ticks": ticks,
            "traffic": {k: v for k, v in info.traffic.items() if v > 0},
            "mirror": dict(info.mirror),
            "deployments": [
                {
                    "name": n,
                    "model": d.model,
                    "provisioning_state": d.provisioning_state,
                    "instance_count": d.instance_count,
                }
                for n, d in sorted(info.deployments.items())
            ],
            "autoscaled": autoscale.targets(name),
            "allowed_actions": allowed,
            "settled": settled,
            "served": dict(sorted(totals.items())),
            "refused": dict(sorted(refused.items())),
            "rollouts": [
                {
                    "id": r.id,
                    "model": r.model.asset_id,
                    "phase": r.phase.value,
                    "reason": r.reason,
                    "paused": r.paused,
                    "canary": r.canary,
                    "baseline": r.baseline,
                    "canary_errors_served": canary_errors.get(r.id, 0),
                }
                for r in rollouts
            ],
            "decisions": len(self.decisions),
            "crashes": [n["point"] for n in self.notes if n["note"] == "crash"],
            "events_published": events.types(),
            "invariant_violations": self.violation_count,
            "active": self.store.read(name).active is not None,
        }
