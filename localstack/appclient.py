"""Talking to the local stack over HTTP: one JSON call (:func:`http`, any status returned,
never raised) and the app as devhost serves it (:class:`AppClient`: the HTTP functions under
``/api``, admin runs of timer functions, the webhook URLs)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any  # parsed JSON, or text when the body is not JSON

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def http(
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> Reply:
    """One HTTP call with a JSON body; any status is returned, never raised."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    text = raw.decode("utf-8", errors="replace")
    try:
        return Reply(status, json.loads(text) if text.strip() else None)
    except json.JSONDecodeError:
        return Reply(status, text)


@dataclass(frozen=True)
class AppClient:
    """The app as devhost serves it: HTTP functions under /api, admin runs, webhook URLs."""

    base_url: str
    key: str
    route_prefix: str = "api"

    def request(self, method: str, path: str, body: Any = None, timeout: float = 30.0) -> Reply:
        return http(
            method,
            f"{self.base_url}/{path.lstrip('/')}",
            body,
            {"x-functions-key": self.key},
            timeout,
        )

    def api(self, method: str, path: str, body: Any = None, timeout: float = 30.0) -> Reply:
        return self.request(method, f"{self.route_prefix}/{path.lstrip('/')}", body, timeout)

    def run_function(self, name: str) -> int:
        """Run a timer function once (202 started, 409 still running from the last run)."""
        return self.request("POST", f"admin/functions/{name}", {"input": ""}, 10.0).status

    def event_grid_url(self, function: str) -> str:
        return f"{self.base_url}/runtime/webhooks/EventGrid?functionName={function}&code={self.key}"

    @property
    def alerts_url(self) -> str:
        return f"{self.base_url}/{self.route_prefix}/alerts?code={self.key}"
