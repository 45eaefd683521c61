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
minutes, as the engine reads them, and on unsettled ones). savvi reads error counts only: in the
latency cells its row is the error test alone. In the late cell savvi runs on settled minutes
(the row the goals compare with) and on the minutes as first read (the newest partly ingested).

The replay reads a recorded series (see ``shared.judge.replay``) and prints one JSON line per
minute with the decision the judge would have taken then, and its evidence.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from bench._judge_rules import (
    binomial_every_minute,
    kayenta_error,
    kayenta_latency,
    naive_error,
    naive_latency,
    ours,
    settled,
)
from bench._judge_savvi import savvi_rule
from bench._judge_sim import IntArray, Scenario, Series, Truth, simulate
from shared.errors import InvalidInput
from shared.judge import JudgeSettings, StageJudge, load_replay

CONSTANT = Scenario("constant 10 %, 30 min", 30, ((0, 0.10),))
STAGED = Scenario("staged 10/25/50 %, drift", 30, ((0, 0.10), (10, 0.25), (20, 0.50)), drift=True)
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
OURS = "ours"
SAVVI = "savvi (Lindon-Malek 2022)"
SAVVI_UNSETTLED = f"{SAVVI}, on unsettled minutes"


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
    return out


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval for a proportion k / n."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _peer(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The savvi row the cell's ratios and goals compare with."""
    return next((r for r in rows if r.get("peer")), None)


def summarise(
    rule: str,
    s: Series,
    rollback: IntArray,
    cleared: IntArray | None = None,
    *,
    peer: bool = False,
) -> dict[str, Any]:
    fired = rollback >= 0
    k, n = int(fired.sum()), len(rollback)
    lo, hi = wilson(k, n)
    minutes = rollback[fired] + 1  # the rollback comes after minute index t's data
    all_minutes = np.where(fired, rollback + 1, s.minutes + 1)
    # canary errors served up to and including the deciding minute (all of them if never)
    cum = np.cumsum(s.x, axis=1)
    last = np.where(fired, rollback, s.minutes - 1)
    served = cum[np.arange(n), last]
    row: dict[str, Any] = {
        "rule": rule,
        "rollouts": n,
        "rollback_rate": k / n,
        "rollback_ci95": [round(lo, 4), round(hi, 4)],
        "median_minutes": float(np.median(minutes)) if k else None,
        "p90_minutes": float(np.percentile(minutes, 90)) if k else None,
        # over every rollout, a rollout never rolled back counting as after the horizon: the
        # time to detect that compares rules with different detection rates (the figures
        # above are over the detected ones only)
        "median_minutes_all": _censored(np.median(all_minutes), s.minutes),
        "p90_minutes_all": _censored(np.percentile(all_minutes, 90), s.minutes),
        "median_canary_errors_served": float(np.median(served)),
    }
    if peer:
        row["peer"] = True
    if cleared is not None:
        ok = cleared >= 0
        row["cleared_rate"] = float(ok.mean())
        # never cleared counts as "after the horizon" so the median is over every rollout
        times = np.where(ok, cleared + 1, s.minutes + 1)
        row["median_minutes_to_clear"] = _censored(np.median(times), s.minutes)
    return row


def _censored(value: float, horizon: int) -> float | None:
    """A time over every rollout; None when it falls after the horizon (never)."""
    return float(value) if value <= horizon else None


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 3)


def add_ratios(rows: list[dict[str, Any]], good: bool) -> None:
    """Each row's figures over savvi's in the same cell (None where undefined)."""
    peer = _peer(rows)
    for row in rows:
        if peer is None:
            row["vs_savvi"] = None
            continue
        row["vs_savvi"] = {
            "rollback_rate": _ratio(row["rollback_rate"], peer["rollback_rate"]),
            "median_minutes": None
            if good
            else _ratio(row["median_minutes_all"], peer["median_minutes_all"]),
            "p90_minutes": None
            if good
            else _ratio(row["p90_minutes_all"], peer["p90_minutes_all"]),
            "median_minutes_to_clear": _ratio(
                row.get("median_minutes_to_clear"), peer.get("median_minutes_to_clear")
            ),
        }


