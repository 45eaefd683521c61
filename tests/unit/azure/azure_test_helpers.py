"""Helpers for the Azure adapter unit tests: settings, HTTP error answers, no network."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from shared.settings import Settings

SUB = "00000000-0000-0000-0000-000000000001"


def settings(**over: Any) -> Settings:
    base = Settings(
        subscription_id=SUB,
        resource_group="rg",
        workspace="ws",
        metrics_endpoint="https://westeurope.metrics.monitor.azure.com",
        policy_text="",
        policy_source="test",
        storage_connection=None,
        table_endpoint=None,
        table_name="autocanary",
        eventgrid_endpoint=None,
        eventgrid_key=None,
        max_concurrency=4,
        credential="default",
        client_id=None,
        arm_endpoint=None,
        ca_bundle=None,
    )
    return replace(base, **over)


class FakeHttpResponse:
    """Enough of azure-core's HttpResponse for HttpResponseError to parse the ARM error body."""

    def __init__(
        self, status: int, body: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        self.status_code = status
        self.reason = "Reason"
        self.headers = headers or {}
        self.content_type = "application/json"
        self._text = body if isinstance(body, str) else json.dumps(body or {})
        self.request = None

    def text(self, encoding: str | None = None) -> str:
        return self._text

    def body(self) -> bytes:
        return self._text.encode()


def http_error(
    status: int,
    code: str | None = None,
    message: str = "failed",
    details: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    cls: Any = None,
) -> Exception:
    """An azure-core HttpResponseError (or ``cls``) for an ARM-style error answer."""
    from azure.core.exceptions import HttpResponseError

    error: dict[str, Any] = {"message": message}
    if code is not None:
        error["code"] = code
    if details:
        error["details"] = details
    body = {"error": error} if code is not None or details else {}
    return (cls or HttpResponseError)(response=FakeHttpResponse(status, body, headers))
