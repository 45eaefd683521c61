"""The webhook adapter against a loopback webhook server: what it retries, what it does not,
that a hanging webhook is bounded, and that the URL (a secret) never shows in an error.
The last test runs the engine with the real adapter while the webhook hangs."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shared.azure import retry
from shared.azure.webhooks import WebhookFailed, WebhookNotifier
from shared.model import Phase
from shared.notify.channels import Channel, ChannelBook
from shared.notify.dispatch import Notifications
from tests.engine_support import make_world

SECRET = "/workflows/SECRET-TOKEN-123"
FAST = retry.RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02, budget=1.0)


class Hook:
    """A webhook that answers from a script: (status, body, headers), or "hang"."""

    def __init__(self) -> None:
        self.script: list[tuple[int, bytes, dict[str, str]] | str] = []
        self.bodies: list[dict[str, object]] = []
        self.release = threading.Event()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                hook.bodies.append(json.loads(self.rfile.read(length)))
                step = hook.script.pop(0) if hook.script else (200, b"ok", {})
                if step == "hang":
                    hook.release.wait(20.0)
                    return
                assert not isinstance(step, str)
                status, body, headers = step
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{SECRET}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.close()


def channel(hook: Hook) -> Channel:
    return Channel("slack", "AUTOCANARY_SLACK_WEBHOOK_URL", hook.url)


def test_payload_is_posted_as_json(hook: Hook) -> None:
    WebhookNotifier(retry_policy=FAST).post(channel(hook), {"text": "hello"})
    assert hook.bodies == [{"text": "hello"}]


def test_server_error_and_throttling_are_retried(hook: Hook) -> None:
    hook.script = [(500, b"oops", {}), (429, b"rate_limited", {"Retry-After": "0"}), (202, b"", {})]
    WebhookNotifier(retry_policy=FAST).post(channel(hook), {"text": "x"})
    assert len(hook.bodies) == 3


def test_teams_throttling_inside_a_2xx_answer_is_retried(hook: Hook) -> None:
    hook.script = [(200, b"Microsoft Teams endpoint returned HTTP error 429", {}), (200, b"1", {})]
    WebhookNotifier(retry_policy=FAST).post(channel(hook), {"text": "x"})
    assert len(hook.bodies) == 2


@pytest.mark.parametrize("status", [400, 404, 410])
def test_client_errors_are_not_retried_and_never_show_the_url(hook: Hook, status: int) -> None:
    hook.script = [(status, b"invalid_payload", {})]
    with pytest.raises(WebhookFailed) as err:
        WebhookNotifier(retry_policy=FAST).post(channel(hook), {"text": "x"})
    assert err.value.status_code == status and len(hook.bodies) == 1
    assert "SECRET-TOKEN" not in str(err.value) and "invalid_payload" in str(err.value)
    assert "AUTOCANARY_SLACK_WEBHOOK_URL" in str(err.value)


def test_redirect_is_not_followed(hook: Hook) -> None:
    hook.script = [(302, b"", {"Location": "http://127.0.0.1:9/elsewhere"})]
    with pytest.raises(WebhookFailed) as err:
        WebhookNotifier(retry_policy=FAST).post(channel(hook), {"text": "x"})
    assert err.value.status_code == 302 and len(hook.bodies) == 1


def test_hanging_webhook_times_out_within_the_retry_bounds(hook: Hook) -> None:
    hook.script = ["hang", "hang", "hang"]
    with pytest.raises(WebhookFailed) as err:
        WebhookNotifier(timeout=0.2, retry_policy=FAST).post(channel(hook), {"text": "x"})
    assert err.value.status_code is None and "no answer" in str(err.value)
    assert len(hook.bodies) == 3
    assert "SECRET-TOKEN" not in str(err.value)


def test_engine_goes_on_while_the_webhook_hangs_and_counts_the_failures(hook: Hook) -> None:
    hook.script = ["hang"] * 20
    w = make_world()
    notices = Notifications(
        WebhookNotifier(timeout=0.2, retry_policy=FAST),
        ChannelBook.from_webhooks({"AUTOCANARY_SLACK_WEBHOOK_URL": hook.url}),
        drain_s=0.05,
    )
    w.engine.notifications = notices
    w.engine.on_model_registered(w.model())
    w.tick(70)  # the tick returns with the webhook still hanging
    slot = w.store.read("fraud")
    assert slot.active is not None and slot.active.phase is not Phase.PENDING
    assert notices.stats()["pending"] >= 1
    assert notices.drain(10.0)
    stats = notices.stats()
    assert stats["sent"] == 0 and stats["failed"] >= 1
    assert stats["failed"] + stats["skipped"] == stats["queued"]
