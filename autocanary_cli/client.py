"""A small JSON client of the operator API (standard library only: urllib)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from autocanary_cli.config import Config

USER_AGENT = "autocanary-cli"


class ApiError(Exception):
    """The API answered with an error (the JSON error shape: code, message, hint, details)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        hint: str = "",
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.hint = hint
        self.details: dict[str, Any] = dict(details or {})


class Unreachable(Exception):
    """No answer from the API: connection refused, DNS, TLS or a timeout."""


def path(*segments: str) -> str:
    """``/api/seg/seg``, each segment percent-encoded (an endpoint name is never a path)."""
    return "/api/" + "/".join(urllib.parse.quote(s, safe="") for s in segments)


class Client:
    def __init__(self, config: Config, *, timeout: float = 15.0) -> None:
        self.config = config
        self.timeout = timeout

    def get(self, route: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self._call("GET", route, params, None)

    def post(
        self, route: str, body: Mapping[str, Any], params: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        return self._call("POST", route, params, dict(body))

    def _call(
        self,
        method: str,
        route: str,
        params: Mapping[str, Any] | None,
        body: dict[str, Any] | None,
    ) -> dict[str, Any]:
        url = self.config.url + route
        query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        if query:
            url += "?" + urllib.parse.urlencode(query)
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if self.config.key:
            headers["x-functions-key"] = self.config.key
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise _api_error(exc.code, exc.read(), exc.reason) from None
        except urllib.error.URLError as exc:
            raise Unreachable(f"{self.config.url} cannot be reached: {exc.reason}") from None
        except (TimeoutError, OSError) as exc:
            raise Unreachable(f"{self.config.url} cannot be reached: {exc}") from None
        try:
            doc = json.loads(raw) if raw else {}
        except ValueError:
            raise ApiError(
                200, "not_json", f"{method} {route} answered something that is not JSON"
            ) from None
        if not isinstance(doc, dict):
            raise ApiError(
                200, "not_json", f"{method} {route} answered a JSON {type(doc).__name__}"
            )
        return doc


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _api_error(status: int, raw: bytes, reason: object) -> ApiError:
    try:
        doc = json.loads(raw) if raw else None
    except ValueError:
        doc = None
    err = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(err, dict):
        details = err.get("details")
        return ApiError(
            status,
            str(err.get("code") or "error"),
            str(err.get("message") or reason or ""),
            str(err.get("hint") or ""),
            details if isinstance(details, dict) else None,
        )
    text = raw.decode("utf-8", "replace").strip()[:300]
    hint = ""
    if status == 401:
        hint = "pass the app's function key with --key, AUTOCANARY_KEY or key in the config file"
    return ApiError(status, f"http_{status}", text or str(reason or "error"), hint)
