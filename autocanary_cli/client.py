"""A small JSON client of the operator API (standard library only: urllib)."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from autocanary_cli import replies
from autocanary_cli.config import Config

USER_AGENT = "autocanary-cli"
UNEXPECTED_HINT = (
    "check that --url is an autocanary app (one of another version may answer otherwise)"
)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A 3xx is answered as an HTTPError: urllib would copy every header, the API key
    included, into the request to wherever ``Location`` points (another host, plain http)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect())


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
    """No answer from the API: connection refused, DNS, TLS, a timeout or a broken HTTP reply
    (a garbled status line, a body cut short)."""


def path(*segments: str) -> str:
    """``/api/seg/seg``, each segment percent-encoded (an endpoint name is never a path)."""
    return "/api/" + "/".join(urllib.parse.quote(s, safe="") for s in segments)


class Client:
    def __init__(self, config: Config, *, timeout: float = 15.0) -> None:
        self.config = config
        self.timeout = timeout

    def get(
        self,
        route: str,
        params: Mapping[str, Any] | None = None,
        *,
        shape: replies.Obj = replies.OBJECT,
        documents: tuple[int, ...] = (),
    ) -> dict[str, Any]:
        """The JSON document at ``route``, checked to be of ``shape`` (autocanary_cli.replies);
        ``documents``: error statuses whose body is such a document too (the health check's
        503), read instead of raised."""
        return self._call("GET", route, params, None, shape, documents)

    def post(
        self,
        route: str,
        body: Mapping[str, Any],
        params: Mapping[str, Any] | None = None,
        *,
        shape: replies.Obj = replies.OBJECT,
    ) -> dict[str, Any]:
        return self._call("POST", route, params, dict(body), shape)

    def _call(
        self,
        method: str,
        route: str,
        params: Mapping[str, Any] | None,
        body: dict[str, Any] | None,
        shape: replies.Obj,
        documents: tuple[int, ...] = (),
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
            with _OPENER.open(request, timeout=self.timeout) as response:
                status = int(response.status)
                raw = response.read()
        except urllib.error.HTTPError as exc:
            if 300 <= exc.code < 400:
                raise ApiError(
                    exc.code,
                    "redirected",
                    f"{method} {route} was redirected to {exc.headers.get('Location')!r}; "
                    "the CLI never follows a redirect (it would take the API key along)",
                    "Use the app's own URL (https://APP.azurewebsites.net).",
                ) from None
            raw = _error_body(exc)
            if exc.code not in documents or _is_error_shape(raw):
                raise _api_error(exc.code, raw, exc.reason) from None
            status = exc.code
        except urllib.error.URLError as exc:
            raise Unreachable(f"{self.config.url} cannot be reached: {exc.reason}") from None
        except (TimeoutError, OSError) as exc:
            raise Unreachable(f"{self.config.url} cannot be reached: {exc}") from None
        except http.client.HTTPException as exc:  # BadStatusLine, IncompleteRead, LineTooLong
            raise Unreachable(
                f"{self.config.url} sent a broken HTTP reply: {_broken(exc)}"
            ) from None
        try:
            return replies.document(raw, shape)
        except replies.Unexpected as exc:
            raise ApiError(
                status,
                "unexpected_reply",
                f"unexpected reply from the server to {method} {route}: {exc}",
                UNEXPECTED_HINT,
            ) from None


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _broken(exc: http.client.HTTPException) -> str:
    """``BadStatusLine: HELLO``, ``IncompleteRead(5 bytes read, 95 more expected)``."""
    name, text = type(exc).__name__, str(exc).strip()[:200]
    if not text or text.startswith(name):
        return text or name
    return f"{name}: {text}"


def _error_body(exc: urllib.error.HTTPError) -> bytes:
    """The body of an error reply, or nothing when it cannot be read (cut short, reset)."""
    try:
        return exc.read()
    except (http.client.HTTPException, OSError):
        return b""


def _is_error_shape(raw: bytes) -> bool:
    """Whether a reply is the API's error shape ``{"error": {...}}`` (or not JSON at all)."""
    try:
        doc = replies.decode(raw) if raw else None
    except replies.Unexpected:
        return True
    return not isinstance(doc, dict) or "error" in doc


def _api_error(status: int, raw: bytes, reason: object) -> ApiError:
    try:
        doc = replies.decode(raw) if raw else None
    except replies.Unexpected:
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
