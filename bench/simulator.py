"""Speed of the rollout simulator (``make bench-sim``): simulated hours per wall second.

One rollout of six simulated hours (a 30-minute shadow, stages of 10, 25, 50 % of at least
75 minutes each, a one-hour watch window, 6000 requests a minute, metrics two minutes late),
played by the production engine and judge over the fakes, timed over ``--runs`` runs (after
one warm-up run), with and without the invariant checks after every step. Goal (printed,
never asserted): 6 simulated hours in under 2 s.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import time
from typing import Any

from shared.simulation.runner import Simulation
from shared.simulation.scenario import Scenario, parse_scenario

GOAL_SECONDS = 2.0
POLICY = """
defaults:
  shadow: {percent: 20, duration: 30m}
  stages:
    - {weight: 10, min_duration: 75m, max_duration: 3h}
    - {weight: 25, min_duration: 75m, max_duration: 3h}
    - {weight: 50, min_duration: 75m, max_duration: 3h}
    - {weight: 100}
  watch_window: 1h
rules:
  - name: fraud
    match: {model: fraud}
    endpoint: fraud
"""


def scenario(seed: int = 1) -> Scenario:
    return parse_scenario(
        {
            "policy": POLICY,
            "endpoint": {
                "name": "fraud",
                "deployments": {"blue": {"model": "azureml:fraud:1"}},
                "traffic": {"blue": 100},
            },
            "requests_per_minute": 6000,
            "behaviour": {"blue": {"error_rate": 0.02, "latency_ms": 50}},
            "metrics": {"delay": "2m"},
            "arm": {"provisioning": "8m", "deletion": "2m"},
            "events": [{"at": "0m", "register": {"model": "fraud", "version": "2"}}],
            "until": "6h",
            "seed": seed,
        }
    )


def measure(runs: int, check: bool) -> dict[str, Any]:
    sc = scenario()
    Simulation(sc, check=check, stop_when_idle=False).run()  # warm-up: imports, caches
    times: list[float] = []
    cpu: list[float] = []
    last: dict[str, Any] = {}
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        result = Simulation(sc, check=check, stop_when_idle=False).run()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        last = result.summary
    median = statistics.median(times)
    simulated_h = last["ticks"] / 60.0
    return {
        "invariant_checks": check,
        "runs": runs,
        "median_s": round(median, 3),
        "max_s": round(max(times), 3),
        "median_cpu_s": round(statistics.median(cpu), 3),
        "simulated_hours": round(simulated_h, 2),
        "simulated_hours_per_s": round(simulated_h / median, 1),
        "ticks": last["ticks"],
        "decisions": last["decisions"],
        "end_phase": last["phase"],
        "duration": last["duration"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.simulator")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    logging.getLogger("autocanary").setLevel(logging.CRITICAL)
    rows = [measure(args.runs, check) for check in (True, False)]
    print(f"rollout simulator, {os.cpu_count()} CPU(s), goal: 6 simulated hours < {GOAL_SECONDS} s")
    print(
        "| invariant checks | median wall s | max wall s | median CPU s | simulated h "
        "| sim h / wall s | ticks | decisions | end |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {'on' if r['invariant_checks'] else 'off'} | {r['median_s']} | {r['max_s']} | "
            f"{r['median_cpu_s']} | {r['simulated_hours']} | {r['simulated_hours_per_s']} | "
            f"{r['ticks']} | {r['decisions']} | {r['end_phase']} after {r['duration']} |"
        )
    print(json.dumps({"bench": "simulator", "goal_s": GOAL_SECONDS, "rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
