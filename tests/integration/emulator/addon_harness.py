"""Run emulator add-on modules in-process over HTTPS on a free loopback port, for tests."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from emulator.certs import make_self_signed
from emulator.context import Context, Identity
from emulator.records import RequestLog, RequestRecord

ADMIN_KEY = "test-admin-key"


class FakeEndpoints:
    """A tiny EndpointDirectory."""

    def __init__(self, endpoints: dict[str, list[str]] | None = None) -> None:
        self.endpoints = endpoints or {"ep": ["blue", "green"]}

    def endpoint_names(self) -> list[str]:
        return list(self.endpoints)

    def deployment_names(self, endpoint: str) -> list[str]:
        return list(self.endpoints.get(endpoint, []))


@dataclass
class Server:
    url: str
    cert: str
    ctx: Context
    loop: asyncio.AbstractEventLoop

    def add(self, *records: RequestRecord) -> None:
        for r in records:
            self.ctx.records.append(r)


def record(
    t: float,
    deployment: str = "blue",
    status: int = 200,
    total_ms: float = 10.0,
    endpoint: str = "ep",
    model_status: int | None = None,
    mirrored: bool = False,
    request_id: str = "",
) -> RequestRecord:
    return RequestRecord(
        time=t,
        endpoint=endpoint,
        deployment=deployment,
        status_code=status,
        model_status_code=status if model_status is None else model_status,
        total_ms=total_ms,
        request_ms=total_ms * 0.8,
        response_ms=total_ms * 0.1,
        request_bytes=100,
        response_bytes=20,
        mirrored=mirrored,
        request_id=request_id,
    )


@contextlib.contextmanager
def addon_server(
    tmp_path: Path,
    modules: tuple[str, ...] = ("emulator.monitor", "emulator.logs"),
    bucket_seconds: float = 60.0,
    extras: dict[str, Any] | None = None,
) -> Iterator[Server]:
    """Serve ``setup(app, ctx)`` of each module over HTTPS in a background event loop."""
    cert, key = make_self_signed(tmp_path / "certs")
    ctx = Context(
        identity=Identity(),
        records=RequestLog(),
        endpoints=FakeEndpoints(),
        state_dir=tmp_path,
        bucket_seconds=bucket_seconds,
        extras={"admin_key": ADMIN_KEY, **(extras or {})},
    )
    app = web.Application()
    for name in modules:
        importlib.import_module(name).setup(app, ctx)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def start() -> None:
        import ssl

        sslctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        sslctx.load_cert_chain(cert, key)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=sslctx)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        holder["runner"] = runner
        holder["port"] = port

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(start())
        except BaseException as exc:
            holder["error"] = exc
            ready.set()
            return
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(10)
    if "error" in holder:
        raise holder["error"]
    try:
        yield Server(f"https://127.0.0.1:{holder['port']}", str(cert), ctx, loop)
    finally:
        asyncio.run_coroutine_threadsafe(holder["runner"].cleanup(), loop).result(15)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def admin_call(
    s: Server, method: str, path: str, body: Any = None, key: str = ADMIN_KEY
) -> tuple[int, Any]:
    """Call the admin API under ``/_emulator/`` over HTTPS; returns (status, JSON body)."""
    req = urllib.request.Request(
        f"{s.url}/_emulator/{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
    )
    try:
        with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=s.cert)) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")
