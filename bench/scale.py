"""Reconcile at scale (``make bench-scale``): what one timer tick costs at N active rollouts.

The production engine and the production Table adapter (``TableRolloutStore`` on Azurite, in
memory) with a latency-injecting azure-core policy on its client (``--table-ms`` per request,
counting GETs as reads and every other request as a write), Azure ML's fake endpoints
(``--arm-ms`` per ARM read, counted as the adapter sends them: ``FakeEndpoints.arm_reads``, an
endpoint GET and a deployment list per endpoint read; with ``--listing-ttl``, the deployment
list plus a read per 100 endpoints when the workspace's endpoints are listed again) and the
fake metrics source (``--metrics-ms`` per ``metrics:getBatch`` call; the adapter sends two per
50 endpoints, one after another: requests by status and latency percentiles). The judge is
the scripted fake holding every stage.

For each N in ``--sizes`` and each mix (``held``: canaries at 10 % held by a long minimum
duration, a new metric minute each tick; ``quiet``: the same whose stages serve no requests,
so no minute is ever reported; ``paused``: paused before any traffic reached the canary;
``mixed``: a third each of held, paused at rest, and paused with the canary serving 10 %), it
stores N rollouts, runs a
first tick (which also learns the seconds per rollout that size the worker pool) and then a
steady tick, and prints: seconds per tick, Table reads and writes per rollout, ARM reads per
rollout, metrics calls per tick and the Python heap's peak during a third tick (tracemalloc
slows Python down, so the timed ticks run without it). Then the same tick with
``--history`` ended rollouts (each with a decision) stored next to the active ones, to show
that a tick does not grow with history. Figures are printed, never asserted on.

Goals (issue 13; 2 cores, default latencies): at N = 1000 at most 30 s a tick, at most one
Table read and one ARM read per active rollout, no write for an unchanged rollout, metrics
calls at most ceil(N/50) per namespace and metric family, tick time growing linearly.
"""

from __future__ import annotations

import argparse
import gc
import math
import sys
import time
import tracemalloc
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from bench._scale_rig import METRICS_BATCH, T0, Rig, build
from devhost.azurite import AzuriteTables
from shared import store_index as si
from shared import store_layout as su
from shared.model import DecisionRecord, ModelRef, Phase, Rollout
from shared.ports import SlotWrite


def kind_of(i: int, mix: str) -> str:
    if mix == "mixed":
        return ("held", "paused", "paused-live")[i % 3]
    if mix == "quiet":
        return "held"
    return mix


def rollout(rig: Rig, i: int, kind: str) -> Rollout:
    endpoint = f"ep{i:05d}"
    policy = replace(rig.engine.policies.rules[0].policy, endpoint=endpoint)
    canary = "m-v2"
    live = {"blue": 90, canary: 10}
    since = T0 - timedelta(minutes=10)
    base = Rollout(
        id=f"20260601T115000Z-m-2-{i:08x}",
        endpoint=endpoint,
        model=ModelRef("m", "2", event_id=f"ev-{i}"),
        policy=policy,
        phase=Phase.CANARY,
        baseline="blue",
        canary=canary,
        created_at=since,
        phase_since=since,
        stage=0,
        stage_since=since,
        traffic=live,
        confirmed=True,
        seq=3,
        reason="JudgeHold",
        message="scripted",
        updated_at=since,
        baseline_traffic={"blue": 100},
        prev_traffic={"blue": 100},
        evidence={"verdict": "hold", "verdict_reason": "scripted", "judge": {"scripted": True}},
    )
    if kind == "held":
        return base
    if kind == "paused-live":
        return replace(base, paused=True, pause_reason="operator", reason="Paused")
    return replace(  # paused while provisioning: no traffic on the canary
        base,
        phase=Phase.PROVISIONING,
        stage=-1,
        stage_since=None,
        traffic={"blue": 100},
        paused=True,
        pause_reason="operator",
        reason="Paused",
    )


def populate(rig: Rig, n: int, mix: str) -> None:
    for i in range(n):
        r = rollout(rig, i, kind_of(i, mix))
        rig.endpoints.add_endpoint(
            r.endpoint, {"blue": "azureml:m:1", r.canary: "azureml:m:2"}, dict(r.traffic)
        )
        rig.store.write(rig.store.read(r.endpoint), SlotWrite(active=r, waiting=None))


