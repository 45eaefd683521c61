"""Alert to rollback (``make bench-alert``): how fast a Fired alert takes a canary's traffic away.

On the local stack (Azurite, the emulator, devhost serving function_app; see
``localstack.stack``) with an endpoint under light steady traffic, each round registers a new
model version, waits until its canary serves its stage live, then sends a Fired alert in the
common alert schema for the endpoint, and measures:

- over HTTP (``--rounds`` rounds): from the alert POST to devhost's ``/api/alerts`` until the
  emulator routes no traffic to the canary any more (its own view, sampled every 10 ms), and
  the POST's round trip;
- in process (``--rounds`` more rounds): the same alert handed to the app's ``on_alert``
  function directly, with the production engine built from the same settings, its ports
  wrapped in timers: the time spent in Azure ML calls (MLClient against the emulator, SDK
  included), in the rollout store (Azurite), and the rest, which is the app's own share
  (decoding, deciding, recording, encoding).

The emulator applies a traffic update ``--provisioning-delay`` seconds after accepting it (as
Azure runs it as a long-running operation); that delay is part of every end-to-end figure.
Goals (printed, never asserted): alert to traffic restored within 1 s, the app's own share
within 100 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localstack.options import StackOptions
from localstack.scenarios import BASELINE_ERROR_RATE, wait_until
from localstack.stack import Stack
from localstack.traffic import TrafficGenerator
from localstack.watchers import ReconcilePump, SplitWatcher
from localstack.workspace import (
    ModelVersion,
    create_endpoint,
    register_code,
    register_model,
    subscribe_app,
)

MODEL = "bench"
ENDPOINT = "bench-alert"
GOAL_RESTORED_MS = 1000.0
GOAL_APP_MS = 100.0
# One live stage held long enough to be alerted on; no shadow (the alert acts on live traffic).
POLICY = f"""
defaults:
  shadow: null
  stages:
    - {{weight: 25, min_duration: 10m, max_duration: 30m}}
    - {{weight: 100}}
  judge: {{guard_latency: false}}
  warmup: 1s
  watch_window: 5s
rules:
  - {{name: bench, match: {{model: "{MODEL}"}}, endpoint: {ENDPOINT}}}
"""


def alert_payload(stack: Stack, rule: str, canary: str) -> dict[str, Any]:
    """A Fired metric alert on the endpoint in the common alert schema (MicrosoftDocs
    azure-monitor-docs articles/azure-monitor/alerts/alerts-common-schema.md), with the target
    id lower-cased as the service sends it, its firing time series the canary's (its
    ``deployment`` dimension: an alert about another deployment rolls nothing back)."""
    conn = stack.emulator
    target = (
        f"/subscriptions/{conn.subscription}/resourceGroups/{conn.resource_group}/providers/"
        f"Microsoft.MachineLearningServices/workspaces/{conn.workspace}/onlineEndpoints/"
        f"{ENDPOINT}"
    ).lower()
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {
            "essentials": {
                "alertId": f"/subscriptions/{conn.subscription}/providers/"
                f"Microsoft.AlertsManagement/alerts/{uuid.uuid4()}",
                "alertRule": rule,
                "severity": "Sev2",
                "signalType": "Metric",
                "monitorCondition": "Fired",
                "monitoringService": "Platform",
                "alertTargetIDs": [target],
                "configurationItems": [ENDPOINT],
                "firedDateTime": now,
                "essentialsVersion": "1.0",
                "alertContextVersion": "1.0",
            },
            "alertContext": {
                "conditionType": "SingleResourceMultipleMetricCriteria",
                "condition": {
                    "windowSize": "PT1M",
                    "allOf": [
                        {
                            "metricName": "RequestLatency_P90",
                            "operator": "GreaterThan",
                            "threshold": "200",
                            "timeAggregation": "Average",
                            "dimensions": [{"name": "deployment", "value": canary}],
                            "metricValue": 320.0,
                        }
                    ],
                },
            },
            "customProperties": None,
        },
    }


class Timed:
    """Wraps a port: every method call's duration is added to ``spent[label]``."""

    def __init__(self, target: Any, label: str, spent: dict[str, float]) -> None:
        self._target = target
        self._label = label
        self._spent = spent

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                self._spent[self._label] += time.perf_counter() - t0

        return timed


