"""Benchmark of the sequential judge against common canary rules, and a replay tool.

    python -m bench.judge [--rollouts 1000] [--seed 20240601] [--json-out FILE]
    python -m bench.judge --replay FILE.json

The benchmark simulates rollouts with known truth (fixed seeds) and prints a markdown table and
a JSON document: rollback rate with a 95 % Wilson interval (a false rollback when the canary is
good, a detection when it is bad), median and p90 minutes to detect, canary errors served before
the rollback, and the minutes until our judge first clears a good canary's first stage.

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
)
from bench._judge_sim import IntArray, Scenario, Series, Truth, simulate
from shared.errors import InvalidInput
from shared.judge import JudgeSettings, StageJudge, load_replay

CONSTANT = Scenario("constant 10 %, 30 min", 30, ((0, 0.10),))
STAGED = Scenario("staged 10/25/50 %, drift", 30, ((0, 0.10), (10, 0.25), (20, 0.50)), drift=True)
AA = Scenario("A/A 10 %, 120 min", 120, ((0, 0.10),))
OVERDISPERSED = Scenario("canary-only overdispersion", 30, ((0, 0.10),), overdispersion_shape=4.0)

ALPHA = 0.01
ERRORS_ONLY = JudgeSettings(alpha=ALPHA, guard_latency=False)
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
    out += [Cell(OVERDISPERSED, Truth(error=e)) for e in (1.0, 2.0)]
    out += [Cell(CONSTANT, Truth(latency=f), latency=True) for f in (1.0, 1.1, 1.3)]
    out.append(Cell(CONSTANT, Truth(), latency=True, latency_margin=0.1))
    return out


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval for a proportion k / n."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def summarise(
    rule: str, s: Series, rollback: IntArray, cleared: IntArray | None = None
) -> dict[str, Any]:
    fired = rollback >= 0
    k, n = int(fired.sum()), len(rollback)
    lo, hi = wilson(k, n)
    minutes = rollback[fired] + 1  # the rollback comes after minute index t's data
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
        "median_canary_errors_served": float(np.median(served)),
    }
    if cleared is not None:
        ok = cleared >= 0
        row["cleared_rate"] = float(ok.mean())
        row["median_minutes_to_clear"] = float(np.median(cleared[ok] + 1)) if ok.any() else None
    return row


def run_cell(cell: Cell, rollouts: int, seed: int) -> list[dict[str, Any]]:
    s = simulate(
        cell.scenario,
        cell.truth,
        rollouts,
        seed,
        latency=cell.latency,
        latency_margin=cell.latency_margin,
    )
    rows: list[dict[str, Any]] = []
    if not cell.latency:
        rows.append(summarise("naive: minute error rate > 1 %", s, naive_error(s)))
        rows.append(summarise("exact binomial, every minute", s, binomial_every_minute(s)))
        rows.append(summarise("Kayenta-like Mann-Whitney", s, kayenta_error(s)))
        for name, settings in (("ours, r0 = 1", ERRORS_ONLY), ("ours, r0 = 1.25", ERRORS_TOLERANT)):
            res = ours(s, settings)
            rows.append(summarise(name, s, res.rollback, res.cleared))
        return rows
    settings = replace(
        LATENCY_STRICT if cell.latency_margin == 0 else LATENCY_DEFAULT,
        latency_margin=cell.latency_margin,
    )
    if cell.latency_margin == 0:
        rows.append(summarise("naive: minute P90 > 1.1 x baseline", s, naive_latency(s)))
        rows.append(summarise("Kayenta-like Mann-Whitney (P50)", s, kayenta_latency(s)))
    for source in ("requests", "aggregates"):
        res = ours(s, settings, latency=source)
        name = f"ours, latency from {'per-request data' if source == 'requests' else 'P50/P90/P99'}"
        rows.append(summarise(name, s, res.rollback, res.cleared))
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


def markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "| scenario; truth | rule | rollback (95 % CI) | median / p90 min | canary errors "
        "served (median) | cleared: median min (rate) |",
        "|---|---|---|---|---|---|",
    ]
    for cell in results:
        for row in cell["rows"]:
            lo, hi = row["rollback_ci95"]
            rate = f"{_fmt(row['rollback_rate'], True)} ({100 * lo:.1f}-{100 * hi:.1f})"
            times = f"{_fmt(row['median_minutes'])} / {_fmt(row['p90_minutes'])}"
            clear = "-"
            if "cleared_rate" in row:
                clear = (
                    f"{_fmt(row['median_minutes_to_clear'])} ({_fmt(row['cleared_rate'], True)})"
                )
            lines.append(
                f"| {cell['cell']} | {row['rule']} | {rate} | {times} | "
                f"{row['median_canary_errors_served']:g} | {clear} |"
            )
    return "\n".join(lines)


def benchmark(rollouts: int, seed: int, log: Callable[[str], None]) -> dict[str, Any]:
    started = time.monotonic()
    results: list[dict[str, Any]] = []
    for i, cell in enumerate(cells()):
        t0 = time.monotonic()
        rows = run_cell(cell, rollouts, seed + 1000 * i)
        results.append({"cell": cell_label(cell), "good": cell.truth.good, "rows": rows})
        log(f"[{i + 1}/{len(cells())}] {cell_label(cell)}: {time.monotonic() - t0:.1f} s")
    return {
        "rollouts": rollouts,
        "seed": seed,
        "alpha": ALPHA,
        "seconds": round(time.monotonic() - started, 1),
        "cells": results,
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
    parser.add_argument("--rollouts", type=int, default=1000, help="simulated rollouts per cell")
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
    print(json.dumps(doc, indent=1))
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
