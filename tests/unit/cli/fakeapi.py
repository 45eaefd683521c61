"""A fake operator API on loopback: canned documents per route, and a log of the requests."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

DATA = Path(__file__).parent / "data"

Reply = tuple[int, Any]
Route = Callable[["Seen"], Reply]


@dataclass(frozen=True)
class Raw:
    """Bytes written as they are instead of an HTTP reply (a broken status line, a cut body)."""

    data: bytes


def fixture(name: str) -> dict[str, Any]:
    """A recorded document shaped as the operator API contract says (tests/unit/cli/data)."""
    return json.loads((DATA / name).read_text(encoding="utf-8"))


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeApi:
    routes: dict[tuple[str, str], Route | Reply | Raw] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    url: str = ""
    _server: ThreadingHTTPServer | None = None

    def reply(self, method: str, path: str, status: int, body: Any) -> None:
        self.routes[(method, path)] = (status, copy.deepcopy(body))

    def route(self, method: str, path: str, fn: Route) -> None:
        self.routes[(method, path)] = fn

    def raw(self, method: str, path: str, data: bytes) -> None:
        self.routes[(method, path)] = Raw(data)

    def start(self) -> FakeApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                seen = Seen(
                    self.command,
                    unquote(parts.path),
                    dict(parse_qsl(parts.query)),
                    {k.lower(): v for k, v in self.headers.items()},
                    json.loads(raw) if raw else None,
                )
                api.seen.append(seen)
                target = api.routes.get((self.command, seen.path))
                if isinstance(target, Raw):
                    self.wfile.write(target.data)
                    self.close_connection = True
                    return
                if target is None:
                    status, body = (
                        404,
                        {
                            "error": {
                                "code": "not_found",
                                "message": f"no route {seen.path}",
                                "hint": "check the endpoint name",
                            }
                        },
                    )
                elif callable(target):
                    status, body = target(seen)
                else:
                    status, body = target
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def error(code: str, message: str, hint: str, **details: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message, "hint": hint}
    if details:
        body["details"] = details
    return {"error": body}


def with_phase(doc: dict[str, Any], phase: str, **changes: Any) -> dict[str, Any]:
    """A copy of a detail document with the rollout in ``phase`` (and other view changes)."""
    out = copy.deepcopy(doc)
    out["rollout"].update({"phase": phase, **changes})
    return out
