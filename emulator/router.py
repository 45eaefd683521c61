"""Scoring router: ``POST {scoring_url}{endpoint}/score`` routed to deployment workers.

Behaviour of managed online endpoints (Microsoft Learn, "Troubleshooting online endpoints
deployment and scoring", HTTP status codes):

- the endpoint key as bearer token, 401 otherwise;
- traffic weights pick a deployment; ``azureml-model-deployment: NAME`` picks one directly and
  is never mirrored; 404 when no deployment has positive weight;
- mirror copies go to the mirror deployment and their responses are discarded;
- 408 when the model takes longer than ``requestSettings.requestTimeout``;
- 424 when the model answers non-200 (``ms-azureml-model-error-statuscode`` and
  ``ms-azureml-model-error-reason`` headers);
- 429 past ``2 * maxConcurrentRequestsPerInstance * instance_count`` requests in flight;
- a deployment with data collection logs each answered request to blob storage
  (:mod:`emulator.datacollection`).

Each request (and mirrored copy) appends one :class:`~emulator.records.RequestRecord`.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from emulator.arm import ArmState, Deployment, iso_duration_ms
from emulator.datacollection import DataCollectionWriter
from emulator.records import RequestLog, RequestRecord

DEPLOYMENT_HEADER = "azureml-model-deployment"


@dataclass
class RouterFault:
    """Extra latency and/or errors injected for one deployment."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    error_status: int = 500

    def to_json(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms,
            "error_rate": self.error_rate,
            "error_status": self.error_status,
        }


@dataclass
class Outcome:
    status: int
    model_status: int
    body: bytes
    request_ms: float
    headers: dict[str, str]


