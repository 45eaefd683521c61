"""Benchmark of the emulator's scoring router (``make bench-router``).

Starts an emulator, deploys the sample model (one instance), then on loopback:

1. throughput: a closed loop of ``--concurrency`` clients sends ``--requests`` scoring requests
   through the router (HTTPS, endpoint key) and reports requests per second;
2. overhead: the same paced open-loop load (``--rate`` req/s, ``--paced`` requests) is sent
   once straight to the deployment's worker and once through the router; the p50/p99
   latencies of both and the p99 difference (the routing overhead) are reported, with the
   router's own view (total minus time in the worker, from its request records).

Figures are printed, never asserted. Every loop is bounded in count and in time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
import tempfile
import time
import urllib.error
from pathlib import Path
from typing import Any

import aiohttp

from emulator.connection import Connection
from emulator.samples import CODE_DIR, MODELS_DIR
from emulator.testing import (
    SAMPLE_ENVIRONMENT,
    admin_request,
    arm_deployment_body,
    running_emulator,
    workspace_path,
)

PAYLOAD = json.dumps({"data": [[0.5, 1.0, 1.5]]}).encode()
ENDPOINT = "bench-ep"
DEPLOYMENT = "bench-v1"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100.0 * (len(ordered) - 1))))
    return ordered[k]


def _arm(conn: Connection, method: str, path: str, body: Any = None) -> Any:
    import urllib.request

    url = f"{conn.arm_url.rstrip('/')}{workspace_path(conn)}/{path}?api-version=2025-12-01"
    req = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": "Bearer bench", "Content-Type": "application/json"},
    )
    ctx = ssl.create_default_context(cafile=conn.cert_path)
    with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def _wait(conn: Connection, path: str, timeout: float = 60.0) -> None:
    """Poll until ``path`` has provisioned. A resource just created answers 404 for a short
    while, as in ARM (the emulator does too, by default): that is "not yet", not a failure."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = _arm(conn, "GET", path)["properties"]["provisioningState"]
        except urllib.error.HTTPError as err:
            if err.code != 404:
                raise
            time.sleep(0.1)
            continue
        if state == "Succeeded":
            return
        if state == "Failed":
            raise RuntimeError(f"{path} failed to provision")
        time.sleep(0.1)
    raise TimeoutError(f"{path} did not provision within {timeout:.0f} s")


def deploy(conn: Connection, max_concurrent: int) -> tuple[str, int]:
    """Create the endpoint and deployment with plain ARM calls; return (key, worker port)."""
    admin_request(conn, "POST", "codes", {"name": "score", "version": "1", "path": str(CODE_DIR)})
    admin_request(
        conn,
        "POST",
        "models",
        {"name": "fraud", "version": "1", "path": str(MODELS_DIR / "fraud-v1")},
    )
    ep_path = f"onlineEndpoints/{ENDPOINT}"
    _arm(conn, "PUT", ep_path, {"location": conn.location, "properties": {"authMode": "Key"}})
    _wait(conn, ep_path)
    dep_path = f"{ep_path}/deployments/{DEPLOYMENT}"
    _arm(
        conn,
        "PUT",
        dep_path,
        arm_deployment_body(
            conn,
            environmentId=SAMPLE_ENVIRONMENT,
            scaleSettings={"scaleType": "Default"},
            requestSettings={
                "maxConcurrentRequestsPerInstance": max_concurrent,
                "requestTimeout": "PT5S",
            },
        ),
    )
    _wait(conn, dep_path)
    _arm(
        conn,
        "PUT",
        ep_path,
        {
            "location": conn.location,
            "properties": {"authMode": "Key", "traffic": {DEPLOYMENT: 100}},
        },
    )
    _wait(conn, ep_path)
    key = _arm(conn, "POST", f"{ep_path}/listKeys")["primaryKey"]
    state = admin_request(conn, "GET", "state")
    ep = next(e for e in state["endpoints"] if e["name"] == ENDPOINT)
    port = ep["deployments"][0]["worker_ports"][0]
    return key, int(port)


async def closed_loop(
    session: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    ssl_ctx: ssl.SSLContext | bool,
    total: int,
    concurrency: int,
    max_seconds: float,
) -> tuple[int, int, float]:
    """(ok, failed, seconds) for ``total`` requests from ``concurrency`` clients."""
    remaining = total
    ok = failed = 0
    deadline = time.perf_counter() + max_seconds

    async def client() -> None:
        nonlocal remaining, ok, failed
        while remaining > 0 and time.perf_counter() < deadline:
            remaining -= 1
            async with session.post(url, data=PAYLOAD, headers=headers, ssl=ssl_ctx) as resp:
                await resp.read()
                if resp.status == 200:
                    ok += 1
                else:
                    failed += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return ok, failed, time.perf_counter() - t0