def run_cell(cell: Cell, rollouts: int, seed: int) -> list[dict[str, Any]]:
    sc = cell.scenario
    s = simulate(
        sc, cell.truth, rollouts, seed, latency=cell.latency, latency_margin=cell.latency_margin
    )
    weights, _ = sc.weights()
    peer = savvi_rule(s, weights, ALPHA, CLEAR_ALPHA)
    rows: list[dict[str, Any]] = []
    if not cell.latency:
        rows.append(summarise("naive: minute error rate > 1 %", s, naive_error(s)))
        rows.append(summarise("exact binomial, every minute", s, binomial_every_minute(s)))
        rows.append(summarise("Kayenta-like Mann-Whitney", s, kayenta_error(s)))
        if sc.late:
            # savvi as it would run beside the engine: on the minutes as first read (the
            # newest partly ingested), and on settled minutes like ours; the goals compare
            # like with like (settled with settled)
            assert s.seen is not None
            seen = savvi_rule(s, weights, ALPHA, CLEAR_ALPHA, views=(s.seen[1], s.seen[3]))
            rows.append(
                summarise(
                    f"{SAVVI}, settled minutes ({SETTLE} min)",
                    s,
                    settled(peer.rollback, SETTLE, s.minutes),
                    settled(peer.cleared, SETTLE, s.minutes),
                    peer=True,
                )
            )
            rows.append(summarise(SAVVI_UNSETTLED, s, seen.rollback, seen.cleared))
        else:
            rows.append(summarise(SAVVI, s, peer.rollback, peer.cleared, peer=True))
        if sc.late:
            res = ours(s, ERRORS_ONLY, settle=SETTLE)
            rows.append(
                summarise(f"{OURS}, settled minutes ({SETTLE} min)", s, res.rollback, res.cleared)
            )
            res = ours(s, ERRORS_ONLY)
            rows.append(summarise(f"{OURS}, on unsettled minutes", s, res.rollback, res.cleared))
        else:
            res = ours(s, ERRORS_ONLY)
            rows.append(summarise(OURS, s, res.rollback, res.cleared))
            res = ours(s, ERRORS_TOLERANT)
            rows.append(summarise(f"{OURS}, r0 = 1.25", s, res.rollback, res.cleared))
        add_ratios(rows, cell.truth.good)
        return rows
    settings = replace(
        LATENCY_STRICT if cell.latency_margin == 0 else LATENCY_DEFAULT,
        latency_margin=cell.latency_margin,
    )
    if cell.latency_margin == 0:
        rows.append(summarise("naive: minute P90 > 1.1 x baseline", s, naive_latency(s)))
        rows.append(summarise("Kayenta-like Mann-Whitney (P50)", s, kayenta_latency(s)))
    rows.append(summarise(SAVVI, s, peer.rollback, peer.cleared, peer=True))  # errors only
    for source in ("requests", "aggregates"):
        res = ours(s, settings, latency=source)
        name = (
            f"{OURS}, latency from {'per-request data' if source == 'requests' else 'P50/P90/P99'}"
        )
        rows.append(summarise(name, s, res.rollback, res.cleared))
    add_ratios(rows, cell.truth.good)
    return rows


def cell_label(cell: Cell) -> str:
    t = cell.truth
    truth = f"errors x{t.error:g}, latency x{t.latency:g}"
    if cell.latency:
        truth += f", latency margin {cell.latency_margin:g}"
    return f"{cell.scenario.name}; {truth}"


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None:
        return "-"
    if pct:
        return f"{100 * v:.1f} %"
    return f"{v:g}"


def _never(v: float | None) -> str:
    return "never" if v is None else f"{v:g}"


def markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "| scenario; truth | rule | rollback (95 % CI) | median / p90 min to detect: when "
        "detected; over all (never: after the horizon) | "
        "canary errors served (median) | cleared: median min (rate) | vs savvi: rollback, "
        "median / p90 detect, clear |",
        "|---|---|---|---|---|---|---|",
    ]
    for cell in results:
        for row in cell["rows"]:
            lo, hi = row["rollback_ci95"]
            rate = f"{_fmt(row['rollback_rate'], True)} ({100 * lo:.1f}-{100 * hi:.1f})"
            times = (
                f"{_fmt(row['median_minutes'])} / {_fmt(row['p90_minutes'])}; "
                f"{_never(row['median_minutes_all'])} / {_never(row['p90_minutes_all'])}"
            )
            clear = "-"
            if "cleared_rate" in row:
                clear = (
                    f"{_fmt(row['median_minutes_to_clear'])} ({_fmt(row['cleared_rate'], True)})"
                )
            vs = row.get("vs_savvi") or {}
            ratio = (
                f"{_fmt(vs.get('rollback_rate'))}, {_fmt(vs.get('median_minutes'))} / "
                f"{_fmt(vs.get('p90_minutes'))}, {_fmt(vs.get('median_minutes_to_clear'))}"
            )
            lines.append(
                f"| {cell['cell']} | {row['rule']} | {rate} | {times} | "
                f"{row['median_canary_errors_served']:g} | {clear} | {ratio} |"
            )
    return "\n".join(lines)


def _headline(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    for row in rows:
        if (
            row["rule"] == OURS
            or row["rule"].startswith(f"{OURS}, settled")
            or (row["rule"].startswith(f"{OURS}, latency from P50"))
        ):
            return row
    return None


def goals(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's goals per cell, from the figures: ours (the default judge; settled minutes in
    the late cell; percentiles in latency cells) against savvi in the same run."""
    out = []
    for cell in results:
        if not cell.get("goals", True):
            continue
        rows = cell["rows"]
        us = _headline(rows)
        peer = _peer(rows)
        if us is None or peer is None:
            continue
        checks: dict[str, bool | None] = {}
        if cell["good"]:
            checks["false rollbacks <= savvi's"] = us["rollback_rate"] <= peer["rollback_rate"]
            checks["false rollbacks <= 1 %"] = us["rollback_rate"] <= 0.01
            ours_clear, peer_clear = (
                us.get("median_minutes_to_clear"),
                peer.get("median_minutes_to_clear"),
            )
            checks["cleared no later than savvi"] = (
                None
                if peer_clear is None and ours_clear is None
                else (ours_clear is not None and (peer_clear is None or ours_clear <= peer_clear))
            )
            if cell["cell"].startswith(ZERO.name):
                checks["0-error canary cleared in median <= 6 min"] = (
                    ours_clear is not None and ours_clear <= 6
                )
        else:
            checks["detection >= savvi's"] = us["rollback_rate"] >= peer["rollback_rate"]
            for key, label in (("median_minutes_all", "median"), ("p90_minutes_all", "p90")):
                a, b = us[key], peer[key]
                checks[f"time to detect ({label}) <= savvi's"] = (
                    None if a is None and b is None else (a is not None and (b is None or a <= b))
                )
        out.append({"cell": cell["cell"], "rule": us["rule"], "checks": checks})
    return out


def goals_markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| scenario; truth | goal | met |", "|---|---|---|"]
    for g in rows:
        for goal, met in g["checks"].items():
            lines.append(
                f"| {g['cell']} | {goal} | {'-' if met is None else 'yes' if met else 'NO'} |"
            )
    return "\n".join(lines)


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
                "rows": rows,
            }
        )
        log(f"[{i + 1}/{len(all_cells)}] {cell_label(cell)}: {time.monotonic() - t0:.1f} s")
    return {
        "rollouts": rollouts,
        "seed": seed,
        "alpha": ALPHA,
        "clear_alpha": CLEAR_ALPHA,
        "seconds": round(time.monotonic() - started, 1),
        "cells": results,
        "goals": goals(results),
    }


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
    print(json.dumps(doc, indent=1))
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
