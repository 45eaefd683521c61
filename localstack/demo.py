"""``python -m localstack.demo`` (``make demo``): four rollouts on the local stack, narrated.

Starts Azurite, the emulator and devhost (serving function_app) on free loopback ports,
creates the endpoint ``fraud-demo`` with a live deployment of the sample model, subscribes the
app to the workspace's ModelRegistered events, adds a latency alert rule that calls the app,
sends steady traffic, and plays the scenarios of :mod:`localstack.scenarios`. Metric minutes
last ``--bucket-seconds`` and the reconcile timer is run every ``--reconcile-every`` seconds,
so the whole demo takes about two minutes (a stage's deadline is far longer: only a rare
unlucky stage runs long). Everything it started is stopped at the end, on
Ctrl-C and on failure. Exit code 0 when every scenario ended as expected within the budget,
1 otherwise, 2 when the stack could not start, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
from pathlib import Path

from localstack.narrate import Narrator, table
from localstack.options import DEMO_POLICY, StackError, StackOptions
from localstack.processes import interrupt_on_signals
from localstack.scenarios import (
    TERMINAL,
    Player,
    Result,
    Scenario,
    baseline_model,
    demo_scenarios,
)
from localstack.stack import Stack
from localstack.traffic import TrafficGenerator
from localstack.watchers import ReconcilePump, SplitWatcher
from localstack.workspace import (
    add_alert_rule,
    create_endpoint,
    latency_alert_rule,
    register_code,
    register_model,
    subscribe_app,
)
from shared.model import deployment_name
from shared.policy import load_policy_text

MODEL = "fraud"
# The demo's traffic: scoring requests per second, and real seconds in one metric minute.
RATE = 60.0
BUCKET_SECONDS = 2.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m localstack.demo", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--policy", type=Path, default=DEMO_POLICY, help="rollout policy file")
    parser.add_argument("--rate", type=float, default=RATE, help="scoring requests per second")
    parser.add_argument(
        "--bucket-seconds",
        type=float,
        default=BUCKET_SECONDS,
        help="real seconds in one metric minute",
    )
    parser.add_argument(
        "--reconcile-every", type=float, default=1.0, help="seconds between reconcile runs"
    )
    parser.add_argument("--budget", type=float, default=420.0, help="seconds for the whole demo")
    parser.add_argument(
        "--alert-threshold-ms", type=float, default=200.0, help="latency alert threshold (P90)"
    )
    parser.add_argument(
        "--keep-state", action="store_true", help="keep the state directory (logs) afterwards"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.rate <= 500:
        parser.error("--rate must be between 1 and 500")
    if not 0.1 <= args.reconcile_every <= 60:
        parser.error("--reconcile-every must be between 0.1 and 60 seconds")
    if args.budget <= 0:
        parser.error("--budget must be positive")
    return args


def summary_rows(results: list[Result], scenarios: list[Scenario]) -> list[list[str]]:
    rows: list[list[str]] = []
    for scenario in scenarios:
        done = next((r for r in results if r.scenario is scenario), None)
        if done is None:
            rows.append(
                [
                    str(scenario.number),
                    scenario.title,
                    scenario.model.asset_id,
                    scenario.expect_phase,
                    "not run",
                    "-",
                    "-",
                    "FAIL",
                    "",
                ]
            )
            continue
        rows.append(
            [
                str(scenario.number),
                scenario.title,
                scenario.model.asset_id,
                f"{scenario.expect_phase} ({scenario.expect_decided_by})",
                done.phase or "-",
                done.decided_by or "-",
                f"{done.seconds:.1f} s",
                "ok" if done.ok else "FAIL",
                "; ".join(done.notes + done.problems),
            ]
        )
    return rows


def play(
    stack: Stack,
    args: argparse.Namespace,
    narrator: Narrator,
    endpoint: str,
    scenarios: list[Scenario],
    deadline: float,
) -> list[Result]:
    """Set up the workspace on the running stack, send traffic, play every scenario."""
    times = ", ".join(f"{k} {v:.1f} s" for k, v in stack.started_in.items())
    narrator.line(
        f"stack up ({times}): emulator {stack.emulator.arm_url}, devhost "
        f"{stack.app.base_url}, state in {stack.state_dir}"
    )
    warm: dict[str, float] = {}

    def warm_up() -> None:  # the app builds its engine meanwhile (first invocation)
        t0 = time.monotonic()
        with contextlib.suppress(OSError):
            stack.app.api("GET", "rollouts", timeout=120)
        warm["seconds"] = time.monotonic() - t0

    warmer = threading.Thread(target=warm_up, name="warm-up", daemon=True)
    warmer.start()
    code = register_code(stack)
    baseline = baseline_model(MODEL)
    register_model(stack, baseline)
    live = deployment_name(baseline.name, baseline.version)
    scoring = create_endpoint(stack, endpoint, live, baseline.asset_id, code)
    subscribe_app(stack)
    rule = latency_alert_rule(stack.app, endpoint, threshold_ms=args.alert_threshold_ms)
    add_alert_rule(stack, rule)
    narrator.line(
        f"endpoint {endpoint}: {live} ({baseline.asset_id}, "
        f"{100 * baseline.error_rate:g} % errors) serves 100 %; Event Grid subscription "
        f"-> on_model_registered; alert rule {rule['name']}: {rule['metricName']} of a "
        f"deployment > {rule['threshold']:g} ms -> /api/alerts"
    )
    results: list[Result] = []
    bound = args.budget + 60
    with contextlib.ExitStack() as helpers:
        traffic = helpers.enter_context(
            TrafficGenerator(
                scoring["scoring_uri"],
                scoring["key"],
                stack.emulator.cert_path,
                rate=args.rate,
                max_seconds=bound,
            )
        )
        watcher = helpers.enter_context(SplitWatcher(stack, endpoint, max_seconds=bound))
        warmer.join(timeout=max(1.0, deadline - time.monotonic()))
        narrator.line(
            f"app ready (its first call built the engine in {warm.get('seconds', 0):.1f} s)"
        )
        helpers.enter_context(ReconcilePump(stack.app, args.reconcile_every, max_seconds=bound))
        player = Player(stack, endpoint, narrator, traffic=traffic, watcher=watcher)
        for scenario in scenarios:
            if time.monotonic() >= deadline:
                break
            result = player.play(scenario, deadline)
            results.append(result)
            verdict = "as expected" if result.ok else "WRONG: " + "; ".join(result.problems)
            narrator.line(
                f"Scenario {scenario.number} ended {result.phase or 'nowhere'} after "
                f"{result.seconds:.1f} s: {verdict}"
            )
            if result.phase not in TERMINAL:
                break  # the endpoint is still busy: later scenarios would only queue
        served = dict(sorted(traffic.total_by_status.items()))
        narrator.line(
            f"traffic: {traffic.sent} requests sent, answers by status {served}, "
            f"{traffic.failed} without an answer; stopping the stack"
        )
    return results


def run(args: argparse.Namespace, narrator: Narrator) -> int:
    start = time.monotonic()
    deadline = start + args.budget
    policies = load_policy_text(args.policy.read_text(encoding="utf-8"), source=str(args.policy))
    placement = policies.place(MODEL, {})
    if placement.policy is None:
        narrator.line(f"the policy sends no rollout for model {MODEL!r}: {placement.detail}")
        return 2
    endpoint = placement.policy.endpoint
    scenarios = demo_scenarios(MODEL)
    options = StackOptions(
        policy_file=args.policy,
        bucket_seconds=args.bucket_seconds,
        keep_state=args.keep_state,
    )
    narrator.line(
        f"autocanary demo: {len(scenarios)} rollouts on endpoint {endpoint}; one metric minute "
        f"lasts {args.bucket_seconds:g} s, reconcile runs every {args.reconcile_every:g} s, "
        f"{args.rate:g} scoring requests/s"
    )
    with Stack(options) as stack:
        try:
            results = play(stack, args, narrator, endpoint, scenarios, deadline)
        except Exception:
            stack.keep_state_on_stop = True
            narrator.line(f"the demo failed; logs are kept in {stack.state_dir}")
            raise
        if not (len(results) == len(scenarios) and all(r.ok for r in results)):
            stack.keep_state_on_stop = True
            narrator.line(f"logs are kept in {stack.state_dir}")
    elapsed = time.monotonic() - start
    print()
    print(
        table(
            [
                "#",
                "scenario",
                "model",
                "expected",
                "ended",
                "decided by",
                "took",
                "result",
                "notes",
            ],
            summary_rows(results, scenarios),
        )
    )
    ok = len(results) == len(scenarios) and all(r.ok for r in results)
    in_budget = elapsed <= args.budget
    print()
    print(
        f"demo {'passed' if ok and in_budget else 'FAILED'}: {elapsed:.1f} s "
        f"(budget {args.budget:g} s{'' if in_budget else ', exceeded'}); everything stopped"
    )
    return 0 if ok and in_budget else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    narrator = Narrator()
    with interrupt_on_signals():
        try:
            return run(args, narrator)
        except KeyboardInterrupt:
            narrator.done()
            print("\ninterrupted: everything the demo started was stopped", file=sys.stderr)
            return 130
        except StackError as exc:
            narrator.done()
            print(f"the local stack could not start: {exc}", file=sys.stderr)
            return 2
        except Exception as exc:
            narrator.done()
            print(f"the demo failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
