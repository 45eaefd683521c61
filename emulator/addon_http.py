"""Request checks and helpers shared by the Azure Monitor and Event Grid add-ons.

One error style: every refusal is an :class:`emulator.errors.ArmError` answered as Azure's
``{"error": {"code", "message"}}``. One admin check: handlers of the add-ons' admin APIs are
wrapped by :func:`admin_route`, which checks the admin key and answers ArmErrors raised inside.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aiohttp import web

from emulator.context import Context
from emulator.errors import ArmError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ADMIN_HEADER = "x-emulator-admin-key"


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(body).encode(), content_type="application/json"
    )


def error_response(status: int, code: str, message: str) -> web.Response:
    """Azure's common error body: ``{"error": {"code", "message"}}``."""
    return ArmError(status, code, message).response()


def bearer_problem(request: web.Request) -> web.Response | None:
    """None when the request carries ``Authorization: Bearer <token>``; else the 401 answer.

    The emulator accepts any non-empty token (no Entra ID here), but keeps Azure's rule that
    data-plane calls are authenticated.
    """
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return error_response(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing or is not a bearer "
            "token.",
        )
    return None


def admin_problem(request: web.Request, ctx: Context) -> web.Response | None:
    """None when the request carries the admin key; else the 401 answer.

    The key (``ctx.extras["admin_key"]``) may come as ``Authorization: Bearer <key>`` (what
    the server's admin clients send) or in the ``x-emulator-admin-key`` header. With no admin
    key configured the admin API is open (the server always configures one).
    """
    expected = ctx.extras.get("admin_key")
    if not expected:
        return None
    auth = request.headers.get("Authorization", "")
    candidates = [request.headers.get(ADMIN_HEADER, "")]
    if auth[:7].lower() == "bearer ":
        candidates.append(auth[7:].strip())
    if not any(hmac.compare_digest(c.encode(), str(expected).encode()) for c in candidates):
        return error_response(401, "Unauthorized", "the emulator admin key is required")
    return None


def admin_route(ctx: Context) -> Callable[[Handler], Handler]:
    """Decorate an admin API handler: the admin key is required; ArmErrors become answers."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            problem = admin_problem(request, ctx)
            if problem is not None:
                return problem
            try:
                return await handler(request)
            except ArmError as exc:
                return exc.response()

        return guarded

    return wrap


async def read_json(request: web.Request) -> Any:
    """The request body as JSON; an :class:`ArmError` (400) when it is not JSON."""
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArmError(400, "InvalidRequestContent", f"Body is not JSON: {exc}") from exc


_SECRET_PARAMS = frozenset({"code", "sig", "key", "token", "access_token", "api-key"})


def redact_url(url: str) -> str:
    """``url`` with the values of secret query parameters (``code=`` of a function key,
    ``sig=``, ...) replaced by ``REDACTED``, for logs and admin views."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = [
        (k, "REDACTED" if k.lower() in _SECRET_PARAMS else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(query, safe="/:")))


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_webhook_url(url: Any) -> str:
    """A webhook URL must be absolute http(s); returns it or raises ValueError."""
    if not isinstance(url, str):
        raise ValueError(f"a webhook URL must be a string, not {type(url).__name__}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"webhook URL {url!r} must be an absolute http:// or https:// URL")
    return url


def ssl_for(url: str) -> bool:
    """aiohttp's ``ssl`` argument: no verification for https on loopback, default otherwise."""
    parts = urlsplit(url)
    return not (parts.scheme == "https" and is_loopback(parts.hostname))


_DURATION = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> timedelta:
    """An ISO 8601 duration (``PT1M``, ``PT3600.0S``, ``P1D``, ``PT1H30M``); ValueError if not."""
    m = _DURATION.match(text.strip().upper())
    if not m or text.strip().upper() in ("P", "PT"):
        raise ValueError(f"{text!r} is not an ISO 8601 duration")
    parts = {k: float(v) if v else 0.0 for k, v in m.groupdict().items()}
    return timedelta(days=parts["d"], hours=parts["h"], minutes=parts["m"], seconds=parts["s"])


def parse_time(text: str) -> datetime:
    """An ISO 8601 date-time (``Z`` or an offset; naive means UTC); ValueError if not."""
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    value = datetime.fromisoformat(raw)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def iso_time(epoch: float) -> str:
    """Epoch seconds as ``2024-01-01T00:00:00.000000Z``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def minute_seconds(ctx: Context) -> float:
    """Real seconds in one emulated minute (``ctx.bucket_seconds``, 60 unless shortened)."""
    return float(ctx.bucket_seconds) if ctx.bucket_seconds > 0 else 60.0


def scaled(duration: timedelta, ctx: Context) -> float:
    """Real seconds of an API duration, where one API minute lasts ``ctx.bucket_seconds``."""
    return duration.total_seconds() / 60.0 * minute_seconds(ctx)


def load_config_list(ctx: Context, extras_key: str, default_name: str, list_key: str) -> list[Any]:
    """Items from a JSON config file: a list, or an object holding the list at ``list_key``.

    The file is ``ctx.extras[extras_key]`` when configured (it must exist), otherwise
    ``<state_dir>/<default_name>`` when present; no file means no items.
    """
    configured = ctx.extras.get(extras_key)
    path = Path(configured) if configured else ctx.state_dir / default_name
    if not path.exists():
        if configured:
            raise ValueError(f"{list_key} file {path} does not exist")
        return []
    data = json.loads(path.read_text())
    items = data.get(list_key) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValueError(f'{path}: expected a list or {{"{list_key}": [...]}}')
    return items
