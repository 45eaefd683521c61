"""Benchmark of the sequential judge against common canary rules, and a replay tool.

    python -m bench.judge [--rollouts 500] [--seed 20240601] [--json-out FILE]
    python -m bench.judge --replay FILE.json

The benchmark simulates rollouts with known truth (fixed seeds) and prints a markdown table and
a JSON document: rollback rate with a 95 % Wilson interval (a false rollback when the canary is
good, a detection when it is bad), median and p90 minutes to detect (over the detected rollouts,
and over all of them with "never" counting as after the horizon: the goals use the latter, as
times over the detected ones alone favour a rule that detects less), canary errors served before
the rollback, and the median minutes until a good canary's first stage is cleared (ours: the
judge would promote; savvi: its confidence bound on the ratio is below the clear margin; a
rollout never cleared counts as after the horizon), each beside savvi's in the same cell, then
the issue's goals per cell, met or not (figures, never a pass/fail exit code).

Rules: a naive threshold, an exact binomial test re-run every minute (peeked), a Kayenta-like
Mann-Whitney test, savvi (``bench._judge_savvi``: the peer, restarted at each stage with the new
split) and ours (the default judge at alpha 0.01, clear_alpha 0.05; in the late cell on settled
minutes, as the engine reads them, and on unsettled ones; in the staged cells also as the
engine runs it, alpha / 3 a stage with the evidence carried between stages). savvi reads error
counts only: in the latency cells its row is the error test alone, beside a row of savvi
judging latency too from the same per-request counts as ours (the like-for-like goals). Each
goal against savvi also gets ours minus savvi with a paired bootstrap interval
(``bench._judge_paired``). In the late cell savvi runs on settled minutes
(the row the goals compare with) and on the minutes as first read (the newest partly ingested).
Where savvi's false rollbacks in a scenario's good cell exceed ours, it is also run held to our
rate (``bench._judge_matched``), and the detection goals are checked against that row too.
Each error-only bad cell whose law the oracle writes down also gets its ceiling
(``bench._judge_oracle``): the Neyman-Pearson bound on how often and how soon any rule with at
most alpha false rollbacks can detect it, and the goals say which of savvi's figures lie beyond
it, out of reach within the false-rollback goal, and Wald's test knowing the law (the
best-informed rule valid at any stage length) beside it, with the goals marking savvi's figures
that lie within the ceiling but beyond that rule.

The replay reads a recorded series (see ``shared.judge.replay``) and prints one JSON line per
minute with the decision the judge would have taken then, and its evidence.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from bench._judge_matched import label as matched_label
from bench._judge_matched import matched_alpha
from bench._judge_oracle import ceiling, supported, wald, wald_supported
from bench._judge_paired import Outcome, paired_differences
from bench._judge_report import (
    OURS,
    SAVVI,
    SAVVI_LATENCY,
    SAVVI_UNSETTLED,
    add_ratios,
    ceilings_markdown,
    goals,
    goals_markdown,
    headline,
    markdown,
    peer_row,
    summarise,
)
from bench._judge_rules import (
    binomial_every_minute,
    kayenta_error,
    kayenta_latency,
    naive_error,
    naive_latency,
    ours,
    ours_carried,
    settled,
)
from bench._judge_savvi import savvi_rule, savvi_with_latency
from bench._judge_sim import IntArray, Scenario, Series, Truth, simulate
from shared.errors import InvalidInput
from shared.judge import JudgeSettings, StageJudge, load_replay

CONSTANT = Scenario("constant 10 %, 30 min", 30, ((0, 0.10),))
STAGED = Scenario("staged 10/25/50 %, drift", 30, ((0, 0.10), (10, 0.25), (20, 0.50)), drift=True)
STAGED_STEADY = Scenario("staged 10/25/50 %", 30, ((0, 0.10), (10, 0.25), (20, 0.50)))
AA = Scenario("A/A 10 %, 120 min", 120, ((0, 0.10),))
ZERO = Scenario("zero errors on both sides", 30, ((0, 0.10),), baseline_error_rate=0.0)
RARE = Scenario("0.02 % errors", 30, ((0, 0.10),), baseline_error_rate=0.0002)
SLOW_TRAFFIC = Scenario("2 req/s", 30, ((0, 0.10),), requests_per_minute=120)
OD_05 = Scenario("canary-only lognormal sd 0.5", 30, ((0, 0.10),), overdispersion_sd=0.5)
OD_10 = Scenario("canary-only lognormal sd 1.0", 30, ((0, 0.10),), overdispersion_sd=1.0)
LATE = Scenario("late and revised minutes", 30, ((0, 0.10),), late=True)
LOW_LATENCY = Scenario("100 req/min of canary traffic", 30, ((0, 0.10),), requests_per_minute=1000)

ALPHA = 0.01
CLEAR_ALPHA = 0.05
SETTLE = 3  # minutes: the engine's default `settle`
ERRORS_ONLY = JudgeSettings(alpha=ALPHA, clear_alpha=CLEAR_ALPHA, guard_latency=False)
ERRORS_TOLERANT = replace(ERRORS_ONLY, tolerance=1.25)
LATENCY_STRICT = JudgeSettings(alpha=ALPHA, latency_margin=0.0)
LATENCY_DEFAULT = JudgeSettings(alpha=ALPHA)


@dataclass(frozen=True)
class Cell:
    scenario: Scenario
    truth: Truth
    latency: bool = False
    latency_margin: float = 0.0


def cells() -> list[Cell]:
    out = [Cell(sc, Truth(error=e)) for sc in (CONSTANT, STAGED) for e in (1.0, 2.0, 4.0)]
    out.append(Cell(AA, Truth()))
    out.append(Cell(ZERO, Truth()))
    out += [Cell(sc, Truth(error=e)) for sc in (RARE, SLOW_TRAFFIC) for e in (1.0, 4.0)]
    out += [Cell(sc, Truth(error=e)) for sc in (OD_05, OD_10) for e in (1.0, 2.0)]
    out += [Cell(LATE, Truth(error=e)) for e in (1.0, 2.0)]
    out += [Cell(CONSTANT, Truth(latency=f), latency=True) for f in (1.0, 1.1, 1.3)]
    out.append(Cell(CONSTANT, Truth(), latency=True, latency_margin=0.1))
    out.append(Cell(LOW_LATENCY, Truth(), latency=True, latency_margin=0.1))
    # last, so the seeds of the cells above stay what they were: a regression inside the
    # clearing margin, where carrying the evidence across stages matters
    out.append(Cell(STAGED_STEADY, Truth(error=1.5)))
    return out


OURS_CARRIED = OURS + ", as the engine runs it: alpha / {} a stage, evidence carried"


class _Rows:
    """A cell's rows, each rule's per-rollout outcome kept beside its row (for the paired
    intervals)."""

    def __init__(self, s: Series) -> None:
        self.series = s
        self.rows: list[dict[str, Any]] = []
        self.outcomes: dict[str, Outcome] = {}

    def add(
        self,
        rule: str,
        rollback: IntArray,
        cleared: IntArray | None = None,
        *,
        peer: bool = False,
        latency_peer: bool = False,
    ) -> None:
        self.outcomes[rule] = Outcome(rollback, cleared, self.series.minutes)
        row = summarise(rule, self.series, rollback, cleared, peer=peer)
        if latency_peer:
            row["latency_peer"] = True
        self.rows.append(row)


def run_cell(cell: Cell, rollouts: int, seed: int) -> list[dict[str, Any]]:
    sc = cell.scenario
    s = simulate(
        sc, cell.truth, rollouts, seed, latency=cell.latency, latency_margin=cell.latency_margin
    )
    weights, _ = sc.weights()
    peer = savvi_rule(s, weights, ALPHA, CLEAR_ALPHA)
    table = _Rows(s)
    rows = table.rows
    if not cell.latency:
        table.add("naive: minute error rate > 1 %", naive_error(s))
        table.add("exact binomial, every minute", binomial_every_minute(s))
        table.add("Kayenta-like Mann-Whitney", kayenta_error(s))
        if sc.late:
            # savvi as it would run beside the engine: on the minutes as first read (the
            # newest partly ingested), and on settled minutes like ours; the goals compare
            # like with like (settled with settled)
            assert s.seen is not None
            seen = savvi_rule(s, weights, ALPHA, CLEAR_ALPHA, views=(s.seen[1], s.seen[3]))
            table.add(
                f"{SAVVI}, settled minutes ({SETTLE} min)",
                settled(peer.rollback, SETTLE, s.minutes),
                settled(peer.cleared, SETTLE, s.minutes),
                peer=True,
            )
            table.add(SAVVI_UNSETTLED, seen.rollback, seen.cleared)
        else:
            table.add(SAVVI, peer.rollback, peer.cleared, peer=True)
        if sc.late:
            res = ours(s, ERRORS_ONLY, settle=SETTLE)
            table.add(f"{OURS}, settled minutes ({SETTLE} min)", res.rollback, res.cleared)
            res = ours(s, ERRORS_ONLY)
            table.add(f"{OURS}, on unsettled minutes", res.rollback, res.cleared)
        else:
            res = ours(s, ERRORS_ONLY)
            table.add(OURS, res.rollback, res.cleared)
            res = ours(s, ERRORS_TOLERANT)
            table.add(f"{OURS}, r0 = 1.25", res.rollback, res.cleared)
            if len(sc.stages) > 1:
                res = ours_carried(s, ERRORS_ONLY)
                table.add(OURS_CARRIED.format(len(sc.stages)), res.rollback, res.cleared)
        add_ratios(rows, cell.truth.good)
        add_paired(rows, table.outcomes)
        return rows
    settings = replace(
        LATENCY_STRICT if cell.latency_margin == 0 else LATENCY_DEFAULT,
        latency_margin=cell.latency_margin,
    )
    if cell.latency_margin == 0:
        table.add("naive: minute P90 > 1.1 x baseline", naive_latency(s))
        table.add("Kayenta-like Mann-Whitney (P50)", kayenta_latency(s))
    table.add(SAVVI, peer.rollback, peer.cleared, peer=True)  # errors only
    if cell.latency_margin > 0:
        both = savvi_with_latency(s, weights, ALPHA, CLEAR_ALPHA, settings.latency_min_tail)
        table.add(SAVVI_LATENCY, both.rollback, both.cleared, latency_peer=True)
    for source in ("requests", "aggregates"):
        res = ours(s, settings, latency=source)
        table.add(latency_label(source), res.rollback, res.cleared)
    add_ratios(rows, cell.truth.good)
    add_paired(rows, table.outcomes)
    return rows


def latency_label(source: str) -> str:
    return f"{OURS}, latency from {'per-request data' if source == 'requests' else 'P50/P90/P99'}"


def add_paired(rows: list[dict[str, Any]], outcomes: dict[str, Outcome]) -> None:
    """The headline row's paired differences from savvi's on the same rollouts, with their
    bootstrap intervals (``bench._judge_paired``): how sure each goal's verdict is."""
    us, peer = headline(rows), peer_row(rows)
    if us is None or peer is None:
        return
    us["vs_savvi_paired"] = paired_differences(outcomes[us["rule"]], outcomes[peer["rule"]])
    both = next((r for r in rows if r.get("latency_peer")), None)
    if both is not None:
        per_request = next(r for r in rows if r["rule"] == latency_label("requests"))
        per_request["vs_savvi_latency_paired"] = paired_differences(
            outcomes[per_request["rule"]], outcomes[both["rule"]]
        )