async def paced(
    session: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    ssl_ctx: ssl.SSLContext | bool,
    total: int,
    rate: float,
    max_seconds: float,
) -> tuple[list[float], int]:
    """Open-loop load at ``rate`` req/s; latencies (ms) of successful requests and failures."""
    latencies: list[float] = []
    failed = 0

    async def one() -> None:
        nonlocal failed
        t0 = time.perf_counter()
        async with session.post(url, data=PAYLOAD, headers=headers, ssl=ssl_ctx) as resp:
            await resp.read()
            if resp.status == 200:
                latencies.append((time.perf_counter() - t0) * 1000.0)
            else:
                failed += 1

    tasks: list[asyncio.Task[None]] = []
    start = time.perf_counter()
    for i in range(total):
        due = start + i / rate
        now = time.perf_counter()
        if now - start > max_seconds:
            break
        if due > now:
            await asyncio.sleep(due - now)
        tasks.append(asyncio.ensure_future(one()))
    await asyncio.gather(*tasks)
    return latencies, failed


async def run_bench(conn: Connection, key: str, port: int, args: argparse.Namespace) -> None:
    ssl_ctx = ssl.create_default_context(cafile=conn.cert_path)
    router_url = conn.scoring_uri(ENDPOINT)
    direct_url = f"http://127.0.0.1:{port}/score"
    router_headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    direct_headers = {"Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        # Warm up connections on both paths.
        await closed_loop(session, router_url, router_headers, ssl_ctx, 200, 8, 10)
        await closed_loop(session, direct_url, direct_headers, False, 200, 8, 10)

        ok, failed, secs = await closed_loop(
            session, router_url, router_headers, ssl_ctx, args.requests, args.concurrency, 60
        )
        print(
            f"throughput via router: {ok / secs:.0f} req/s "
            f"({ok} ok, {failed} failed in {secs:.2f} s, {args.concurrency} concurrent clients)"
        )
        dok, dfailed, dsecs = await closed_loop(
            session, direct_url, direct_headers, False, args.requests, args.concurrency, 60
        )
        print(
            f"throughput direct to worker: {dok / dsecs:.0f} req/s "
            f"({dok} ok, {dfailed} failed in {dsecs:.2f} s)"
        )

        since = time.time()
        direct, dfail = await paced(
            session, direct_url, direct_headers, False, args.paced, args.rate, 60
        )
        routed, rfail = await paced(
            session, router_url, router_headers, ssl_ctx, args.paced, args.rate, 60
        )
    d50, d99 = percentile(direct, 50), percentile(direct, 99)
    r50, r99 = percentile(routed, 50), percentile(routed, 99)
    print(
        f"paced load {args.rate:.0f} req/s x {args.paced}: direct p50 {d50:.2f} ms p99 "
        f"{d99:.2f} ms ({dfail} failed); via router p50 {r50:.2f} ms p99 {r99:.2f} ms "
        f"({rfail} failed)"
    )
    print(f"p99 routing overhead (router p99 - direct p99): {r99 - d99:.2f} ms")
    print(f"p50 routing overhead (router p50 - direct p50): {r50 - d50:.2f} ms")
    inner = _router_overheads(conn, since)
    if inner:
        print(
            f"router's own overhead (total - worker time, from its records): p50 "
            f"{percentile(inner, 50):.2f} ms, p99 {percentile(inner, 99):.2f} ms "
            f"over {len(inner)} requests"
        )


def _router_overheads(conn: Connection, since: float) -> list[float]:
    """total_ms - request_ms of the paced router requests, read through the admin API."""
    try:
        rows = admin_request(conn, "GET", f"records/overheads?since={since}")
    except Exception:
        return []
    return [float(v) for v in rows.get("overhead_ms", [])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.router")
    parser.add_argument("--requests", type=int, default=4000, help="closed-loop requests")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=500.0, help="paced load, req/s")
    parser.add_argument("--paced", type=int, default=2500, help="paced requests per path")
    parser.add_argument("--max-concurrent", type=int, default=32, help="per instance")
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="bench-router-") as tmp,
        running_emulator(Path(tmp), provisioning_delay=0.05, retry_after=0.05) as conn,
    ):
        key, port = deploy(conn, args.max_concurrent)
        asyncio.run(run_bench(conn, key, port, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
