"""Event Grid subscriptions: ModelRegistered delivery, filters, retries, deliver-twice,
dead-lettering (https://learn.microsoft.com/azure/event-grid/delivery-and-retry)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from addon_harness import Server, addon_server, admin_call
from webhook_sink import webhook_sink

pytestmark = pytest.mark.integration

# Event Grid's schedule (10 s, 30 s, 1 min, ...) a hundred times faster.
SCALE = 0.01
EXTRAS = {"eventgrid_retry_time_scale": SCALE}
DEAD_LETTER = {
    "endpointType": "StorageBlob",
    "properties": {
        "resourceId": "/subscriptions/0/resourceGroups/rg/providers/Microsoft.Storage/"
        "storageAccounts/st",
        "blobContainerName": "deadletter",
    },
}


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
        # camelCase: the schema of azure-rest-api-specs specification/eventgrid/data-plane/
        # Microsoft.MachineLearningServices/stable/2018-01-01/MachineLearningServices.json
        assert event["data"] == {
            "modelName": "fraud-model",
            "modelVersion": "7",
            "modelTags": {"stage": "canary"},
            "modelProperties": {"auc": "0.9"},
        }
        assert event["metadataVersion"] == "1"
        assert event["id"] and event["eventTime"].endswith("Z")


def test_pascal_casing_and_numeric_version_options_send_microsofts_sample_shape(
    tmp_path: Path,
) -> None:
    """eventgrid_data_casing=pascal with a numeric version sends {ModelName, ModelVersion: 7}."""
    extras = {**EXTRAS, "eventgrid_data_casing": "pascal", "eventgrid_model_version_as_number": 1}
    with (
        webhook_sink() as sink,
        addon_server(tmp_path, ("emulator.eventgrid",), extras=extras) as s,
    ):
        admin(s, "POST", "subscriptions", subscription(sink.url))
        s.ctx.events.model_registered("fraud-model", "7", {"k": "v"}, {})
        assert sink.wait_for(lambda r: len(r) == 1)
        assert sink.received[0][1][0]["data"] == {
            "ModelName": "fraud-model",
            "ModelVersion": 7,
            "ModelTags": {"k": "v"},
            "ModelProperties": {},
        }


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


def test_retries_follow_event_grids_schedule(tmp_path: Path) -> None:
    """Failed attempts are retried after 10 s, 30 s, then 1 min (scaled), not sooner."""
    with (
        webhook_sink() as sink,
        addon_server(tmp_path, ("emulator.eventgrid",), extras=EXTRAS) as s,
    ):
        sink.statuses = [500, 500, 500]
        admin(s, "POST", "subscriptions", subscription(sink.url))
        s.ctx.events.model_registered("fraud-model", "11", {}, {})
        assert sink.wait_for(lambda r: len(r) == 4)
        gaps = [b - a for a, b in zip(sink.times, sink.times[1:], strict=False)]
        for gap, wanted in zip(gaps, (10.0, 30.0, 60.0), strict=True):
            assert gap >= wanted * SCALE * 0.9


@pytest.mark.parametrize("status", [400, 401, 403, 413])
def test_client_error_answers_are_not_retried(tmp_path: Path, status: int) -> None:
    """400, 401, 403 and 413 from a webhook end the delivery after one attempt."""
    with (
        webhook_sink() as sink,
        addon_server(tmp_path, ("emulator.eventgrid",), extras=EXTRAS) as s,
    ):
        sink.statuses = [status, 500, 500]
        admin(s, "POST", "subscriptions", subscription(sink.url))
        s.ctx.events.model_registered("fraud-model", "12", {}, {})
        assert sink.wait_for(lambda r: len(r) == 1)
        time.sleep(30.0 * SCALE + 0.3)
        assert len(sink.received) == 1
        assert admin(s, "GET", "subscriptions/autocanary")[1]["deliveries"][0]["delivered"] is False


def test_time_to_live_ends_retries_before_max_attempts(tmp_path: Path) -> None:
    """A 1-minute time to live allows attempts at 0, 10 s and 40 s only (next one is at 100 s)."""
    with (
        webhook_sink() as sink,
        addon_server(tmp_path, ("emulator.eventgrid",), extras=EXTRAS) as s,
    ):
        sink.statuses = [500] * 10
        policy = {"maxDeliveryAttempts": 30, "eventTimeToLiveInMinutes": 1}
        sub = subscription(sink.url, retryPolicy=policy, deadLetterDestination=DEAD_LETTER)
        admin(s, "POST", "subscriptions", sub)
        s.ctx.events.model_registered("fraud-model", "13", {}, {})
        assert sink.wait_for(lambda r: len(r) == 3)
        deadline = time.monotonic() + 10
        blobs: list[Path] = []
        while time.monotonic() < deadline and not blobs:
            blobs = list((tmp_path / "deadletter").rglob("*.json"))
            time.sleep(0.05)
        [dead] = json.loads(blobs[0].read_text())
        assert dead["deadLetterReason"] == "TimeToLiveExceeded"
        assert dead["deliveryAttempts"] == 3
        assert len(sink.received) == 3


def test_undeliverable_event_is_dead_lettered_in_azures_schema(tmp_path: Path) -> None:
    """After the last attempt the event goes to the dead-letter container with its reason."""
    with (
        webhook_sink() as sink,
        addon_server(tmp_path, ("emulator.eventgrid",), extras=EXTRAS) as s,
    ):
        sink.statuses = [503] * 10
        sub = subscription(
            sink.url, retryPolicy={"maxDeliveryAttempts": 2}, deadLetterDestination=DEAD_LETTER
        )
        assert admin(s, "POST", "subscriptions", sub)[0] == 201
        s.ctx.events.model_registered("fraud-model", "14", {}, {})
        root = tmp_path / "deadletter" / "deadletter"
        deadline = time.monotonic() + 10
        blobs: list[Path] = []
        while time.monotonic() < deadline and not blobs:
            blobs = list(root.rglob("*.json"))
            time.sleep(0.05)
        [blob] = blobs
        assert blob.relative_to(root).parts[:2] == ("WS-LOCAL", "AUTOCANARY")
        [dead] = json.loads(blob.read_text())
        assert dead["subject"] == "models/fraud-model:14"
        assert dead["deadLetterReason"] == "MaxDeliveryAttemptsExceeded"
        assert dead["deliveryAttempts"] == 2
        assert dead["lastHttpStatusCode"] == 503
        assert dead["lastDeliveryOutcome"] == "ServiceUnavailable"
        assert dead["publishTime"].endswith("Z") and dead["lastDeliveryAttemptTime"].endswith("Z")


def test_bad_request_is_dead_lettered_at_once_without_retry(tmp_path: Path) -> None:
    """A 400 answer is dead-lettered as UndeliverableDueToHttpBadRequest after one attempt."""
    with (
        webhook_sink() as sink,
        addon_server(tmp_path, ("emulator.eventgrid",), extras=EXTRAS) as s,
    ):
        sink.statuses = [400]
        admin(s, "POST", "subscriptions", subscription(sink.url, deadLetterDestination=DEAD_LETTER))
        s.ctx.events.model_registered("fraud-model", "15", {}, {})
        deadline = time.monotonic() + 10
        blobs: list[Path] = []
        while time.monotonic() < deadline and not blobs:
            blobs = list((tmp_path / "deadletter").rglob("*.json"))
            time.sleep(0.05)
        [dead] = json.loads(blobs[0].read_text())
        assert dead["deadLetterReason"] == "UndeliverableDueToHttpBadRequest"
        assert dead["deliveryAttempts"] == 1
        assert len(sink.received) == 1


def test_failed_webhook_url_key_is_redacted_in_logs_and_admin_view(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The code= key of a webhook URL never reaches the log or the admin API."""
    with (
        webhook_sink() as sink,
        addon_server(tmp_path, ("emulator.eventgrid",), extras=EXTRAS) as s,
    ):
        sink.statuses = [400]
        url = f"{sink.url}?functionName=f&code=s3cr3t-key"
        with caplog.at_level(logging.WARNING, logger="emulator.eventgrid"):
            admin(s, "POST", "subscriptions", subscription(url))
            s.ctx.events.model_registered("fraud-model", "16", {}, {})
            assert sink.wait_for(lambda r: len(r) == 1)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and "not delivered" not in caplog.text:
                time.sleep(0.05)
        assert "not delivered" in caplog.text
        assert "s3cr3t-key" not in caplog.text
        view = admin(s, "GET", "subscriptions/autocanary")[1]
        assert "s3cr3t-key" not in json.dumps(view)
        assert "code=REDACTED" in view["endpointUrl"]


def test_arm_shaped_subscription_is_accepted(tmp_path: Path) -> None:
    """The ARM body {name, properties: {destination: {endpointType: WebHook, ...}}} works."""
    with (
        webhook_sink() as sink,
        addon_server(tmp_path, ("emulator.eventgrid",), extras=EXTRAS) as s,
    ):
        body = {
            "name": "arm-style",
            "properties": {
                "destination": {"endpointType": "WebHook", "properties": {"endpointUrl": sink.url}},
                "filter": {"subjectBeginsWith": "models/fraud-"},
                "retryPolicy": {"maxDeliveryAttempts": 3, "eventTimeToLiveInMinutes": 60},
            },
        }
        assert admin(s, "POST", "subscriptions", body)[0] == 201
        s.ctx.events.model_registered("fraud-model", "17", {}, {})
        assert sink.wait_for(lambda r: len(r) == 1)


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
        time.sleep(30.0 * SCALE + 0.3)
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
