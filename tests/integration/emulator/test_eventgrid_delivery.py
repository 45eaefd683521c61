"""Event Grid subscriptions: ModelRegistered delivery, filters, retries, deliver-twice."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from addon_harness import Server, addon_server, admin_call
from webhook_sink import webhook_sink

pytestmark = pytest.mark.integration

EXTRAS = {"eventgrid_retry_base_seconds": 0.05, "eventgrid_retry_max_seconds": 0.2}


def admin(s: Server, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    return admin_call(s, method, f"eventgrid/{path}", body)


def subscription(url: str, **over: Any) -> dict[str, Any]:
    return {
        "name": "autocanary",
        "endpointUrl": url,
        "filter": {
            "subjectBeginsWith": "models/fraud-",
            "includedEventTypes": ["Microsoft.MachineLearningServices.ModelRegistered"],
        },
        **over,
    }


def test_model_registered_is_delivered_in_event_grid_schema(tmp_path: Path) -> None:
    """A matching registration arrives as a JSON array with aeg-event-type: Notification."""
    with (
        webhook_sink() as sink,
        addon_server(tmp_path, ("emulator.eventgrid",), extras=EXTRAS) as s,
    ):
        assert admin(s, "POST", "subscriptions", subscription(sink.url))[0] == 201
        s.ctx.events.model_registered("fraud-model", "7", {"stage": "canary"}, {"auc": "0.9"})
        assert sink.wait_for(lambda r: len(r) == 1)
        headers, body = sink.received[0]
        assert headers["aeg-event-type"] == "Notification"
        [event] = body
        assert event["topic"] == s.ctx.identity.workspace_id
        assert event["subject"] == "models/fraud-model:7"
        assert event["eventType"] == "Microsoft.MachineLearningServices.ModelRegistered"
        assert event["data"] == {
            "ModelName": "fraud-model",
            "ModelVersion": "7",
            "ModelTags": {"stage": "canary"},
            "ModelProperties": {"auc": "0.9"},
        }
        assert event["metadataVersion"] == "1"
        assert event["id"] and event["eventTime"].endswith("Z")


def test_subject_prefix_filter_skips_other_models(tmp_path: Path) -> None:
    """A model outside the subject prefix is not delivered."""
    with (
        webhook_sink() as sink,
        addon_server(tmp_path, ("emulator.eventgrid",), extras=EXTRAS) as s,
    ):
        admin(s, "POST", "subscriptions", subscription(sink.url))
        s.ctx.events.model_registered("churn-model", "1", {}, {})
        s.ctx.events.model_registered("Fraud-x", "2", {}, {})
        assert sink.wait_for(lambda r: len(r) == 1)
        time.sleep(0.3)
        assert [b[0]["subject"] for _, b in sink.received] == ["models/Fraud-x:2"]


def test_failed_delivery_is_retried_until_2xx(tmp_path: Path) -> None:
    """500 and 503 answers are retried with backoff; the count header goes up."""
    with (
        webhook_sink() as sink,
        addon_server(tmp_path, ("emulator.eventgrid",), extras=EXTRAS) as s,
    ):
        sink.statuses = [500, 503]
        admin(s, "POST", "subscriptions", subscription(sink.url))
        s.ctx.events.model_registered("fraud-model", "8", {}, {})
        assert sink.wait_for(lambda r: len(r) == 3)
        assert [h["aeg-delivery-count"] for h, _ in sink.received] == ["0", "1", "2"]
        assert len({b[0]["id"] for _, b in sink.received}) == 1
        status, state = admin(s, "GET", "subscriptions/autocanary")
        assert status == 200
        assert state["deliveries"][0]["delivered"] is True


def test_max_delivery_attempts_bounds_retries(tmp_path: Path) -> None:
    """With maxDeliveryAttempts 2 an always-failing webhook is called twice."""
    with (
        webhook_sink() as sink,
        addon_server(tmp_path, ("emulator.eventgrid",), extras=EXTRAS) as s,
    ):
        sink.statuses = [500] * 10
        admin(
            s,
            "POST",
            "subscriptions",
            subscription(sink.url, retryPolicy={"maxDeliveryAttempts": 2}),
        )
        s.ctx.events.model_registered("fraud-model", "9", {}, {})
        assert sink.wait_for(lambda r: len(r) == 2)
        time.sleep(0.5)
        assert len(sink.received) == 2


def test_deliver_twice_sends_the_same_event_id_twice(tmp_path: Path) -> None:
    """deliverTwice repeats each event with the same id (idempotency tests)."""
    with (
        webhook_sink() as sink,
        addon_server(tmp_path, ("emulator.eventgrid",), extras=EXTRAS) as s,
    ):
        admin(s, "POST", "subscriptions", subscription(sink.url, deliverTwice=True))
        s.ctx.events.model_registered("fraud-model", "10", {}, {})
        assert sink.wait_for(lambda r: len(r) == 2)
        ids = [b[0]["id"] for _, b in sink.received]
        assert ids[0] == ids[1]


def test_admin_api_validates_and_manages_subscriptions(tmp_path: Path) -> None:
    """Bad subscriptions are 400, duplicates 409; delete then 404."""
    with addon_server(tmp_path, ("emulator.eventgrid",), extras=EXTRAS) as s:
        url = "http://127.0.0.1:9/hook"
        assert admin(s, "POST", "subscriptions", subscription("not a url"))[0] == 400
        bad_retry = subscription(url, retryPolicy={"maxDeliveryAttempts": 0})
        assert admin(s, "POST", "subscriptions", bad_retry)[0] == 400
        assert admin(s, "POST", "subscriptions", subscription(url))[0] == 201
        assert admin(s, "POST", "subscriptions", subscription(url))[0] == 409
        assert [x["name"] for x in admin(s, "GET", "subscriptions")[1]["value"]] == ["autocanary"]
        assert admin(s, "DELETE", "subscriptions/autocanary")[0] == 204
        assert admin(s, "DELETE", "subscriptions/autocanary")[0] == 404
