"""Encoding HTTP responses: JSON bodies, and errors mapped to statuses in one place
(:func:`shared.errors.http_status`); the HTTP API's key check and the caller's name.

Why the app checks the key itself: with ``AuthLevel.FUNCTION`` the Functions host refuses a
missing or wrong key before the app runs, with a bare 401 and an empty body (its
authorization filter returns an ASP.NET ``StatusCodeResult``: "Executing StatusCodeResult,
setting HTTP status code 401", Azure/azure-functions-dotnet-worker issue 1249; MicrosoftDocs/
azure-docs issue 26034), which breaks the API's one JSON error shape. So the API routes are
``ANONYMOUS`` at host level and :func:`api_call` checks the key against
``AUTOCANARY_API_KEYS`` (constant-time, ``hmac.compare_digest``), in the same places the
host looks: the ``x-functions-key`` header or the ``code`` query parameter
(learn.microsoft.com/azure/azure-functions/security-concepts, "Function access keys"). The
alerts webhook and Event Grid keep the host's own keys.

The caller's name: App Service Authentication injects ``X-MS-CLIENT-PRINCIPAL-NAME`` ("a
human-readable name for the caller set by the identity provider"; "External requests aren't
allowed to set these headers, so they're present only if set by App Service",
learn.microsoft.com/azure/app-service/configure-authentication-user-identities). That holds
only while the feature is on, which App Service tells the app with ``WEBSITE_AUTH_ENABLED=True``
(the variable Microsoft.Identity.Web's AppServicesAuthenticationInformation reads; also
Azure/data-api-builder PR 1011), so the header is trusted only then.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import os
from collections.abc import Callable, Collection
from typing import Any

import azure.functions as func

from shared.errors import (
    AutocanaryError,
    Forbidden,
    InvalidInput,
    Unauthorized,
    error_body,
    http_status,
)
from shared.settings import API_KEYS_SETTING, API_READ_KEYS_SETTING, api_keys

log = logging.getLogger("autocanary")

KEY_HEADER = "x-functions-key"
KEY_PARAM = "code"
PRINCIPAL_HEADER = "x-ms-client-principal-name"
AUTH_ENABLED_SETTING = "WEBSITE_AUTH_ENABLED"


def json_response(body: Any, status: int = 200) -> func.HttpResponse:
    """Always valid JSON (RFC 8259): a non-finite number anywhere (say, in evidence stored
    before inputs refused them) is answered as null rather than a bare NaN no parser takes."""
    try:
        text = json.dumps(body, default=str, sort_keys=True, allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(body), default=str, sort_keys=True, allow_nan=False)
    return func.HttpResponse(
        text,
        status_code=status,
        mimetype="application/json",
        charset="utf-8",
    )


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def error_response(error: BaseException) -> func.HttpResponse:
    if not isinstance(error, AutocanaryError):
        log.exception("unhandled error", exc_info=error)
    body = error_body(error)
    hint = getattr(error, "hint", None)
    if isinstance(hint, str) and hint:
        body["error"].setdefault("hint", hint)
    response = json_response(body, http_status(error))
    if isinstance(error, Unauthorized):
        response.headers["WWW-Authenticate"] = f'Key realm="autocanary", header="{KEY_HEADER}"'
    return response


def guarded(fn: Callable[[], func.HttpResponse]) -> func.HttpResponse:
    """Run a handler body; any error becomes its JSON error response."""
    try:
        return fn()
    except Exception as exc:
        return error_response(exc)


def api_call(
    req: func.HttpRequest,
    fn: Callable[[], func.HttpResponse],
    params: Collection[str] | None = (),
    *,
    acts: bool = False,
) -> func.HttpResponse:
    """Run an HTTP API handler body once the request's key is checked (``authorize``) and its
    query parameters are among ``params`` (besides the key's ``code``; None: not checked); a
    missing or wrong key, an unknown parameter (a typo
    such as ``?limt=5`` would otherwise be silently ignored), and any error, is its JSON error
    response."""

    def run() -> func.HttpResponse:
        authorize(req, acts=acts)
        if params is not None:
            unknown = sorted(set(req.params) - set(params) - {KEY_PARAM})
            if unknown:
                known = ", ".join(sorted(params)) or "none"
                raise InvalidInput(
                    f"unknown query parameter {unknown[0]!r} (this route takes: {known})",
                    code="unknown_parameter",
                )
        return fn()

    return guarded(run)


def authorize(req: func.HttpRequest, *, acts: bool = False) -> None:
    """Raise Unauthorized unless the request carries one of ``AUTOCANARY_API_KEYS``, or, for a
    route that only reads (not ``acts``), one of ``AUTOCANARY_API_READ_KEYS``; Forbidden for a
    read-only key sent to act."""
    keys = api_keys()
    read_keys = api_keys(setting=API_READ_KEYS_SETTING)
    supplied = req.headers.get(KEY_HEADER) or req.params.get(KEY_PARAM)
    if not keys and not read_keys:
        raise Unauthorized(
            f"this app accepts no API key: the app setting {API_KEYS_SETTING} is not set",
            code="api_keys_not_configured",
            hint=f"set {API_KEYS_SETTING} to one or more keys (separated by commas), then send "
            f"one in the {KEY_HEADER} header",
        )
    if not supplied:
        raise Unauthorized(f"an API key is required (the {KEY_HEADER} header or ?code=)")
    given = supplied.encode("utf-8")
    if _matches(given, keys):
        return
    if not _matches(given, read_keys):
        raise Unauthorized("the API key is not valid", code="invalid_key")
    if acts:
        raise Forbidden(
            f"this key is read-only ({API_READ_KEYS_SETTING}): it cannot act on a rollout"
        )


def _matches(given: bytes, keys: tuple[str, ...]) -> bool:
    """Whether ``given`` is one of ``keys``; every key is compared, so the time taken does not
    tell which matched."""
    found = False
    for key in keys:
        found |= hmac.compare_digest(given, key.encode("utf-8"))
    return found


def signed_in_user(req: func.HttpRequest) -> str | None:
    """The App Service Authentication user, only when the platform set the header."""
    if os.environ.get(AUTH_ENABLED_SETTING, "").strip().lower() != "true":
        return None
    name = (req.headers.get(PRINCIPAL_HEADER) or "").strip()
    return name or None


def default_actor(req: func.HttpRequest) -> str:
    """Who acts when the body names nobody: the signed-in user, else "operator"."""
    return signed_in_user(req) or "operator"
