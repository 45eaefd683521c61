"""What-if: how would this policy treat a good version, and a bad one, on this endpoint?

The endpoint's real recent per-minute history (a series file, or read through the production
metrics adapter) drives many seeded simulations of the whole rollout, through the same engine
the app runs (the policy's stages, per-stage alpha split, shadow, warm-up, deadlines):

- a good version: the same behaviour as the live one on the real history (A/A: both sides get
  each minute's real error rate, so its drift and overdispersion are kept): the chance of a
  false rollback, the median and p90 time to Succeeded, the chance it needs an operator (a
  pause at a stage deadline);
- regressions of 1.5x, 2x, 4x the error rate and +10 %, +30 % latency: the chance each is
  caught, the median and p90 time to the rollback, the canary errors served before it;
- warnings for settings that cannot work at this traffic.

Each run starts at a seeded offset into the history (which wraps), so runs see different
hours of it.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from shared.errors import InvalidInput, PolicyError
from shared.judge import MIN_TAIL_REQUESTS
from shared.policy import DEFAULT_ERRORS, PolicySet, RolloutPolicy, load_policy_text
from shared.ports import EndpointControl, MetricsQuery, MetricsSource
from shared.simulation.recorder import RunResult
from shared.simulation.runner import Simulation
from shared.simulation.scenario import (
    ArmSpec,
    Behaviour,
    EndpointSpec,
    Event,
    MetricsSpec,
    Scenario,
    SeriesMinute,
    bad,
    parse_series,
)

LIVE = "live"
NEW_VERSION = "2"
PROVISIONING_S = 600.0  # a create takes 8-15 min in Azure (azure.md)
MAX_HOURS = 24.0


@dataclass(frozen=True)
class Case:
    name: str
    behaviour: Behaviour
    good: bool = False


CASES: tuple[Case, ...] = (
    Case("good (A/A)", Behaviour(), good=True),
    Case("errors x1.5", Behaviour(error_factor=1.5)),
    Case("errors x2", Behaviour(error_factor=2.0)),
    Case("errors x4", Behaviour(error_factor=4.0)),
    Case("latency +10 %", Behaviour(latency_factor=1.1)),
    Case("latency +30 %", Behaviour(latency_factor=1.3)),
)


# ------------------------------------------------------------------------------ history


def load_history(
    series_path: str | None,
    endpoint: str | None,
    hours: float,
    errors: tuple[str, ...] = DEFAULT_ERRORS,
) -> tuple[str | None, tuple[SeriesMinute, ...]]:
    """(endpoint name if known, minutes) from a series file or the production adapters;
    ``errors``: the status codes and classes counted as errors (the policy's, see
    :func:`policy_errors`)."""
    if series_path is not None:
        path = Path(series_path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InvalidInput(f"cannot read series {path}: {exc.strerror}") from exc
        except ValueError as exc:
            raise bad("series", f"is not valid JSON: {exc}") from exc
        name = raw.get("endpoint") if isinstance(raw, Mapping) else None
        return (str(name) if name else None), parse_series(raw, "series")
    assert endpoint is not None
    if not 0 < hours <= 24 * 14:
        raise bad("--hours", "must be above 0 and at most 336 (two weeks)")
    from shared.bootstrap import build_engine

    engine = build_engine()  # the production adapters, from the app's settings
    now = datetime.now(UTC)
    minutes = history_from_metrics(engine.endpoints, engine.metrics, endpoint, hours, now, errors)
    return endpoint, minutes


def history_from_metrics(
    endpoints: EndpointControl,
    metrics: MetricsSource,
    endpoint: str,
    hours: float,
    now: datetime,
    errors: tuple[str, ...] = DEFAULT_ERRORS,
) -> tuple[SeriesMinute, ...]:
    """The live deployment's closed minutes over the last ``hours``, through the ports, with
    ``errors`` counted as errors (as the engine would count them)."""
    live = endpoints.get_endpoint(endpoint).live_deployment()
    if live is None:
        raise InvalidInput(f"endpoint {endpoint} has no deployment with live traffic")
    start = (now - timedelta(hours=hours)).replace(second=0, microsecond=0)
    query = MetricsQuery(endpoint, live, live, start, now, errors=errors)
    minutes = metrics.stage_minutes([query]).get(endpoint, [])
    if not minutes:
        raise InvalidInput(f"no metrics for {endpoint}/{live} in the last {hours:g} h")
    return tuple(
        SeriesMinute(
            m.baseline_requests, m.baseline_errors, m.baseline_p50, m.baseline_p90, m.baseline_p99
        )
        for m in minutes
    )


# ------------------------------------------------------------------------------ runs


def _place(policies: PolicySet, model: str | None) -> tuple[str, RolloutPolicy]:
    if model is not None:
        placement = policies.place(model, {})
        if placement.policy is None:
            raise bad("--model", f"{placement.reason}: {placement.detail}")
        return model, placement.policy
    rule = policies.rules[0]
    # a model name the first rule matches: its glob with wildcards filled in
    name = "".join("x" if c in "*?" else c for c in rule.match.model if c not in "[]!")
    placement = policies.place(name, {k: v for k, v in rule.match.tags.items() if v is not None})
    if placement.policy is None:
        raise bad("--model", f"cannot derive a model name for rule {rule.name!r}: give --model")
    return name, placement.policy


def _until(policy: RolloutPolicy) -> float:
    worst = PROVISIONING_S + policy.shadow_duration + policy.watch_window + 600.0
    worst += sum(s.max_duration for s in policy.judged_stages) + 2 * 60.0 * len(policy.stages)
    return min(MAX_HOURS * 3600.0, worst)


def scenario_for(
    policies: PolicySet,
    model: str,
    policy: RolloutPolicy,
    history: Sequence[SeriesMinute],
    case: Case,
    offset: int,
    seed: int,
) -> Scenario:
    rotated = tuple(history[offset:]) + tuple(history[:offset])
    return Scenario(
        policy=policies,
        endpoint=EndpointSpec(policy.endpoint, {LIVE: f"azureml:{model}:1"}, {LIVE: 100}, {}),
        requests_per_minute=float(statistics.median(m.requests for m in history)),
        behaviour={f"{model}:{NEW_VERSION}": case.behaviour},
        metrics=MetricsSpec(delay=120.0),
        arm=ArmSpec(provisioning=PROVISIONING_S),
        events=(
            Event(
                0.0,
                "register",
                {"model": model, "version": NEW_VERSION, "tags": {}, "event_id": f"what-if-{seed}"},
                0,
            ),
        ),
        until=_until(policy),
        seed=seed,
        series=rotated,
        name=case.name,
    )


@dataclass(frozen=True)
class Outcome:
    phase: str
    end_s: float | None  # time of the end (Succeeded or the rollback decision)
    rolled_back: bool
    judge_rollback: bool
    deadline: bool  # a stage reached its deadline (a pause, or a rollback by policy)
    canary_errors: int
    deadline_stages: tuple[int, ...]


def outcome_of(result: RunResult) -> Outcome:
    s = result.summary
    rollback_t: float | None = None
    judge_rb = False
    deadline_stages: list[int] = []
    for d in result.decisions:
        if d["reason"] in ("StageDeadline", "ShadowDeadline"):
            deadline_stages.append(int(d["stage_from"]))  # -1: the shadow
        if d["phase_to"] == "RollingBack" and rollback_t is None:
            rollback_t = float(d["t_s"])
            judge_rb = d["reason"] == "JudgeRollback"
    rolled_back = rollback_t is not None
    end_s = rollback_t if rolled_back else (s["duration_s"] if s["phase"] == "Succeeded" else None)
    errors = s["rollouts"][-1]["canary_errors_served"] if s["rollouts"] else 0
    return Outcome(
        phase=str(s["phase"]),
        end_s=end_s,
        rolled_back=rolled_back,
        judge_rollback=judge_rb,
        deadline=bool(deadline_stages),
        canary_errors=int(errors),
        deadline_stages=tuple(deadline_stages),
    )


def _minutes(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    return round(float(np.percentile(np.array(values) / 60.0, q)), 1)


def summarise(case: Case, outcomes: Sequence[Outcome]) -> dict[str, Any]:
    n = len(outcomes)
    row: dict[str, Any] = {"case": case.name, "runs": n}
    if case.good:
        done = [o.end_s for o in outcomes if o.phase == "Succeeded" and o.end_s is not None]
        row.update(
            false_rollback=sum(o.rolled_back for o in outcomes) / n,
            succeeded=len(done) / n,
            median_minutes=_minutes(done, 50),
            p90_minutes=_minutes(done, 90),
            needs_operator=sum(o.deadline for o in outcomes) / n,
        )
    else:
        caught = [o.end_s for o in outcomes if o.rolled_back and o.end_s is not None]
        row.update(
            caught=sum(o.rolled_back for o in outcomes) / n,
            caught_by_judge=sum(o.judge_rollback for o in outcomes) / n,
            median_minutes=_minutes(caught, 50),
            p90_minutes=_minutes(caught, 90),
            median_canary_errors=float(statistics.median(o.canary_errors for o in outcomes)),
            needs_operator=sum(o.deadline for o in outcomes) / n,
            promoted=sum(o.phase == "Succeeded" for o in outcomes) / n,
        )
    return row


def warnings_for(
    policy: RolloutPolicy, history: Sequence[SeriesMinute], good: Sequence[Outcome]
) -> list[str]:
    out: list[str] = []
    requests = float(statistics.median(m.requests for m in history))
    errors = sum(m.errors for m in history)
    if errors == 0 and policy.judge.clear_abs_margin <= 0:
        out.append(
            "the live deployment served no error in the whole history and clear_abs_margin is "
            "0: clearing on errors then needs error events, so every stage holds until its "
            "deadline"
        )
    judged: list[tuple[str, float]] = [
        (f"stage {i} ({s.weight} %)", s.weight / 100.0) for i, s in enumerate(policy.judged_stages)
    ]
    if policy.shadow_percent > 0 and policy.shadow_duration > 0:
        judged.insert(0, (f"shadow ({policy.shadow_percent} %)", policy.shadow_percent / 100.0))
    if policy.judge.guard_latency:
        for level in policy.judge.latency_levels:
            need = MIN_TAIL_REQUESTS / (1.0 - level)
            blind = [label for label, share in judged if requests * share < need]
            if blind:
                out.append(
                    f"p{level * 100:g} latency is never measurable in {', '.join(blind)}: the "
                    f"canary gets under {math.ceil(need)} requests a minute there (median "
                    f"{requests:.0f}/min on the endpoint)"
                )
    if good and policy.has_shadow:
        hit = sum(-1 in o.deadline_stages for o in good) / len(good)
        if hit >= 0.9:
            out.append(
                f"the shadow reaches its {policy.shadow_max_duration / 60:g}-minute deadline in "
                f"{hit:.0%} of good runs: the judge cannot clear it in time at this traffic"
            )
    if good:
        for i, stage in enumerate(policy.judged_stages):
            hit = sum(i in o.deadline_stages for o in good) / len(good)
            if hit >= 0.9:
                out.append(
                    f"stage {i} ({stage.weight} %) reaches its {stage.max_duration / 60:g}-minute "
                    f"deadline in {hit:.0%} of good runs: the judge cannot clear it in time at "
                    "this traffic"
                )
    return out


def read_policies(policy_path: str) -> PolicySet:
    """The policy file, parsed (a clear error naming the field when it is not valid)."""
    path = Path(policy_path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read policy {path}: {exc.strerror}") from exc
    try:
        return load_policy_text(text, source=str(path))
    except PolicyError as exc:
        raise bad(f"policy.{exc.field}", exc.message) from exc


def policy_errors(policies: PolicySet, endpoint: str | None, model: str | None) -> tuple[str, ...]:
    """What the policy counts as errors for the history read: the rule the model is placed
    by, else the first rule for ``endpoint``, else the defaults'."""
    if model is not None:
        placed = policies.place(model, {}).policy
        if placed is not None:
            return tuple(placed.errors)
    for rule in policies.rules:
        if endpoint is not None and rule.endpoint == endpoint:
            return tuple(rule.policy.errors)
    return tuple(policies.defaults.errors)


