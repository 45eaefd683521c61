"""Run a scenario: the production Engine, decide() and judge over the fakes, on a fake clock.

Timer ticks call ``Engine.reconcile_all`` every ``tick`` (a minute by default, as the app's
timer); the scenario's events run at their times, before a tick due at the same time:
registrations through ``Engine.on_model_registered``, alerts through ``Engine.on_alert`` (the
Alert decoded by ``shared.inputs.alert`` from a common-alert-schema body, as the webhook
does), operator actions through ``Engine.act`` and ``Engine.start`` (a refusal is counted
per action), changes by hand straight on the fake endpoints. A ``crash`` arms a simulated kill
for the next engine invocation that reaches its point; a registration or an alert whose
invocation was killed is delivered again at the next tick (Event Grid and action groups retry
what got no answer). What the run keeps of each step (decision lines, invariant checks, the
trace, the summary) is :class:`shared.simulation.recorder.Recorder`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.clock import FakeClock
from shared.errors import AutocanaryError
from shared.fakes.autoscale import FakeAutoscale
from shared.fakes.clocked_endpoints import ClockedEndpoints
from shared.fakes.events import RecordingPublisher
from shared.fakes.store import InMemoryRolloutStore
from shared.inputs import alert as decode_alert
from shared.model import ModelRef
from shared.operator_requests import StartRequest
from shared.ports import Judge
from shared.services import Engine
from shared.simulation.crash import (
    Crasher,
    CrashingAutoscale,
    CrashingEndpoints,
    CrashingEvents,
    CrashingMetrics,
    CrashingStore,
    SimulatedKill,
)
from shared.simulation.judging import IncrementalJudge
from shared.simulation.lines import Line, alert_body
from shared.simulation.recorder import Recorder, RunResult
from shared.simulation.scenario import ArmSpec, Event, Scenario
from shared.simulation.scoring import SimSamples, SimScoring
from shared.simulation.traffic import SimMetrics

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
WORKSPACE_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/sim"
    "/providers/Microsoft.MachineLearningServices/workspaces/sim"
)


class Simulation:
    """One run of a scenario; ``run`` returns the decisions, the summary and what broke."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        trace: bool = False,
        check: bool = True,
        sink: Callable[[Line], None] | None = None,
        judge: Judge | None = None,
        seed: int | None = None,
        stop_when_idle: bool = True,
    ) -> None:
        self.sc = scenario
        self.stop_when_idle = stop_when_idle
        self.trace_on = trace
        seed = scenario.seed if seed is None else seed
        self.clock = FakeClock(START)
        arm = scenario.arm
        self.endpoints = ClockedEndpoints(
            self.clock,
            provisioning_s=arm.provisioning,
            deletion_s=arm.deletion,
            fail_rate=arm.fail_rate,
            seed=seed,
        )
        self.autoscale = FakeAutoscale()
        self._configure_arm(arm, set(ArmSpec.__dataclass_fields__))
        spec = scenario.endpoint
        self.endpoints.add_endpoint(
            spec.name, spec.deployments, spec.traffic, spec.mirror, spec.instance_count
        )
        for dep, capacity in spec.autoscale.items():
            self.autoscale.add(spec.name, dep, capacity)
        self.metrics = SimMetrics(
            self.clock,
            self.endpoints,
            start=START,
            requests_per_minute=scenario.requests_per_minute,
            behaviour=scenario.behaviour,
            spec=scenario.metrics,
            seed=seed,
            series=scenario.series,
        )
        self.endpoints.before_change = self.metrics.accrue
        self.store = InMemoryRolloutStore()
        self.events = RecordingPublisher()
        self.crasher = Crasher()
        self.engine = Engine(
            store=CrashingStore(self.store, self.crasher),
            endpoints=CrashingEndpoints(self.endpoints, self.crasher),
            metrics=CrashingMetrics(self.metrics, self.crasher),
            judge=judge or IncrementalJudge(),
            clock=self.clock,
            events=CrashingEvents(self.events, self.crasher),
            policies=scenario.policy,
            workspace_id=WORKSPACE_ID,
            max_concurrency=1,
            autoscale=CrashingAutoscale(self.autoscale, self.crasher),
            scoring=SimScoring(self.metrics, seed),
            samples=SimSamples(),
        )
        self.recorder = Recorder(
            spec.name,
            self.store,
            self.endpoints,
            start=START,
            served_before=any(v > 0 for v in spec.traffic.values()),
            check=check,
            trace=trace,
            sink=sink,
            tick_s=scenario.tick,
        )
        self.refused: dict[str, int] = {}
        self._retry: list[tuple[float, Event]] = []  # redeliveries: (not before, event)
        self._by_hand = False  # a manual change happened (sizing is then not checked)
        # the instances a deployment serving 100 % must run: the live one's (it may be scaled)
        self._least: int | None = spec.instance_count

    # ------------------------------------------------------------------ the loop
    def run(self) -> RunResult:
        sc = self.sc
        events = list(sc.events)
        tick_times = [i * sc.tick for i in range(int(sc.until // sc.tick) + 1)]
        ei = 0
        ticks = 0
        now_s = 0.0
        for t in tick_times:
            while ei < len(events) and events[ei].at <= t:
                ev = events[ei]
                ei += 1
                self._at(ev.at)
                self._event(ev)
                self._after_step(ev.at, f"event {ev.index} ({ev.kind})")
            self._at(t)
            due = [(at, ev) for at, ev in self._retry if at <= t]
            self._retry = [(at, ev) for at, ev in self._retry if at > t]
            for _, ev in due:
                self._event(ev)
            self._invoke("tick", self.engine.reconcile_all)
            ticks += 1
            now_s = t
            self._after_step(t, "tick")
            if self.trace_on:
                self.recorder.trace_tick(t)
            idle = ei >= len(events) and not self._retry and not self._busy()
            if idle and self.stop_when_idle:
                break
        summary = self.recorder.summary(
            sc,
            clock=self.clock,
            metrics=self.metrics,
            autoscale=self.autoscale,
            events=self.events,
            refused=self.refused,
            now_s=now_s,
            ticks=ticks,
        )
        return self.recorder.result(summary)

    def _at(self, seconds: float) -> None:
        self.clock.set(START + timedelta(seconds=seconds))
        self.metrics.accrue()

    def _busy(self) -> bool:
        return bool(self.store.active_endpoints())

    def _invoke(self, what: str, call: Callable[[], Any]) -> tuple[bool, Any]:
        """One engine invocation (one process): True and the result, or False when killed."""
        self.crasher.begin()
        try:
            return True, call()
        except SimulatedKill as kill:
            t = (self.clock.now() - START).total_seconds()
            self.recorder.note(t, "crash", point=str(kill), during=what)
            return False, None
        finally:
            self.crasher.begin()

    # ------------------------------------------------------------------ events
    def _event(self, ev: Event) -> None:
        d = ev.data
        t = (self.clock.now() - START).total_seconds()
        name = self.sc.endpoint.name
        if ev.kind == "register":
            model = ModelRef(
                d["model"],
                d["version"],
                tags=dict(d["tags"]),
                event_id=d["event_id"],
                event_time=self.clock.now(),
            )
            try:
                ok, result = self._invoke(
                    "register", lambda: self.engine.on_model_registered(model)
                )
            except AutocanaryError as exc:
                self.recorder.note(t, "register_failed", model=model.asset_id, error=exc.to_dict())
                return
            if not ok:
                self._retry.append((t + 1e-6, ev))  # redelivered at the next tick
            elif result is not None:
                self.recorder.note(t, "registered", model=model.asset_id, **result.to_dict())
        elif ev.kind == "alert":
            target = d.get("target") or f"{WORKSPACE_ID}/onlineEndpoints/{name}"
            body = alert_body(target, d, self.clock.now())
            alert = decode_alert(body)
            try:
                ok, results = self._invoke("alert", lambda: self.engine.on_alert(alert))
            except AutocanaryError as exc:
                self.recorder.note(t, "alert_failed", error=exc.to_dict())
                return
            if not ok:
                self._retry.append((t + 1e-6, ev))  # redelivered at the next tick
            else:
                self.recorder.note(t, "alert", results=[r.to_dict() for r in results])
        elif ev.kind == "operator":
            action = d["action"]

            def act() -> Any:
                if action == "start":
                    return self.engine.start(
                        StartRequest(
                            d["model"],
                            d["version"],
                            d["reason"],
                            d["actor"],
                            allow_downgrade=d["allow_downgrade"],
                            tags=dict(d["tags"]),
                        )
                    )
                return self.engine.act(name, action, d["reason"], d["actor"], full=d["full"])

            try:
                self._invoke(action, act)
            except AutocanaryError as exc:
                self.refused[action] = self.refused.get(action, 0) + 1
                self.recorder.note(t, "refused", action=action, error=exc.to_dict())
        elif ev.kind == "manual" and "scale" in d:
            # outside autocanary, but no reroute: the sizing invariant follows the live count
            dep, count = d["scale"]["deployment"], d["scale"]["instances"]
            try:
                self.endpoints.scale_deployment(name, dep, count)
                share = self.endpoints.snapshot(name).traffic.get(dep, 0)
                if share >= 100:
                    self._least = count  # the whole load's deployment: what it needs now
                elif share > 0:
                    # a deployment serving a share, scaled out, says the load grew; scaled
                    # in, only that its share is smaller (its autoscale setting follows the
                    # load it serves): the whole load still needs what it did
                    self._least = max(self._least or 0, count)
                self.recorder.note(t, "scaled", deployment=dep, instances=count)
            except AutocanaryError as exc:
                self.recorder.note(t, "scale_refused", deployment=dep, error=exc.to_dict())
        elif ev.kind == "manual":
            self._by_hand = True
            try:
                if "delete_deployment" in d:
                    self.endpoints.delete_by_hand(name, d["delete_deployment"])
                else:
                    self.endpoints.set_by_hand(name, d["traffic"], d["mirror"])
                self.recorder.note(t, "manual", change=_jsonable(d))
            except AutocanaryError as exc:
                self.recorder.note(t, "manual_refused", change=_jsonable(d), error=exc.to_dict())
        elif ev.kind == "behaviour":
            self.metrics.set_behaviour(d["target"], d["behaviour"])
        elif ev.kind == "crash":
            self.crasher.arm(d["point"], d["n"])
        else:  # arm
            self._configure_arm(d["arm"], set(d["keys"]))

    def _configure_arm(self, arm: ArmSpec, keys: set[str]) -> None:
        e = self.endpoints
        if "provisioning" in keys:
            e.provisioning_s = arm.provisioning
        if "deletion" in keys:
            e.deletion_s = arm.deletion
        if "fail_rate" in keys:
            e.fail_rate = arm.fail_rate
        if "fail_provisioning" in keys:
            e.fail_provisioning = set(arm.fail_provisioning)
        if "refuse_create" in keys:
            e.refuse_create = dict(arm.refuse_create)
        if "faults" in keys:
            e.fail_calls = dict(arm.faults)
        if "hidden" in keys:
            e.hidden_s = arm.hidden
        if "traffic_update" in keys:
            e.traffic_s = arm.traffic_update
        if "refuse_autoscale_copy" in keys:
            self.autoscale.refuse_copy = arm.refuse_autoscale_copy

    # ------------------------------------------------------------------ after each step
    def _after_step(self, t: float, step: str) -> None:
        # a change by hand may route everything to a small canary: not the engine's doing
        self.recorder.after_step(t, step, min_instances=None if self._by_hand else self._least)


def _jsonable(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def run_scenario(
    scenario: Scenario,
    *,
    trace: bool = False,
    sink: Callable[[Line], None] | None = None,
    seed: int | None = None,
) -> RunResult:
    return Simulation(scenario, trace=trace, sink=sink, seed=seed).run()