def cell_label(cell: Cell) -> str:
    t = cell.truth
    truth = f"errors x{t.error:g}, latency x{t.latency:g}"
    if cell.latency:
        truth += f", latency margin {cell.latency_margin:g}"
    return f"{cell.scenario.name}; {truth}"


def benchmark(rollouts: int, seed: int, log: Callable[[str], None]) -> dict[str, Any]:
    started = time.monotonic()
    results: list[dict[str, Any]] = []
    all_cells = cells()
    for i, cell in enumerate(all_cells):
        t0 = time.monotonic()
        rows = run_cell(cell, rollouts, seed + 1000 * i)
        results.append(
            {
                "cell": cell_label(cell),
                "good": cell.truth.good,
                # latency cells with margin 0 compare detection rules only (nothing can be
                # shown within a margin of 0): no goals there
                "goals": not (cell.latency and cell.latency_margin == 0),
                "zero_errors": cell.scenario.baseline_error_rate == 0,
                "rows": rows,
            }
        )
        log(f"[{i + 1}/{len(all_cells)}] {cell_label(cell)}: {time.monotonic() - t0:.1f} s")
    t0 = time.monotonic()
    add_size_matched(all_cells, results, rollouts, seed)
    log(f"savvi at our false-rollback rate: {time.monotonic() - t0:.1f} s")
    t0 = time.monotonic()
    add_ceilings(all_cells, results, seed)
    log(f"ceilings: {time.monotonic() - t0:.1f} s")
    return {
        "rollouts": rollouts,
        "seed": seed,
        "alpha": ALPHA,
        "clear_alpha": CLEAR_ALPHA,
        "seconds": round(time.monotonic() - started, 1),
        "cells": results,
        "goals": goals(results),
    }