def add_history(rig: Rig, n_active: int, history: int) -> None:
    """``history`` ended rollouts with one decision each, spread over the active endpoints'
    partitions, written in entity group transactions of up to 100 rows."""
    per = max(1, history // max(1, n_active))
    client = rig.store._client
    written = 0
    for i in range(n_active):
        template = rollout(rig, i, "held")
        rows: list[Any] = []
        for j in range(per):
            if written >= history:
                break
            at = T0 - timedelta(days=1, minutes=j)
            old = replace(
                template,
                id=f"20260501T000000Z-m-1-{i:05d}{j:05d}",
                phase=Phase.SUCCEEDED,
                created_at=at,
                updated_at=at,
            )
            record = DecisionRecord(
                seq=1,
                at=at,
                rollout_id=old.id,
                phase_from=Phase.WATCHING,
                phase_to=Phase.SUCCEEDED,
                stage_from=1,
                stage_to=1,
                reason="Succeeded",
                message="old",
                evidence={},
            )
            rows.append(("upsert", su.rollout_entity(old)))
            rows.append(("upsert", su.decision_entity(old.endpoint, record)))
            written += 1
        for batch in si.chunks(rows):
            client.submit_transaction(batch)


@dataclass
class Figures:
    seconds: float
    table_reads: int
    table_writes: int
    arm_reads: int
    endpoint_reads: int
    metrics_calls: int
    changed: int
    failed: int
    workers: int
    cpu: float


def tick(rig: Rig, n: int) -> Figures:
    rig.clock.advance(60)
    t, a, m = rig.table, rig.endpoints, rig.metrics
    before = (t.reads, t.writes, a.arm_reads, m.batch_calls, a.endpoint_reads)
    workers = rig.engine.pool_size(n)
    start, cpu = time.perf_counter(), time.process_time()
    outcomes = rig.engine.reconcile_all()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return Figures(
        seconds,
        t.reads - before[0],
        t.writes - before[1],
        a.arm_reads - before[2],
        a.endpoint_reads - before[4],
        m.batch_calls - before[3],
        sum(1 for o in outcomes if o.changed),
        sum(1 for o in outcomes if o.error),
        workers,
        cpu,
    )


def run(conn: str, args: argparse.Namespace, n: int, mix: str, history: int = 0) -> None:
    rig = build(conn, args)
    if mix == "quiet":
        rig.metrics.requests_per_minute = 0  # the stages serve nothing: no minute is reported
    populate(rig, n, mix)
    if history:
        add_history(rig, n, history)
    rig.table.seconds = args.table_ms / 1000.0
    first = tick(rig, n)
    steady = tick(rig, n)
    gc.collect()
    tracemalloc.start()
    tick(rig, n)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    label = f"{mix} + {history} ended" if history else mix
    print(
        f"{n:>5}  {label:<20} {first.seconds:>7.2f} {steady.seconds:>7.2f} {steady.cpu:>6.2f}"
        f" {steady.workers:>4}"
        f"  {steady.table_reads / n:>5.2f} {steady.table_writes / n:>5.2f}"
        f"  {steady.endpoint_reads / n:>5.2f} {steady.arm_reads / n:>5.2f}"
        f"  {steady.metrics_calls:>4} {math.ceil(n / METRICS_BATCH):>4}"
        f"  {steady.changed:>5} {steady.failed:>4}  {peak:>7.1f}",
        flush=True,
    )
    rig.store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000", help="active rollouts per run")
    parser.add_argument("--mixes", default="held,quiet,paused,mixed")
    parser.add_argument("--table-ms", type=float, default=10.0, help="latency per Table call")
    parser.add_argument("--arm-ms", type=float, default=50.0, help="latency per ARM GET")
    parser.add_argument(
        "--listing-ttl",
        type=float,
        default=0.0,
        help="seconds a workspace listing of endpoints is reused (MLEndpointControl "
        "listing_ttl_s; 0: off, an endpoint GET and a deployment list per read)",
    )
    parser.add_argument("--metrics-ms", type=float, default=200.0, help="per getBatch call")
    parser.add_argument("--concurrency", type=int, default=16, help="AUTOCANARY_MAX_CONCURRENCY")
    parser.add_argument("--history", type=int, default=10_000, help="ended rollouts, last run")
    parser.add_argument("--history-active", type=int, default=100)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    mixes = [m for m in args.mixes.split(",") if m]
    for mix in mixes:
        if mix not in ("held", "quiet", "paused", "mixed"):
            parser.error(f"unknown mix {mix!r}")
    print(
        f"latency: Table {args.table_ms:g} ms/call, ARM {args.arm_ms:g} ms/GET, "
        f"metrics {args.metrics_ms:g} ms/call; listing ttl {args.listing_ttl:g} s; "
        f"max concurrency {args.concurrency}"
    )
    print(
        "    N  mix                  first  steady    cpu  wrk  T.rd  T.wr  EP.rd  GETs  "
        "mtrc  N/50    chg  err  peak MiB"
    )
    server = AzuriteTables()
    conn = server.start()
    try:
        for mix in mixes:
            for n in sizes:
                run(conn, args, n, mix)
        if args.history:
            run(conn, args, args.history_active, "held")
            run(conn, args, args.history_active, "held", history=args.history)
    finally:
        server.stop()
    print(
        "first: seconds of the first tick (it sizes the pool from its latency); steady: of the "
        "next one, whose figures follow; cpu: this process's CPU seconds in it; wrk: workers; "
        "T.rd/T.wr: Table requests per rollout; "
        "EP.rd: endpoint reads per rollout; GETs: ARM reads per rollout as the adapter sends "
        "them (endpoint GET and deployment list; with a listing, the list and its pages); "
        "mtrc: getBatch calls per tick (two metric families per batch); N/50: "
        "ceil(N/50); chg: rollouts written; peak: Python heap peak during a tick (tracemalloc)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
