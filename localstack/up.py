"""``python -m localstack.up`` (``make up``): the demo's stack, left running until Ctrl-C.

Starts Azurite, the emulator and devhost (serving function_app) on free loopback ports, sets
up the same workspace as the demo (endpoint ``fraud-demo`` with ``fraud-v1`` live, the Event
Grid subscription, the latency alert rule), optionally sends steady traffic and runs the
reconcile timer every few seconds, then prints URLs, keys and commands to try. Three model
folders (a good, an erroring and a slow version) are written to the state directory, ready to
be registered. Everything stops on Ctrl-C (or SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
import time
from pathlib import Path

from localstack.options import DEMO_POLICY, StackError, StackOptions
from localstack.processes import interrupt_on_signals
from localstack.scenarios import (
    BASELINE_ERROR_RATE,
    baseline_model,
    demo_scenarios,
)
from localstack.stack import Stack
from localstack.traffic import TrafficGenerator
from localstack.watchers import ReconcilePump
from localstack.workspace import (
    add_alert_rule,
    create_endpoint,
    latency_alert_rule,
    register_code,
    register_model,
    subscribe_app,
    write_model,
)
from shared.model import deployment_name
from shared.policy import load_policy_text

MODEL = "fraud"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m localstack.up", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--policy", type=Path, default=DEMO_POLICY, help="rollout policy file")
    parser.add_argument(
        "--bucket-seconds", type=float, default=2.0, help="real seconds in one metric minute"
    )
    parser.add_argument(
        "--rate", type=float, default=20.0, help="scoring requests per second (0: none)"
    )
    parser.add_argument(
        "--reconcile-every",
        type=float,
        default=2.0,
        help="run the reconcile timer every S seconds (0: only on its own schedule, every "
        "minute, as in Azure)",
    )
    parser.add_argument(
        "--hours", type=float, default=8.0, help="stop by itself after this many hours"
    )
    parser.add_argument(
        "--state-dir", type=Path, default=None, help="keep state and logs here (kept at exit)"
    )
    args = parser.parse_args(argv)
    if not 0 <= args.rate <= 500:
        parser.error("--rate must be between 0 and 500")
    if args.reconcile_every < 0:
        parser.error("--reconcile-every must not be negative")
    if not 0 < args.hours <= 72:
        parser.error("--hours must be in (0, 72]")
    return args


def instructions(
    stack: Stack, endpoint: str, scoring: dict[str, str], folders: dict[str, Path]
) -> str:
    """URLs, keys and commands for the running stack."""
    conn, app = stack.emulator, stack.app
    api = f"{app.base_url}/{app.route_prefix}"
    py = shlex.quote(sys.executable)
    lines = [
        "autocanary is running locally. Ctrl-C stops everything.",
        "",
        f"  app (devhost)      {app.base_url}   function key {app.key}",
        f"  rollouts API       {api}/rollouts",
        f"  dashboard          {api}/dashboard   (enter the function key in its form)",
        f"  alerts webhook     {app.alerts_url}",
        f"  emulator (ARM)     {conn.arm_url}   admin key {conn.admin_key}",
        f"  scoring            {scoring['scoring_uri']}   endpoint key {scoring['key']}",
        f"  metrics            {conn.metrics_url}   (a metric minute: {conn.bucket_seconds:g} s)",
        f"  CA certificate     {conn.cert_path}",
        f"  Azurite (tables)   {stack.storage_connection}",
        f"  app settings       {stack.settings_file}",
        f"  logs               {', '.join(str(p) for p in stack.logs.values())}",
        "",
        "Roll out a new model version (registering it emits ModelRegistered to the app):",
    ]
    for (label, folder), version in zip(folders.items(), ("2", "3", "4"), strict=True):
        lines.append(f"  # {label}")
        lines.append(
            f"  {py} -m emulator register-model --connection {shlex.quote(conn.state_dir)} "
            f"--name {MODEL} --version {version} --path {shlex.quote(str(folder))}"
        )
    lines += [
        "",
        "Follow it, and steer it:",
        f"  curl -s -H 'x-functions-key: {app.key}' {api}/rollouts/{endpoint}",
        f"  curl -s -H 'x-functions-key: {app.key}' '{api}/rollouts?active=true'",
        f"  curl -s -X POST -H 'x-functions-key: {app.key}' -H 'Content-Type: application/json' "
        f'-d \'{{"reason": "looking into it"}}\' {api}/rollouts/{endpoint}/pause',
        "  (actions: pause, resume, promote, rollback, abort, retry, cancel; ?full=true for "
        "the whole document)",
        "Start a version by hand (its event was lost; a downgrade needs allow_downgrade):",
        f"  curl -s -X POST -H 'x-functions-key: {app.key}' -H 'Content-Type: application/json' "
        f'-d \'{{"model": "{MODEL}", "version": "2", "reason": "event lost"}}\' {api}/rollouts',
        "",
        "Run the reconcile timer now, score the endpoint, look at the emulator:",
        f"  curl -s -X POST -H 'x-functions-key: {app.key}' -d '{{\"input\": \"\"}}' "
        f"{app.base_url}/admin/functions/reconcile_rollouts",
        f"  curl -s --cacert {shlex.quote(conn.cert_path)} -H 'Authorization: Bearer "
        f"{scoring['key']}' -H 'Content-Type: application/json' "
        f"-d '{{\"data\": [[0.5, -1.0, 2.0]]}}' {scoring['scoring_uri']}",
        f"  curl -s --cacert {shlex.quote(conn.cert_path)} -H 'Authorization: Bearer "
        f"{conn.admin_key}' {conn.arm_url}_emulator/state",
        f"  curl -s --cacert {shlex.quote(conn.cert_path)} -H 'Authorization: Bearer "
        f"{conn.admin_key}' {conn.arm_url}_emulator/alert-rules",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    policies = load_policy_text(args.policy.read_text(encoding="utf-8"), source=str(args.policy))
    placement = policies.place(MODEL, {})
    if placement.policy is None:
        print(f"the policy sends no rollout for model {MODEL!r}: {placement.detail}")
        return 2
    endpoint = placement.policy.endpoint
    options = StackOptions(
        policy_file=args.policy,
        bucket_seconds=args.bucket_seconds,
        state_dir=args.state_dir,
        keep_state=args.state_dir is not None,
        keep_logs=True,
    )
    limit = args.hours * 3600.0
    stack = Stack(options)
    try:
        return _run(args, stack, endpoint, limit)
    finally:
        if stack.kept_logs:
            print(kept_logs_line(stack.kept_logs), file=sys.stderr)


def kept_logs_line(kept: dict[str, Path]) -> str:
    """Where the logs of a stopped stack are (they outlive it)."""
    folders = sorted({str(p.parent) for p in kept.values()})
    names = ", ".join(f"{k} {p.name}" for k, p in kept.items())
    return f"logs kept in {', '.join(folders)}: {names}"


def _run(args: argparse.Namespace, stack: Stack, endpoint: str, limit: float) -> int:
    with interrupt_on_signals():
        try:
            with stack, contextlib.ExitStack() as helpers:
                code = register_code(stack)
                baseline = baseline_model(MODEL)
                register_model(stack, baseline)
                live = deployment_name(baseline.name, baseline.version)
                scoring = create_endpoint(stack, endpoint, live, baseline.asset_id, code)
                subscribe_app(stack)
                add_alert_rule(stack, latency_alert_rule(stack.app, endpoint))
                folders = {
                    f"{s.title} ({s.behaviour})": write_model(stack.state_dir / "examples", s.model)
                    for s in demo_scenarios(MODEL)
                }
                if args.rate > 0:
                    helpers.enter_context(
                        TrafficGenerator(
                            scoring["scoring_uri"],
                            scoring["key"],
                            stack.emulator.cert_path,
                            rate=args.rate,
                            max_seconds=limit,
                        )
                    )
                if args.reconcile_every > 0:
                    helpers.enter_context(
                        ReconcilePump(stack.app, args.reconcile_every, max_seconds=limit)
                    )
                print(instructions(stack, endpoint, scoring, folders))
                print()
                print(
                    f"endpoint {endpoint}: {live} ({baseline.asset_id}, "
                    f"{100 * BASELINE_ERROR_RATE:g} % errors) serves 100 %"
                    + (f"; {args.rate:g} requests/s" if args.rate > 0 else "; no traffic")
                    + (
                        f"; reconcile every {args.reconcile_every:g} s"
                        if args.reconcile_every > 0
                        else "; reconcile every minute"
                    ),
                    flush=True,
                )
                end = time.monotonic() + limit
                while time.monotonic() < end:
                    dead = stack.dead()
                    if dead:
                        print(f"{', '.join(dead)} stopped unexpectedly; see the logs above")
                        return 1
                    time.sleep(1.0)
                print(f"stopping after {args.hours:g} h")
        except KeyboardInterrupt:
            print("\nstopping: everything started here is being stopped", file=sys.stderr)
            return 0
        except StackError as exc:
            print(f"the local stack could not start: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