def add_size_matched(
    all_cells: Sequence[Cell], results: list[dict[str, Any]], rollouts: int, seed: int
) -> None:
    """Rows of savvi held to our false-rollback rate (``bench._judge_matched``) in the
    error-only scenarios where its false rollbacks exceed ours. Not in the late scenario: there
    the peer reads settled minutes, a different rule."""
    for i, cell in enumerate(all_cells):
        sc = cell.scenario
        if cell.latency or not cell.truth.good or sc.late:
            continue
        rows = results[i]["rows"]
        us, peer = headline(rows), peer_row(rows)
        if us is None or peer is None or peer["rollback_rate"] <= us["rollback_rate"]:
            continue
        weights, _ = sc.weights()
        null = simulate(sc, cell.truth, rollouts, seed + 1000 * i)
        m = matched_alpha(null, weights, us["rollback_rate"], CLEAR_ALPHA)
        info = {"target": m.target, "alpha": m.alpha, "rate": m.rate}
        rows.append({**summarise(matched_label(m), null, m.rollback), "matched": True})
        add_ratios(rows, True)
        results[i]["matched"] = info
        for j, bad in enumerate(all_cells):
            if bad.scenario is not sc or bad.latency or bad.truth.good:
                continue
            results[j]["matched"] = info
            if m.alpha is None:
                continue
            s = simulate(sc, bad.truth, rollouts, seed + 1000 * j)
            res = savvi_rule(s, weights, m.alpha, CLEAR_ALPHA)
            results[j]["rows"].append(
                {**summarise(matched_label(m), s, res.rollback), "matched": True}
            )
            add_ratios(results[j]["rows"], False)


