"""The engine's invariants, checked after every step of random interleavings (hypothesis).

Registrations (newer, stale, same), timer ticks, alerts, operator actions (retry, cancel and
manual starts, downgrades included), changes made by hand, the live deployment autoscaled, ARM
faults and refusals, judge verdicts (and a canary turning bad in a live stage after its
baseline scaled in), and simulated process kills (before the state write, after
it, after an effect) are interleaved at random over the production Engine and the fakes.
After every step:
- traffic sums to 100 over deployments that exist; nothing is routed or mirrored to a
  deployment that is missing, failed or being deleted;
- an endpoint that served traffic before the rollout always has a serving deployment;
- a version that was promoted is never superseded;
- decision sequence numbers are gapless;
- no traffic update is ever found superseded (one step runs at a time here, so the split a
  transition sets is the one its stored rollout asks for: ``machine.still_asks`` holds);
- a canary that the engine promoted runs at least the baseline's instance count as it was at
  promotion (the live deployments start on 4 instances and are autoscaled at random, so the
  canary is sized to its share of a moving count before that);
- a rollout that ends after a live stage began, its baseline serving again, leaves it on the
  count it ran, or its last decision says how short it is;
and once the faults stop and the judge clears everything, every rollout ends or waits paused
with a reason and an allowed action, and no deployment autocanary made is left orphaned.

CI runs a derandomized, bounded profile; ``make soak`` runs a long one and prints its counts.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from shared import machine
from shared.errors import (
    AutocanaryError,
    TransientUpstreamError,
    UpstreamError,
)
from shared.model import Phase
from shared.observation import Alert
from shared.operator_requests import StartRequest
from shared.ports import RolloutQuery
from tests.engine_support import WORKSPACE_ID, World, make_world
from tests.kill_injection import KillableEndpoints, KillableStore, Killed

ENDPOINTS = ("fraud", "churn")  # fraud: newer versions wait; churn: they supersede
LIVE_INSTANCES = 4  # each endpoint's live deployment: the canary is sized to its share of it
COUNTS: Counter[str] = Counter()


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.w: World = make_world(endpoints=ENDPOINTS, instance_count=LIVE_INSTANCES)
        self.store = KillableStore(self.w.store)
        self.arm = KillableEndpoints(self.w.endpoints)
        self.w.engine.store = self.store
        self.w.engine.endpoints = self.arm
        self.w.engine.max_concurrency = 1  # one endpoint after the other: reproducible runs
        self.version = dict.fromkeys(ENDPOINTS, 1)
        self.events = 0
        self.superseded: list[str] = []
        self.ended: set[str] = set()  # rollouts seen terminal (checked once, when they end)
        real = self.w.endpoints.set_traffic

        def set_traffic(
            endpoint: str,
            traffic: Mapping[str, int],
            mirror: Mapping[str, int],
            still_wanted: Callable[[], bool] | None = None,
        ) -> bool:
            def asked() -> bool:
                assert still_wanted is not None
                answer = still_wanted()
                if not answer:
                    self.superseded.append(f"{endpoint}: {dict(traffic)} mirror {dict(mirror)}")
                return answer

            return real(endpoint, traffic, mirror, asked if still_wanted is not None else None)

        self.w.endpoints.set_traffic = set_traffic  # type: ignore[method-assign]

    @initialize()
    def start(self) -> None:
        COUNTS["cases"] += 1

    def _run(self, call: Any, *args: Any) -> bool:
        """Run one input; refusals are fine, a kill is fine, nothing else may escape. Returns
        whether the call went through."""
        COUNTS["steps"] += 1
        try:
            call(*args)
        except Killed as kill:
            COUNTS[f"killed_{kill.args[0]}"] += 1
            return False
        except AutocanaryError as exc:
            COUNTS[f"refused_{exc.code}"] += 1
            return False
        return True

    # ---------------------------------------------------------------- inputs
    @rule(name=st.sampled_from(ENDPOINTS), kind=st.sampled_from(["newer", "stale", "same"]))
    def register(self, name: str, kind: str) -> None:
        if kind == "newer":
            self.version[name] += 1
            version = self.version[name]
        elif kind == "stale":
            version = max(1, self.version[name] - 1)
        else:
            version = self.version[name]
        self.events += 1
        model = self.w.model(name, str(version), event_id=f"ev-{self.events}")
        self._run(self.w.engine.on_model_registered, model)

    @rule(seconds=st.sampled_from([30, 70, 180, 600]))
    def tick(self, seconds: int) -> None:
        self.w.clock.advance(seconds)
        self._run(self.w.engine.reconcile_all)

    @rule(name=st.sampled_from(ENDPOINTS))
    def alert(self, name: str) -> None:
        target = f"{WORKSPACE_ID}/onlineEndpoints/{name}"
        alert = Alert(f"a-{self.events}", "errors", "Fired", (target,))
        before = self.store.read(name).active
        if not self._run(self.w.engine.on_alert, alert) or before is None:
            return  # killed, or Azure failed it: the webhook answers 5xx and Azure retries
        # Protection never stops: a canary with live traffic is taken out at once, paused or
        # not, unless there is nothing left to go back to (recorded as RollbackImpossible).
        traffic, _ = self.w.endpoints.raw_split(name)
        after = self.store.list_rollouts(RolloutQuery(endpoint=name, limit=1000))
        now = next((r for r in after if r.id == before.id), None)
        if before.canary and traffic.get(before.canary, 0) > 0 and now is not None:
            # RollbackImpossible either pauses (an operator may still act) or, once the rollback
            # found nothing usable to restore, ends the rollout Failed with the canary serving.
            impossible = machine.ROLLBACK_IMPOSSIBLE in (now.pause_reason, now.reason)
            assert impossible or now.phase in (Phase.SUCCEEDED,), (
                f"{name}: alert left {before.canary} serving {traffic} ({now.phase}, {now.reason})"
            )

    @rule(
        name=st.sampled_from(ENDPOINTS),
        action=st.sampled_from(
            ["pause", "resume", "promote", "rollback", "abort", "retry", "cancel"]
        ),
    )
    def operator(self, name: str, action: str) -> None:
        if self._run(self.w.engine.act, name, action, "operator test", "ana"):
            COUNTS[f"done_{action}"] += 1

    @rule(
        name=st.sampled_from(ENDPOINTS),
        kind=st.sampled_from(["newer", "stale", "same"]),
        downgrade=st.booleans(),
    )
    def manual_start(self, name: str, kind: str, downgrade: bool) -> None:
        """An operator starts a version by hand (a lost event, or a downgrade)."""
        if kind == "newer":
            self.version[name] += 1
        version = self.version[name] - (1 if kind == "stale" else 0)
        request = StartRequest(
            name, str(max(1, version)), "manual start", "ana", allow_downgrade=downgrade
        )
        if self._run(self.w.engine.start, request):
            COUNTS["done_start"] += 1

    @rule(decision=st.sampled_from(["promote", "hold", "rollback"]))
    def judge(self, decision: str) -> None:
        self.w.judge.set(decision)

    @rule(name=st.sampled_from(ENDPOINTS), count=st.integers(min_value=1, max_value=3))
    def canary_turns_bad_in_a_live_stage(self, name: str, count: int) -> None:
        """The baseline scaled in for its share (its setting), then the judge rolls back: a
        verdict set at random mostly lands in the shadow, before any live share, so the
        rollout is first taken to a live stage (a few ticks, the judge clearing)."""
        r = self.w.store.read(name).active
        if r is None or not r.baseline:
            return
        self.w.judge.set("promote")
        for _ in range(8):
            if r is None or r.phase.terminal or r.paused or r.stage >= 0:
                break
            self.tick(70)
            r = self.w.store.read(name).active
        if r is None or r.stage < 0 or not r.baseline:
            return
        with contextlib.suppress(AutocanaryError):  # busy or being deleted: it still turns
            self.w.endpoints.scale_deployment(name, r.baseline, count)
        COUNTS["turned_bad_live"] += 1
        self.w.judge.set("rollback")

    @rule(name=st.sampled_from(ENDPOINTS), data=st.data())
    def manual_traffic(self, name: str, data: st.DataObject) -> None:
        info = self.w.endpoints.peek(name)
        ready = sorted(
            d for d, i in info.deployments.items() if i.provisioning_state == "Succeeded"
        )
        if not ready:
            return
        target = data.draw(st.sampled_from(ready))
        COUNTS["manual_traffic"] += 1
        self.w.endpoints.set_by_hand(name, {target: 100}, {})

    @rule(name=st.sampled_from(ENDPOINTS), data=st.data())
    def manual_delete(self, name: str, data: st.DataObject) -> None:
        traffic, mirror = self.w.endpoints.raw_split(name)
        idle = sorted(
            d
            for d in self.w.endpoints.deployment_names(name)
            if traffic.get(d, 0) == 0 and mirror.get(d, 0) == 0
        )
        if not idle:
            return
        COUNTS["manual_delete"] += 1
        self.w.endpoints.delete_by_hand(name, data.draw(st.sampled_from(idle)))

    @rule(name=st.sampled_from(ENDPOINTS), count=st.integers(min_value=1, max_value=12))
    def live_deployment_autoscaled(self, name: str, count: int) -> None:
        """The live deployment's autoscale setting (or a person) changes its instance count."""
        traffic, _ = self.w.endpoints.raw_split(name)
        active = self.w.store.read(name).active
        canary = active.canary if active is not None else None
        live = sorted((d for d, v in traffic.items() if v > 0 and d != canary), key=traffic.get)
        if not live:
            return
        try:
            self.w.endpoints.scale_deployment(name, live[-1], count)
        except AutocanaryError:
            return  # busy (Creating, Updating) or being deleted: the autoscale engine waits
        COUNTS["live_autoscaled"] += 1

    @rule(kind=st.sampled_from(["transient", "refused_create"]))
    def arm_fault(self, kind: str) -> None:
        if self.w.endpoints.fail_next or self.w.endpoints.fail_op.get("create_deployment"):
            return  # one fault at a time: a queue of faults would fail every call
        COUNTS[f"fault_{kind}"] += 1
        if kind == "transient":
            self.w.endpoints.fail_next.append(
                TransientUpstreamError("ARM 503", details={"status": 503})
            )
        else:
            self.w.endpoints.fail_op.setdefault("create_deployment", []).append(
                UpstreamError("quota exceeded", code="QuotaExceeded", details={"status": 400})
            )

    @rule(
        point=st.sampled_from(["before_write", "after_write", "after_effect_1", "after_effect_2"])
    )
    def kill_next(self, point: str) -> None:
        if point.startswith("after_effect"):
            self.arm.kill_after = int(point.rsplit("_", 1)[1])
        else:
            self.store.kill = point

    # ---------------------------------------------------------------- invariants
    @invariant()
    def traffic_only_on_serving_deployments(self) -> None:
        for name in ENDPOINTS:
            info = self.w.endpoints.peek(name)
            traffic, mirror = self.w.endpoints.raw_split(name)
            live = {k: v for k, v in traffic.items() if v > 0}
            for dep in [*live, *(k for k, v in mirror.items() if v > 0)]:
                state = (
                    info.deployments[dep].provisioning_state if dep in info.deployments else None
                )
                assert state not in (None, "Failed", "Canceled", "Deleting"), (
                    f"{name}: traffic or mirror on {dep} ({state}): {live} {mirror}"
                )
            # every endpoint served before its first rollout, so it always serves
            assert sum(live.values()) == 100, f"{name} serves {live}"

    @invariant()
    def no_traffic_update_is_superseded_one_step_at_a_time(self) -> None:
        assert not self.superseded, f"traffic updates found superseded: {self.superseded}"

    @invariant()
    def decisions_are_gapless_and_promoted_versions_never_superseded(self) -> None:
        for name in ENDPOINTS:
            for r in self.store.list_rollouts(RolloutQuery(endpoint=name, limit=1000)):
                records = self.store.decisions(name, r.id)
                assert [d.seq for d in records] == list(range(1, len(records) + 1)), r.id
                reasons = [d.reason for d in records]
                if machine.PROMOTED in reasons:
                    after = reasons[reasons.index(machine.PROMOTED) :]
                    assert machine.SUPERSEDED_BY_NEWER not in after, (r.id, reasons)

    @invariant()
    def a_promoted_canary_runs_the_baselines_instance_count(self) -> None:
        for name in ENDPOINTS:
            info = self.w.endpoints.peek(name)
            newer: set[str] = set()  # canary names a newer rollout made again (a downgrade)
            for r in self.store.list_rollouts(RolloutQuery(endpoint=name, limit=1000)):
                dep = info.deployments.get(r.canary)
                promoted = r.phase in (Phase.PROMOTING, Phase.WATCHING, Phase.SUCCEEDED)
                reused = r.canary in newer
                newer.add(r.canary)
                if reused or not promoted or dep is None or dep.provisioning_state == "Deleting":
                    continue
                COUNTS["checked_promoted_capacity"] += 1
                # The baseline's count as last seen before promotion (it may have been scaled
                # meanwhile): LIVE_INSTANCES if unknown.
                live = int((r.capacity or {}).get("live") or LIVE_INSTANCES)
                assert (dep.instance_count or 0) >= live, (
                    f"{name}: {r.canary} promoted on {dep.instance_count} instances, "
                    f"its baseline ran {live}"
                )

    @invariant()
    def a_rolled_back_baseline_has_its_instances_or_the_end_says_how_short(self) -> None:
        """A rollout that ends after a live stage began and gave the whole load back to its
        baseline leaves it on at least the count it ran (its setting may have scaled it in
        for its share meanwhile), or its last decision names the shortfall: checked on the
        step the end is first seen (the baseline's setting may scale it later)."""
        for name in ENDPOINTS:
            info = self.w.endpoints.peek(name)
            for r in self.store.list_rollouts(RolloutQuery(endpoint=name, limit=1000)):
                if not r.phase.terminal or r.id in self.ended:
                    continue
                self.ended.add(r.id)
                if r.phase is Phase.SUCCEEDED or r.stage < 0:
                    continue
                traffic = self.w.endpoints.raw_split(name)[0]
                peaks = (r.capacity or {}).get("peaks") or {}
                named = self.store.decisions(name, r.id)[-1].evidence.get("instances_short", {})
                for dep, peak in peaks.items():
                    seen = info.deployments.get(dep)
                    if seen is None or traffic.get(dep, 0) <= 0 or dep == r.canary:
                        continue
                    COUNTS["checked_restored_capacity"] += 1
                    assert (seen.instance_count or 0) >= peak or dep in named, (
                        f"{name}: {r.id} ended {r.phase.value} with {dep} serving on "
                        f"{seen.instance_count} of {peak} instances, saying nothing"
                    )

    @invariant()
    def every_lifecycle_event_is_sent_or_in_the_outbox_never_invented(self) -> None:
        """Each decision's events are published or still in the slot's outbox (never lost),
        and nothing is published that no decision announced (ids are stable on resends)."""
        published = {i for i in self.w.events.ids if i is not None}
        announced: set[str] = set()
        for name in ENDPOINTS:
            pending = {e.id for e in self.w.store.read(name).outbox}
            for r in self.store.list_rollouts(RolloutQuery(endpoint=name, limit=1000)):
                for d in self.store.decisions(name, r.id):
                    kinds = [e for e in d.effects if e.get("kind") == "publish_event"]
                    ids = {f"{r.id}:{d.seq}:{i}" for i in range(len(kinds))}
                    announced |= ids
                    lost = ids - published - pending
                    assert not lost, f"{name}: events of decision {d.seq} lost: {sorted(lost)}"
        invented = published - announced
        assert not invented, f"published with no decision behind them: {sorted(invented)}"

    def teardown(self) -> None:
        """Faults stop and the judge clears: every rollout ends or waits on an operator."""
        self.store.kill = None
        self.arm.kill_after = None
        self.w.endpoints.fail_next.clear()
        self.w.endpoints.fail_op.clear()
        self.w.judge.set("promote")
        for _ in range(120):
            self.w.clock.advance(120)
            self.w.engine.reconcile_all()
        self.a_promoted_canary_runs_the_baselines_instance_count()
        self.every_lifecycle_event_is_sent_or_in_the_outbox_never_invented()
        for name in ENDPOINTS:
            assert not self.w.store.read(name).outbox, f"{name}: events left unsent"
            for ended in self.store.list_rollouts(RolloutQuery(endpoint=name, limit=1000)):
                COUNTS[f"phase_{ended.phase.value}"] += 1
            slot = self.store.read(name)
            r = slot.active
            if r is not None:
                assert r.paused and r.pause_reason, f"{name}: {r.phase} not paused, never ends"
                assert machine.allowed_actions(r), f"{name}: paused {r.pause_reason}, no action"
                COUNTS[f"ends_paused_{r.pause_reason}"] += 1
                continue
            self._no_orphans(name)

    def _no_orphans(self, name: str) -> None:
        traffic, mirror = self.w.endpoints.raw_split(name)
        made = {r.canary for r in self.store.list_rollouts(RolloutQuery(endpoint=name, limit=1000))}
        info = self.w.endpoints.peek(name)
        for dep, state in info.deployments.items():
            if dep in made and traffic.get(dep, 0) == 0 and mirror.get(dep, 0) == 0:
                assert state.provisioning_state == "Deleting", f"{name}: {dep} left orphaned"
        COUNTS["ended_clean"] += 1


def _settings() -> settings:
    soak = os.environ.get("AUTOCANARY_SOAK") == "1"
    return settings(
        max_examples=int(os.environ.get("AUTOCANARY_SOAK_EXAMPLES", "400")) if soak else 60,
        stateful_step_count=60 if soak else 30,
        derandomize=not soak,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        print_blob=True,
    )


def test_engine_keeps_its_invariants_under_random_interleavings() -> None:
    COUNTS.clear()
    try:
        run_state_machine_as_test(EngineMachine, settings=_settings())
    finally:
        if os.environ.get("AUTOCANARY_SOAK") == "1":
            print("\nsoak:", dict(sorted(COUNTS.items())))


@pytest.mark.parametrize("point", ["before_write", "after_write"])
def test_a_kill_around_the_state_write_is_healed_by_the_next_tick(point: str) -> None:
    m = EngineMachine()
    m.start()
    m.judge("promote")
    m.register("fraud", "newer")
    m.kill_next(point)
    m.tick(70)
    m.teardown()
    assert m.w.endpoints.traffic("fraud") == {"fraud-v2": 100}
