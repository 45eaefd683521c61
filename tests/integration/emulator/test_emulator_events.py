"""Model registrations announce ModelRegistered through the Event Grid add-on."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from emulator.connection import Connection
from emulator.samples import MODELS_DIR
from emulator.testing import admin_request


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A loopback webhook that records the events POSTed to it."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.headers.get("aeg-event-type") == "Notification":
                received.extend(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def _wait_for(received: list[dict[str, Any]], count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while len(received) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def test_registrations_emit_model_registered(
    emulator: Connection, ml: Any, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = webhook
    prefix = "evt" + uuid.uuid4().hex[:6]
    sub = "sub-" + prefix
    admin_request(
        emulator,
        "POST",
        "eventgrid/subscriptions",
        {"name": sub, "endpointUrl": url, "filter": {"subjectBeginsWith": f"models/{prefix}"}},
    )
    try:
        folder = {"name": f"{prefix}-a", "version": "1", "path": str(MODELS_DIR / "fraud-v1")}
        admin_request(emulator, "POST", "models", {**folder, "tags": {"stage": "canary"}})
        with pytest.raises(Exception, match="409"):
            admin_request(emulator, "POST", "models", folder)
        from azure.ai.ml.entities import Model

        uri = (
            f"azureml://subscriptions/{emulator.subscription}/resourcegroups/"
            f"{emulator.resource_group}/workspaces/{emulator.workspace}/datastores/"
            "workspaceblobstore/paths/models/fraud/1/fraud-v1"
        )
        ml.models.create_or_update(Model(name=f"{prefix}-b", version="2", path=uri))
        _wait_for(received, 2)
        time.sleep(0.3)
        subjects = sorted(e["subject"] for e in received)
        assert subjects == [f"models/{prefix}-a:1", f"models/{prefix}-b:2"]
        first = next(e for e in received if e["subject"].endswith("-a:1"))
        assert first["eventType"] == "Microsoft.MachineLearningServices.ModelRegistered"
        # camelCase by default, as the spec's schema (eventgrid data-plane
        # MachineLearningServices.json, ModelRegisteredEventData).
        assert first["data"]["modelTags"] == {"stage": "canary"}
        assert first["data"]["modelName"] == f"{prefix}-a"
    finally:
        admin_request(emulator, "DELETE", f"eventgrid/subscriptions/{sub}")
