"""``python -m shared.simulation run SCENARIO.json [--trace]`` and ``... what-if ...``.

Exit codes: 0 done (and every expectation of the scenario met), 1 an expectation unmet,
2 a bad scenario, policy or series (nothing ran).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from shared.errors import AutocanaryError


def _line(out: TextIO, obj: Any) -> None:
    out.write(json.dumps(obj, sort_keys=False, default=str) + "\n")


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    parser = argparse.ArgumentParser(prog="python -m shared.simulation")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="play a scenario file through the engine")
    run.add_argument("scenario")
    run.add_argument("--trace", action="store_true", help="one extra line per tick")
    run.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    wi = sub.add_parser("what-if", help="how would this policy treat good and bad versions?")
    wi.add_argument("--policy", required=True, help="policy file (YAML or JSON)")
    src = wi.add_mutually_exclusive_group(required=True)
    src.add_argument("--series", help="per-minute history of the live deployment (JSON)")
    src.add_argument("--endpoint", help="read the history through the Azure Monitor adapter")
    wi.add_argument("--hours", type=float, default=24.0, help="history to read (--endpoint)")
    wi.add_argument("--model", default=None, help="model name the policy is matched with")
    wi.add_argument("--runs", type=int, default=50, help="seeded runs per case")
    wi.add_argument("--seed", type=int, default=1)
    wi.add_argument("--json", action="store_true", help="JSON instead of a table")
    args = parser.parse_args(argv)
    # The engine logs warnings (a metrics outage, a failed effect) that a simulation means to
    # cause; the decisions carry them.
    logging.getLogger("autocanary").setLevel(logging.CRITICAL)
    if args.command == "run":
        return _run(args, out)
    return _what_if(args, out)


def _run(args: argparse.Namespace, out: TextIO) -> int:
    from shared.simulation.expect import unmet
    from shared.simulation.runner import run_scenario
    from shared.simulation.scenario import load_scenario

    try:
        scenario = load_scenario(args.scenario)
    except AutocanaryError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        return 2
    result = run_scenario(
        scenario, trace=args.trace, sink=lambda line: _line(out, line), seed=args.seed
    )
    failures = unmet(scenario.expect, result) if scenario.expect is not None else []
    summary = dict(result.summary)
    if result.violations:
        summary["violations"] = result.violations
    if scenario.expect is not None:
        summary["expect"] = {"met": not failures, "unmet": failures}
    _line(out, {"summary": summary})
    return 1 if failures else 0


def _what_if(args: argparse.Namespace, out: TextIO) -> int:
    from shared.simulation.whatif import (
        load_history,
        policy_errors,
        read_policies,
        render_table,
        what_if,
    )

    try:
        errors = policy_errors(read_policies(args.policy), args.endpoint, args.model)
        history = load_history(args.series, args.endpoint, args.hours, errors)
        report = what_if(
            policy_path=args.policy,
            history=history,
            model=args.model,
            runs=args.runs,
            seed=args.seed,
        )
    except AutocanaryError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        return 2
    if args.json:
        _line(out, report)
    else:
        out.write(render_table(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
