"""The demo's scenarios and the driver that plays one on a running stack.

A scenario registers one model version and follows its rollout through the app's own HTTP API
(``GET /api/rollouts/{endpoint}``) until it ends, narrating each decision worth a line, then
checks the outcome on the emulator itself (the live split, which deployments still exist):

1. a good version (the baseline's error rate): shadow -> stages -> promoted -> the old
   deployment deleted after the watch window;
2. a version failing far more often than the baseline: rolled back by the judge;
3. a slow version (extra latency per call): caught by a latency alert rule, which calls the
   app's ``/api/alerts``; the alert rolls it back at once. The time from the alert firing to
   the traffic being restored on the emulator is measured by polling the emulator;
4. a flipped version (the opposite labels, the baseline's errors and latency): the judge
   would clear it, but the shadow comparison (the policy's ``compare``) scores the sample on
   both deployments and rolls it back before any user traffic.

While a scenario plays, a :class:`~localstack.watchers.ReconcilePump` runs the app's
``reconcile_rollouts`` timer function every second or so through devhost's admin endpoint (in
Azure it fires every minute; the demo's stages last seconds), and a
:class:`~localstack.watchers.SplitWatcher` samples the endpoint's split on the emulator.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from localstack.narrate import Narrator, decision_line, judge_summary, phase_label, split_text
from localstack.stack import Stack
from localstack.traffic import TrafficGenerator, Window
from localstack.watchers import SplitWatcher
from localstack.workspace import ModelVersion, endpoint_state, register_model

TERMINAL = frozenset({"Succeeded", "RolledBack", "Failed", "Superseded", "Aborted"})
# Every version fails this share of calls (a model that rejects some inputs): the judge clears
# a stage on evidence from error events, and a stage where nobody failed gives it none.
BASELINE_ERROR_RATE = 0.03


@dataclass(frozen=True)
class Scenario:
    number: int
    title: str
    model: ModelVersion
    expect_phase: str  # where the rollout must end
    expect_decided_by: str  # the reason of the decision that promoted or rolled back
    timeout: float

    @property
    def behaviour(self) -> str:
        parts = [f"{100 * self.model.error_rate:g} % errors"]
        if self.model.latency_ms:
            parts.append(f"+{self.model.latency_ms:g} ms per call")
        if self.model.flip:
            parts.append("opposite labels")
        parts += [f"tag {k}={v}" for k, v in sorted((self.model.tags or {}).items())]
        return ", ".join(parts)


def baseline_model(name: str = "fraud", version: str = "1") -> ModelVersion:
    return ModelVersion(name, version, error_rate=BASELINE_ERROR_RATE)


def demo_scenarios(
    name: str = "fraud",
    versions: Sequence[str] = ("2", "3", "4", "5"),
    *,
    bad_error_rate: float = 0.25,
    slow_latency_ms: float = 300.0,
    timeouts: Sequence[float] = (260.0, 60.0, 60.0, 60.0),
) -> list[Scenario]:
    """The four scenarios, in the order the demo plays them."""
    good, bad, slow, flipped = versions
    return [
        Scenario(
            1,
            "a good version is promoted",
            ModelVersion(name, good, error_rate=BASELINE_ERROR_RATE),
            "Succeeded",
            "JudgePromoted",
            timeouts[0],
        ),
        Scenario(
            2,
            "a version with a higher error rate is rolled back by the judge",
            ModelVersion(name, bad, error_rate=bad_error_rate),
            "RolledBack",
            "JudgeRollback",
            timeouts[1],
        ),
        Scenario(
            3,
            "a slow version is rolled back by a latency alert",
            ModelVersion(
                name,
                slow,
                error_rate=BASELINE_ERROR_RATE,
                latency_ms=slow_latency_ms,
                # No shadow phase (a tag override the demo policy allows): live traffic at
                # once, so the alert, not the judge, is what protects the users.
                tags={"autocanary.shadow": "0"},
            ),
            "RolledBack",
            "AlertFired",
            timeouts[2],
        ),
        Scenario(
            4,
            "a flipped version is stopped in the shadow by the output comparison",
            ModelVersion(name, flipped, error_rate=BASELINE_ERROR_RATE, flip=True),
            "RolledBack",
            "OutputsDisagree",
            timeouts[3],
        ),
    ]


@dataclass
class Result:
    scenario: Scenario
    rollout_id: str | None = None
    phase: str | None = None
    decided_by: str | None = None
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    alert_to_decision_ms: float | None = None
    alert_to_restored_ms: float | None = None
    decisions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


# ---------------------------------------------------------------------- the driver


def _epoch(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.timestamp()


def decisive_decision(decisions: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The decision that started the rollback, else the one that started the promotion."""
    for d in decisions:
        if d.get("phase_to") == "RollingBack" and d.get("phase_from") != "RollingBack":
            return d
    for d in decisions:
        if d.get("phase_to") == "Promoting" and d.get("phase_from") != "Promoting":
            return d
    return None