def what_if(
    *,
    policy_path: str,
    history: tuple[str | None, tuple[SeriesMinute, ...]],
    model: str | None = None,
    runs: int = 50,
    seed: int = 1,
    cases: Sequence[Case] = CASES,
) -> dict[str, Any]:
    if runs < 1 or runs > 10_000:
        raise bad("--runs", "must be between 1 and 10000")
    policies = read_policies(policy_path)
    endpoint_hint, minutes = history
    if model is None and endpoint_hint is not None:
        for rule in policies.rules:
            if rule.endpoint == endpoint_hint:
                policies = replace(policies, rules=(rule,))
                break
    name, policy = _place(policies, model)
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    good: list[Outcome] = []
    for case in cases:
        outcomes: list[Outcome] = []
        for i in range(runs):
            offset = int(rng.integers(len(minutes)))
            sc = scenario_for(policies, name, policy, minutes, case, offset, seed * 100_003 + i)
            outcomes.append(outcome_of(Simulation(sc, check=False).run()))
        if case.good:
            good = outcomes
        rows.append(summarise(case, outcomes))
    requests = [m.requests for m in minutes]
    total = sum(requests)
    return {
        "what_if": {
            "rule": policy.rule,
            "endpoint": policy.endpoint,
            "model": name,
            "history_minutes": len(minutes),
            "median_requests_per_minute": float(statistics.median(requests)),
            "error_rate": (sum(m.errors for m in minutes) / total) if total else 0.0,
            "runs_per_case": runs,
            "seed": seed,
            "stages": [s.weight for s in policy.stages],
            "shadow": {"percent": policy.shadow_percent, "duration_s": policy.shadow_duration},
            "alpha": policy.judge.alpha,
        },
        "cases": rows,
        "warnings": warnings_for(policy, minutes, good),
    }