def add_ceilings(all_cells: Sequence[Cell], results: list[dict[str, Any]], seed: int) -> None:
    """The Neyman-Pearson ceiling at alpha (``bench._judge_oracle``) of each error-only bad cell
    whose law the oracle writes down: what no rule within the false-rollback goal can beat."""
    for j, cell in enumerate(all_cells):
        if cell.latency or cell.truth.good or not supported(cell.scenario):
            continue
        c = ceiling(cell.scenario, cell.truth, ALPHA, seed + 1000 * j + 500)
        results[j]["ceiling"] = c.to_dict()
        if wald_supported(cell.scenario):
            w = wald(cell.scenario, cell.truth, ALPHA, seed + 1000 * j + 700)
            results[j]["wald"] = w.to_dict()


def replay(path: str, out: Callable[[str], None]) -> None:
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    minutes, settings = load_replay(doc)
    stage = StageJudge(settings)
    for i, minute in enumerate(minutes):
        stage.add(minute)
        verdict = stage.verdict()
        line: dict[str, Any] = {
            "minute": i,
            "start": None if minute.start is None else minute.start.isoformat(),
            "decision": verdict.decision,
            "reason": verdict.reason,
            "evidence": verdict.evidence,
        }
        out(json.dumps(line, sort_keys=True, allow_nan=False))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.judge", description="Judge benchmark and replay."
    )
    parser.add_argument("--rollouts", type=int, default=500, help="simulated rollouts per cell")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--json-out", help="also write the JSON results to this file")
    parser.add_argument("--replay", metavar="FILE.json", help="replay a recorded series")
    args = parser.parse_args(argv)
    if args.replay:
        try:
            replay(args.replay, print)
        except (OSError, ValueError, InvalidInput) as exc:
            message = exc.message if isinstance(exc, InvalidInput) else str(exc)
            print(f"replay: {args.replay}: {message}", file=sys.stderr)
            return 2
        return 0
    if args.rollouts < 1:
        parser.error("--rollouts must be at least 1")
    doc = benchmark(args.rollouts, args.seed, lambda s: print(s, file=sys.stderr))
    print(markdown(doc["cells"]))
    print()
    print(goals_markdown(doc["goals"]))
    print()
    print(ceilings_markdown(doc["cells"]))
    print()
    print(json.dumps(doc, indent=1))
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