def check_endpoint(
    endpoint: Mapping[str, Any] | None, rollout: Mapping[str, Any], expect_phase: str
) -> list[str]:
    """What is wrong with the endpoint's final state for a rollout that ended as expected."""
    if endpoint is None:
        return ["the endpoint is gone from the emulator"]
    canary, baseline = str(rollout.get("canary", "")), str(rollout.get("baseline", ""))
    traffic = {k: int(v) for k, v in (endpoint.get("traffic") or {}).items() if int(v) > 0}
    mirror = {k: int(v) for k, v in (endpoint.get("mirror_traffic") or {}).items() if int(v) > 0}
    deployments = {d["name"] for d in endpoint.get("deployments", [])}
    problems: list[str] = []
    if mirror:
        problems.append(f"mirror traffic is still set: {mirror}")
    if expect_phase == "Succeeded":
        if traffic != {canary: 100}:
            problems.append(f"{canary} should serve 100 %, the split is {traffic}")
        if baseline in deployments:
            problems.append(f"the old deployment {baseline} was not deleted")
    else:
        if canary in traffic:
            problems.append(f"{canary} still serves live traffic: {traffic}")
        if baseline not in traffic:
            problems.append(f"{baseline} serves no traffic after the rollback: {traffic}")
        if canary in deployments:
            problems.append(f"the canary deployment {canary} was not deleted")
    return problems