# ------------------------------------------------------------------------------ table


def _pct(v: Any) -> str:
    return "-" if v is None else f"{100 * float(v):.0f} %"


def _num(v: Any) -> str:
    return "-" if v is None else f"{v:g}"


def render_table(report: Mapping[str, Any]) -> str:
    w = report["what_if"]
    lines = [
        f"what-if: rule {w['rule']} -> endpoint {w['endpoint']} (stages {w['stages']}, shadow "
        f"{w['shadow']['percent']} %, alpha {w['alpha']:g})",
        f"history: {w['history_minutes']} minutes, median {w['median_requests_per_minute']:.0f} "
        f"requests/min, error rate {100 * w['error_rate']:.2f} %; {w['runs_per_case']} seeded "
        "runs per case",
        "",
        "| case | false rollback / caught | median min | p90 min | needs operator | "
        "median canary errors |",
        "|---|---|---|---|---|---|",
    ]
    for r in report["cases"]:
        if "false_rollback" in r:
            lines.append(
                f"| {r['case']} | {_pct(r['false_rollback'])} false rollback | "
                f"{_num(r['median_minutes'])} to Succeeded | {_num(r['p90_minutes'])} | "
                f"{_pct(r['needs_operator'])} | - |"
            )
        else:
            lines.append(
                f"| {r['case']} | {_pct(r['caught'])} caught | {_num(r['median_minutes'])} to "
                f"rollback | {_num(r['p90_minutes'])} | {_pct(r['needs_operator'])} | "
                f"{_num(r['median_canary_errors'])} |"
            )
    if report["warnings"]:
        lines += ["", "warnings:"]
        lines += [f"- {msg}" for msg in report["warnings"]]
    return "\n".join(lines) + "\n"
