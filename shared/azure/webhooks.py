"""Notifier over HTTPS webhooks (Teams Workflows, Slack incoming webhooks), with the stdlib.

One POST of JSON per notice, bounded: ``timeout`` seconds to connect and for each read, at most
``WEBHOOK_RETRY.attempts`` attempts and ``budget`` seconds of backoff, through the one retry
loop (shared/azure/retry.py). Retried: connection failures, timeouts, 408, 429 (honouring
``Retry-After``: Slack sends it, slackhq/slack-api-docs page_rate_limits.md) and 5xx. Not
retried: any other status (a 400 ``invalid_payload`` or a 404/410 for a deleted channel will
not heal by asking again). Redirects are not followed (the payload goes to the URL configured,
nowhere else). Success is any 2xx: Slack answers 200 ``ok``, a Teams Workflows trigger 202.
A legacy Teams connector answered throttling with a 2xx whose body says "Microsoft Teams
endpoint returned HTTP error 429" (MicrosoftDocs/msteams-docs connectors-using.md, "Rate
limiting for connectors"): that counts as a 429.

The webhook URL is a secret: no error message or log line carries it; they name the channel's
app setting.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from shared.azure import retry
from shared.notify.channels import Channel

WEBHOOK_RETRY = retry.RetryPolicy(attempts=3, base_delay=0.5, max_delay=2.0, budget=3.0)
TIMEOUT_S = 5.0
_TRANSIENT = frozenset({408, 429, 500, 502, 503, 504})
_BODY_LIMIT = 4096
_TEAMS_THROTTLED = b"HTTP error 429"


class WebhookFailed(OSError):
    """A post that did not go through: the status (None for no answer) and why, without the
    URL. ``response.headers`` carries ``Retry-After`` for the retry loop."""

    def __init__(
        self, label: str, status: int | None, why: str, headers: Mapping[str, str]
    ) -> None:
        super().__init__(f"{label}: {why}")
        self.status_code = status
        self.response = _Answer(dict(headers))


class _Answer:
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx is answered as an HTTPError: never re-posted elsewhere


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, WebhookFailed):
        return exc.status_code is None or exc.status_code in _TRANSIENT
    return isinstance(exc, OSError)


class WebhookNotifier:
    def __init__(
        self,
        *,
        timeout: float = TIMEOUT_S,
        retry_policy: retry.RetryPolicy = WEBHOOK_RETRY,
        ca_bundle: str | None = None,
    ) -> None:
        self.timeout = timeout
        self._retry = retry_policy
        context = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else None
        handlers: list[Any] = [_NoRedirect()]
        if context is not None:
            handlers.append(urllib.request.HTTPSHandler(context=context))
        self._opener = urllib.request.build_opener(*handlers)

    def post(self, channel: Channel, payload: Mapping[str, Any]) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        retry.call(
            lambda: self._post_once(channel, body),
            f"notify {channel.label}",
            policy=self._retry,
            map_errors=False,
            transient=is_transient,
        )

    def _post_once(self, channel: Channel, body: bytes) -> None:
        request = urllib.request.Request(
            channel.url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "autocanary"},
        )
        label = channel.label
        try:
            with self._opener.open(request, timeout=self.timeout) as answer:
                text = answer.read(_BODY_LIMIT)
                status = int(answer.status)
                headers = dict(answer.headers.items())
        except urllib.error.HTTPError as exc:
            headers = dict(exc.headers.items()) if exc.headers else {}
            detail = _snippet(exc.read(_BODY_LIMIT) if exc.fp else b"")
            exc.close()
            raise WebhookFailed(
                label, exc.code, f"HTTP {exc.code} {detail}".strip(), headers
            ) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, ssl.SSLError) as exc:
            reason = getattr(exc, "reason", exc)
            why = type(reason).__name__ if not isinstance(reason, str) else reason
            raise WebhookFailed(label, None, f"no answer ({why})", {}) from None
        except ValueError as exc:  # a URL urllib cannot use: never retried
            raise WebhookFailed(label, 0, f"unusable URL ({type(exc).__name__})", {}) from None
        if _TEAMS_THROTTLED in text:
            raise WebhookFailed(label, 429, "throttled (HTTP error 429 in the answer)", headers)
        if not 200 <= status < 300:
            raise WebhookFailed(label, status, f"HTTP {status} {_snippet(text)}".strip(), headers)


def _snippet(body: bytes) -> str:
    """A short, printable piece of an error answer (Slack's is a word like invalid_payload)."""
    text = body[:120].decode("utf-8", errors="replace")
    return "".join(ch if ch.isprintable() else " " for ch in text).strip()