class Bench:
    def __init__(self, stack: Stack, watcher: SplitWatcher) -> None:
        self.stack = stack
        self.watcher = watcher
        self.version = 1

    def rollout(self) -> dict[str, Any]:
        reply = self.stack.app.api("GET", f"rollouts/{ENDPOINT}")
        return dict(reply.body.get("rollout") or {}) if reply.ok else {}

    def start_canary(self) -> str:
        """Register the next version and wait until its canary serves its stage live."""
        self.version += 1
        version = str(self.version)
        register_model(self.stack, ModelVersion(MODEL, version, error_rate=BASELINE_ERROR_RATE))

        def live() -> bool:
            r = self.rollout()
            return (
                r.get("version") == version
                and r.get("phase") == "Canary"
                and bool(r.get("confirmed"))
            )

        if not wait_until(live, timeout=60, interval=0.1):
            raise RuntimeError(f"version {version} did not reach a live stage: {self.rollout()}")
        return str(self.rollout()["canary"])

    def wait_ended(self) -> None:
        if not wait_until(lambda: self.rollout().get("phase") == "RolledBack", 60, 0.1):
            raise RuntimeError(f"the rollout did not end: {self.rollout()}")

    def restored_ms(self, canary: str, sent: float) -> float | None:
        found: list[float] = []

        def seen() -> bool:
            at = self.watcher.first_without(canary, sent)
            if at is not None:
                found.append(at)
            return at is not None

        wait_until(seen, timeout=30, interval=0.01)
        return (found[0] - sent) * 1000.0 if found else None

    def over_http(self) -> dict[str, float]:
        canary = self.start_canary()
        payload = alert_payload(self.stack, "bench-http", canary)
        sent = time.time()
        reply = self.stack.app.api("POST", "alerts", payload)
        answered = time.time()
        if not reply.ok:
            raise RuntimeError(f"alert refused: {reply.status} {reply.body}")
        restored = self.restored_ms(canary, sent)
        self.wait_ended()
        return {
            "post_ms": (answered - sent) * 1000.0,
            "restored_ms": float("nan") if restored is None else restored,
        }

    def in_process(
        self, handler: Callable[[Any], Any], spent: dict[str, float]
    ) -> dict[str, float]:
        import azure.functions as func

        canary = self.start_canary()
        body = json.dumps(alert_payload(self.stack, "bench-inproc", canary)).encode()
        request = func.HttpRequest(
            method="POST",
            url="http://localhost/api/alerts",
            headers={"content-type": "application/json"},
            params={},
            route_params={},
            body=body,
        )
        spent.clear()
        sent = time.time()
        t0 = time.perf_counter()
        response = handler(request)
        total = (time.perf_counter() - t0) * 1000.0
        if response.status_code != 200:
            raise RuntimeError(f"alert refused: {response.status_code} {response.get_body()!r}")
        restored = self.restored_ms(canary, sent)
        self.wait_ended()
        azure_ml = spent["endpoints"] * 1000.0
        store = spent["store"] * 1000.0
        other = (spent["events"] + spent["metrics"]) * 1000.0
        return {
            "handler_ms": total,
            "azure_ml_ms": azure_ml,
            "store_ms": store,
            "other_ports_ms": other,
            "app_ms": total - azure_ml - store - other,
            "restored_ms": float("nan") if restored is None else restored,
        }


def stats(rows: Sequence[Mapping[str, float]], key: str) -> dict[str, float]:
    values = [r[key] for r in rows if r[key] == r[key]]  # without NaN
    if not values:
        return {"median": float("nan"), "max": float("nan"), "n": 0}
    return {"median": statistics.median(values), "max": max(values), "n": len(values)}


def rounded(row: Mapping[str, float]) -> str:
    return json.dumps({k: round(v, 1) for k, v in row.items()})