class Player:
    """Plays scenarios on one endpoint of a running stack."""

    def __init__(
        self,
        stack: Stack,
        endpoint: str,
        narrator: Narrator,
        *,
        traffic: TrafficGenerator | None = None,
        watcher: SplitWatcher | None = None,
        poll: float = 0.25,
    ) -> None:
        self.stack = stack
        self.endpoint = endpoint
        self.narrator = narrator
        self.traffic = traffic
        self.watcher = watcher
        self.poll = poll
        self._window: Window | None = None
        self._window_at = 0.0

    def _served(self) -> str:
        if self.traffic is None:
            return ""
        now = time.monotonic()
        if self._window is None or now - self._window_at >= 2.0:
            self._window = self.traffic.window()
            self._window_at = now
        w = self._window
        split = " / ".join(f"{d} {p} %" for d, p in w.split().items()) or "nothing"
        return f"served {split} at {w.rate:.0f} req/s"

    def play(self, scenario: Scenario, deadline: float | None = None) -> Result:
        """Register the scenario's model version and follow its rollout to its end (or to the
        scenario's timeout / ``deadline``, a ``time.monotonic()`` value)."""
        model = scenario.model
        result = Result(scenario)
        start = time.monotonic()
        end = start + scenario.timeout
        if deadline is not None:
            end = min(end, deadline)
        self.narrator.line(
            f"Scenario {scenario.number}: {scenario.title}\n"
            f"registering {model.asset_id} ({scenario.behaviour}); expected: "
            f"{scenario.expect_phase} by {scenario.expect_decided_by}"
        )
        register_model(self.stack, model)
        seen = 0
        rollout: dict[str, Any] = {}
        decisions: list[dict[str, Any]] = []
        last_error = ""
        while True:
            reply = self.stack.app.api("GET", f"rollouts/{self.endpoint}", timeout=15)
            if not reply.ok and reply.status != 404:
                last_error = f"; the API answered {reply.status}: {str(reply.body)[:300]}"
            if reply.ok and isinstance(reply.body, dict):
                current = reply.body.get("rollout") or {}
                mine = (
                    current.get("version") == model.version and current.get("model") == model.name
                )
                if mine:
                    rollout = current
                    decisions = list(reply.body.get("decisions") or [])
                    for decision in decisions:
                        if int(decision.get("seq", 0)) <= seen:
                            continue
                        seen = int(decision["seq"])
                        line = decision_line(decision, rollout)
                        if line:
                            self.narrator.line(f"{model.asset_id}  {line}")
                    if rollout.get("phase") in TERMINAL:
                        break
            if time.monotonic() >= end:
                where = phase_label(rollout) if rollout else "no rollout yet"
                result.problems.append(
                    f"did not end within {end - start:.0f} s (last: {where}, "
                    f"{rollout.get('reason', '-')}: {rollout.get('message', '')}){last_error}"
                )
                break
            self._progress(model, rollout, reply.status)
            time.sleep(self.poll)
        self.narrator.done()
        result.seconds = time.monotonic() - start
        result.rollout_id = rollout.get("id")
        result.phase = rollout.get("phase")
        result.decisions = decisions
        decisive = decisive_decision(decisions)
        result.decided_by = str(decisive["reason"]) if decisive else None
        if result.phase is not None and result.phase in TERMINAL:
            if result.phase != scenario.expect_phase:
                result.problems.append(
                    f"ended {result.phase}, expected {scenario.expect_phase} "
                    f"({rollout.get('reason')}: {rollout.get('message')})"
                )
            elif result.decided_by != scenario.expect_decided_by:
                result.problems.append(
                    f"decided by {result.decided_by}, expected {scenario.expect_decided_by}"
                )
            else:
                ep = endpoint_state(self.stack, self.endpoint)
                result.problems += check_endpoint(ep, rollout, scenario.expect_phase)
        if decisive is not None:
            self._explain(result, decisive, rollout)
        return result

    def _progress(self, model: ModelVersion, rollout: Mapping[str, Any], status: int) -> None:
        if not rollout:
            text = f"{model.asset_id}: waiting for the app to start its rollout (API {status})"
        else:
            traffic = rollout.get("traffic") or {}
            asked = split_text(traffic.get("wanted") or {}, traffic.get("wanted_mirror") or {})
            reason = rollout.get("reason", "")
            summary = judge_summary(rollout.get("evidence"))
            text = f"{model.asset_id} {phase_label(rollout)} | asked {asked}"
            served = self._served()
            if served:
                text += f" | {served}"
            text += f" | {reason}"
            if summary:
                text += f" | {summary}"
        self.narrator.progress(text)

    def _explain(
        self, result: Result, decisive: Mapping[str, Any], rollout: Mapping[str, Any]
    ) -> None:
        evidence = decisive.get("evidence") or {}
        if decisive.get("reason") == "AlertFired":
            fired = _epoch(evidence.get("fired_at"))
            decided = _epoch(decisive.get("at"))
            if fired is not None and decided is not None:
                result.alert_to_decision_ms = (decided - fired) * 1000.0
            if fired is not None and self.watcher is not None:
                restored = self.watcher.first_without(str(rollout.get("canary", "")), fired)
                if restored is not None:
                    result.alert_to_restored_ms = max(0.0, (restored - fired) * 1000.0)
            during = decisive.get("phase_from")
            note = f"alert {evidence.get('rule', '?')} fired during {during}"
            if result.alert_to_decision_ms is not None:
                note += f"; alert -> app decided {result.alert_to_decision_ms:.0f} ms"
            if result.alert_to_restored_ms is not None:
                note += f"; alert -> traffic restored {result.alert_to_restored_ms:.0f} ms"
            result.notes.append(note)
        else:
            verdict = evidence.get("verdict_reason")
            if verdict:
                result.notes.append(str(verdict))
        if result.phase == "Succeeded":
            result.notes.append(f"old {rollout.get('baseline')} deleted")


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll ``condition`` until true or ``timeout`` seconds pass; returns the last answer."""
    end = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError):
            if condition():
                return True
        if time.monotonic() >= end:
            return False
        time.sleep(interval)