class ScoringRouter:
    def __init__(self, state: ArmState, records: RequestLog) -> None:
        self.state = state
        self.records = records
        self.faults: dict[tuple[str, str], RouterFault] = {}
        self._session: aiohttp.ClientSession | None = None
        self._rng = random.Random()
        self._inflight: dict[tuple[str, str], int] = {}
        self._mirror_tasks: set[asyncio.Task[None]] = set()
        # data collection into blob storage (emulator.datacollection); None: not configured
        self.collector: DataCollectionWriter | None = None

    async def start(self, app: web.Application) -> None:
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60, force_close=False)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=None)
        )

    async def close(self, app: web.Application) -> None:
        for task in list(self._mirror_tasks):
            task.cancel()
        if self._session is not None:
            await self._session.close()

    # -- routing --------------------------------------------------------------------------------

    def pick(self, traffic: dict[str, int]) -> str | None:
        live = [(d, w) for d, w in traffic.items() if w > 0]
        if not live:
            return None
        total = sum(w for _, w in live)
        x = self._rng.random() * total
        for d, w in live:
            x -= w
            if x < 0:
                return d
        return live[-1][0]

    async def handle(self, request: web.Request) -> web.Response:
        arrival = time.time()
        t0 = time.perf_counter()
        name = request.match_info["endpoint"].lower()
        request_id = request.headers.get("x-request-id") or str(uuid.uuid4())
        body = await request.read()
        ep = self.state.endpoints.get(name)
        base_headers = {"x-request-id": request_id, "x-ms-request-id": request_id}

        def finish(
            status: int,
            deployment: str,
            model_status: int,
            payload: bytes,
            request_ms: float,
            extra: dict[str, str] | None = None,
        ) -> web.Response:
            headers = dict(base_headers)
            if deployment:
                headers[DEPLOYMENT_HEADER] = deployment
            if extra:
                headers.update(extra)
            total_ms = (time.perf_counter() - t0) * 1000.0
            self.records.append(
                RequestRecord(
                    time=arrival,
                    endpoint=name,
                    deployment=deployment,
                    status_code=status,
                    model_status_code=model_status,
                    total_ms=total_ms,
                    request_ms=request_ms,
                    response_ms=max(0.0, total_ms - request_ms),
                    request_bytes=len(body),
                    response_bytes=len(payload),
                    request_id=request_id,
                )
            )
            return web.Response(
                status=status,
                body=payload,
                headers=headers,
                content_type="application/json",
            )

        if ep is None or (ep.state in ("Creating", "Deleting") and not ep.traffic):
            return _plain(404, f"endpoint {name} not found", base_headers)
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth[:7].lower() == "bearer " else ""
        if not token or token not in (ep.keys["primaryKey"], ep.keys["secondaryKey"]):
            return finish(401, "", 0, _err("Unauthorized: a valid endpoint key is required"), 0.0)

        chosen = request.headers.get(DEPLOYMENT_HEADER, "").strip().lower()
        direct = bool(chosen)
        if direct:
            dep = self.state.deployments.get((name, chosen))
            if dep is None:
                return finish(
                    404, "", 0, _err(f"deployment {chosen} not found in endpoint {name}"), 0.0
                )
        else:
            picked = self.pick(ep.traffic)
            if picked is None:
                return finish(
                    404,
                    "",
                    0,
                    _err("the endpoint has no valid deployment with positive traffic weight"),
                    0.0,
                )
            dep = self.state.deployments.get((name, picked))
            if dep is None:
                return finish(404, "", 0, _err(f"deployment {picked} not found"), 0.0)
            mirror = ep.mirror_traffic
            for mname, pct in mirror.items():
                if pct > 0 and self._rng.random() * 100 < pct:
                    mdep = self.state.deployments.get((name, mname))
                    if mdep is not None:
                        self._mirror(mdep, body, request_id, arrival)

        out = await self.call(dep, body, request_id)
        self._collect(dep, body, out, request_id)
        return finish(out.status, dep.name, out.model_status, out.body, out.request_ms, out.headers)

    def _collect(self, dep: Deployment, body: bytes, out: Outcome, request_id: str) -> None:
        """A deployment with data collection logs what it answered (mirrored copies too: they
        reach the deployment like any request)."""
        if self.collector is not None and out.status == 200:
            self.collector.collect(dep, body, out.body, request_id)

    def _mirror(self, dep: Deployment, body: bytes, request_id: str, arrival: float) -> None:
        async def run() -> None:
            t0 = time.perf_counter()
            out = await self.call(dep, body, request_id)
            self._collect(dep, body, out, request_id)
            total_ms = (time.perf_counter() - t0) * 1000.0
            self.records.append(
                RequestRecord(
                    time=arrival,
                    endpoint=dep.endpoint,
                    deployment=dep.name,
                    status_code=out.status,
                    model_status_code=out.model_status,
                    total_ms=total_ms,
                    request_ms=out.request_ms,
                    response_ms=max(0.0, total_ms - out.request_ms),
                    request_bytes=len(body),
                    response_bytes=len(out.body),
                    mirrored=True,
                    request_id=request_id,
                )
            )

        task = asyncio.ensure_future(run())
        self._mirror_tasks.add(task)
        task.add_done_callback(self._mirror_tasks.discard)

    async def call(self, dep: Deployment, body: bytes, request_id: str) -> Outcome:
        """Send one request to a ready instance of ``dep``; never raises."""
        key = (dep.endpoint, dep.name)
        runtime = dep.runtime
        ready = runtime.ready_instances() if runtime is not None else []
        if not ready:
            return Outcome(503, 0, _err(f"deployment {dep.name} has no ready instance"), 0.0, {})
        rs = dep.request_settings
        # Azure: max_concurrent_requests_per_instance defaults to 1 (azure-ai-ml
        # OnlineRequestSettings), and "a maximum of 2 * max_concurrent_requests_per_instance *
        # instance_count requests" are processed in parallel, the rest answered 429 "Too many
        # pending requests" (learn.microsoft.com/azure/machine-learning/
        # how-to-troubleshoot-online-endpoints, "HTTP status codes")
        per_instance = int(rs.get("maxConcurrentRequestsPerInstance") or 1)
        limit = 2 * per_instance * dep.instance_count
        inflight = self._inflight.get(key, 0)
        if inflight >= limit:
            return Outcome(429, 0, _err("Too many pending requests for this deployment"), 0.0, {})
        timeout_ms = iso_duration_ms(rs.get("requestTimeout"), 5000.0)
        instance = min(ready, key=lambda i: i.inflight)
        fault = self.faults.get(key)
        self._inflight[key] = inflight + 1
        instance.inflight += 1
        t0 = time.perf_counter()
        try:
            if fault is not None and fault.latency_ms > 0:
                await asyncio.sleep(fault.latency_ms / 1000.0)
            if fault is not None and fault.error_rate > 0 and self._rng.random() < fault.error_rate:
                return Outcome(
                    fault.error_status,
                    0,
                    _err("injected router error"),
                    (time.perf_counter() - t0) * 1000.0,
                    {},
                )
            assert self._session is not None
            url = f"http://127.0.0.1:{instance.port}/score"
            try:
                async with asyncio.timeout(timeout_ms / 1000.0):
                    async with self._session.post(
                        url,
                        data=body,
                        headers={
                            "Content-Type": "application/json",
                            "x-request-id": request_id,
                        },
                    ) as resp:
                        payload = await resp.read()
                        status = resp.status
            except TimeoutError:
                elapsed = (time.perf_counter() - t0) * 1000.0
                return Outcome(
                    408,
                    0,
                    _err(f"the model did not answer within {timeout_ms:.0f} ms (requestTimeout)"),
                    elapsed,
                    {},
                )
            except aiohttp.ClientError as exc:
                elapsed = (time.perf_counter() - t0) * 1000.0
                return Outcome(502, 0, _err(f"upstream worker error: {exc}"), elapsed, {})
            elapsed = (time.perf_counter() - t0) * 1000.0
            if status != 200:
                reason = payload[:200].decode(errors="replace").replace("\n", " ")
                return Outcome(
                    424,
                    status,
                    payload,
                    elapsed,
                    {
                        "ms-azureml-model-error-statuscode": str(status),
                        "ms-azureml-model-error-reason": reason,
                    },
                )
            return Outcome(200, 200, payload, elapsed, {})
        finally:
            instance.inflight -= 1
            self._inflight[key] = self._inflight.get(key, 1) - 1


def _err(message: str) -> bytes:
    return json.dumps({"message": message}).encode()


def _plain(status: int, message: str, headers: dict[str, str]) -> web.Response:
    return web.Response(
        status=status, body=_err(message), headers=headers, content_type="application/json"
    )


def add_routes(app: web.Application, router: ScoringRouter, prefix: str) -> None:
    app.router.add_post(prefix + "{endpoint}/score", router.handle)
    app.on_startup.append(router.start)
    app.on_cleanup.append(router.close)