def fmt(s: Mapping[str, float]) -> str:
    digits = 1 if s["max"] < 10 else 0
    return f"median {s['median']:.{digits}f} ms, max {s['max']:.{digits}f} ms (n={s['n']:.0f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.alert", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="rollouts alerted per mode")
    parser.add_argument("--rate", type=float, default=20.0, help="scoring requests per second")
    parser.add_argument(
        "--provisioning-delay", type=float, default=0.3, help="emulator LRO delay (s)"
    )
    parser.add_argument("--json-out", type=Path, default=None, help="also write figures here")
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= 50:
        parser.error("--rounds must be 1..50")
    if not 0 <= args.provisioning_delay <= 10:
        parser.error("--provisioning-delay must be 0..10 s")

    from handlers.alerts import on_alert
    from shared import bootstrap
    from shared.settings import Settings

    with tempfile.TemporaryDirectory(prefix="bench-alert-") as tmp:
        policy = Path(tmp) / "policy.yaml"
        policy.write_text(POLICY, encoding="utf-8")
        options = StackOptions(
            policy_file=policy,
            bucket_seconds=2.0,
            provisioning_delay=args.provisioning_delay,
            retry_after=0.05,
            state_dir=Path(tmp) / "stack",
        )
        with Stack(options) as stack:
            code = register_code(stack)
            baseline = ModelVersion(MODEL, "1", error_rate=BASELINE_ERROR_RATE)
            register_model(stack, baseline)
            scoring = create_endpoint(stack, ENDPOINT, "bench-v1", baseline.asset_id, code)
            subscribe_app(stack)
            stack.app.api("GET", "rollouts", timeout=120)  # the app builds its engine
            # The same engine in this process, its ports timed (the store, Azure ML, ...).
            values = stack.app_settings(stack.app.key)
            engine = bootstrap.build_engine(Settings.from_env(values))
            spent: dict[str, float] = defaultdict(float)
            engine.store = Timed(engine.store, "store", spent)
            engine.endpoints = Timed(engine.endpoints, "endpoints", spent)
            engine.events = Timed(engine.events, "events", spent)
            engine.metrics = Timed(engine.metrics, "metrics", spent)
            bootstrap.use_engine(engine)
            engine.endpoints.get_endpoint(ENDPOINT)  # MLClient built (azure-ai-ml imported)
            http_rows: list[dict[str, float]] = []
            local_rows: list[dict[str, float]] = []
            with (
                TrafficGenerator(
                    scoring["scoring_uri"],
                    scoring["key"],
                    stack.emulator.cert_path,
                    rate=args.rate,
                    max_seconds=900,
                ),
                SplitWatcher(stack, ENDPOINT, interval=0.01, max_seconds=900) as watcher,
                ReconcilePump(stack.app, interval=1.0, max_seconds=900),
            ):
                bench = Bench(stack, watcher)
                for i in range(args.rounds):
                    row = bench.over_http()
                    http_rows.append(row)
                    print(f"http round {i + 1}: {rounded(row)}")
                for i in range(args.rounds):
                    row = bench.in_process(on_alert, spent)
                    local_rows.append(row)
                    print(f"in-process round {i + 1}: {rounded(row)}")
            bootstrap.use_engine(None)

    figures = {
        "rounds": args.rounds,
        "emulator_provisioning_delay_s": args.provisioning_delay,
        "traffic_rps": args.rate,
        "http_alert_to_restored_ms": stats(http_rows, "restored_ms"),
        "http_post_round_trip_ms": stats(http_rows, "post_ms"),
        "inproc_handler_ms": stats(local_rows, "handler_ms"),
        "inproc_azure_ml_ms": stats(local_rows, "azure_ml_ms"),
        "inproc_store_ms": stats(local_rows, "store_ms"),
        "inproc_app_ms": stats(local_rows, "app_ms"),
        "inproc_alert_to_restored_ms": stats(local_rows, "restored_ms"),
    }
    restored = figures["http_alert_to_restored_ms"]["median"]
    app = figures["inproc_app_ms"]["median"]
    print()
    print(
        f"Alert to rollback on the local stack ({args.rounds} rollouts per mode, emulator "
        f"traffic updates take {args.provisioning_delay:g} s, {args.rate:g} req/s)\n"
    )
    print("| figure | value | goal |")
    print("|---|---|---|")
    print(
        f"| alert POST -> emulator routes no traffic to the canary | "
        f"{fmt(figures['http_alert_to_restored_ms'])} | <= {GOAL_RESTORED_MS:g} ms |"
    )
    print(f"| alert POST round trip (devhost) | {fmt(figures['http_post_round_trip_ms'])} | |")
    print(f"| on_alert in process, total | {fmt(figures['inproc_handler_ms'])} | |")
    print(
        f"| ... in Azure ML calls (MLClient, emulator) | {fmt(figures['inproc_azure_ml_ms'])} | |"
    )
    print(f"| ... in the rollout store (Azurite) | {fmt(figures['inproc_store_ms'])} | |")
    print(f"| ... the app's own share | {fmt(figures['inproc_app_ms'])} | <= {GOAL_APP_MS:g} ms |")
    print(
        f"\ngoals: alert to restored {'met' if restored <= GOAL_RESTORED_MS else 'NOT met'} "
        f"({restored:.0f} ms), app's share {'met' if app <= GOAL_APP_MS else 'NOT met'} "
        f"({app:.1f} ms)"
    )
    print(json.dumps(figures))
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
