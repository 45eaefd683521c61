"""devhost's Event Grid webhook for the sample app: handshake, delivery, refusals, unsubscribe."""

from __future__ import annotations

import json
import uuid

import pytest
from devhost_harness import DevhostProcess, wait_for
from sample_host import KEY, event, events_with, post_events, records

pytestmark = pytest.mark.integration


# --------------------------------------------------------------------------- Event Grid
def test_event_grid_subscription_validation_handshake(host: DevhostProcess) -> None:
    """aeg-event-type SubscriptionValidation answers {"validationResponse": code}."""
    body = [
        {
            "id": "v1",
            "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
            "subject": "",
            "data": {"validationCode": "ABC-123", "validationUrl": "https://example.invalid"},
            "dataVersion": "2",
        }
    ]
    reply = host.request(
        "POST",
        f"/runtime/webhooks/EventGrid?functionName=on_event&code={KEY}",
        body=json.dumps(body),
        headers={"aeg-event-type": "SubscriptionValidation"},
    )
    assert reply.status == 200 and reply.json() == {"validationResponse": "ABC-123"}


def test_event_grid_notification_invokes_once_per_event(host: DevhostProcess) -> None:
    """An array of two events invokes the function twice, with the event fields."""
    a, b = f"a-{uuid.uuid4()}", f"b-{uuid.uuid4()}"
    reply = post_events(host, [event(a), event(b, subject="models/m:2")])
    assert reply.status == 200
    got = wait_for(lambda: events_with(host, a) and events_with(host, b))
    assert got
    first = events_with(host, a)[0]
    assert first["kind"] == "eventgrid"
    assert first["type"] == "Microsoft.MachineLearningServices.ModelRegistered"
    assert first["subject"] == "models/m:1"
    assert first["data"] == {"ModelName": "m", "ModelVersion": "1"}
    assert first["time"].startswith("2026-01-02T03:04:05")


def test_event_grid_single_object_body_is_accepted(host: DevhostProcess) -> None:
    """One event object (not in an array) is delivered too."""
    one = f"one-{uuid.uuid4()}"
    assert post_events(host, event(one)).status == 200
    assert len(events_with(host, one)) == 1


def test_event_grid_duplicates_are_all_delivered(host: DevhostProcess) -> None:
    """At-least-once: the same event twice in a batch and again in a second POST reaches
    the function three times (deduplication is the app's job, as in Azure)."""
    dup = f"dup-{uuid.uuid4()}"
    assert post_events(host, [event(dup), event(dup)]).status == 200
    assert post_events(host, [event(dup)]).status == 200
    assert len(events_with(host, dup)) == 3


def test_event_grid_cloud_event_schema(host: DevhostProcess) -> None:
    """CloudEvents 1.0 (specversion) events are delivered as func.CloudEvent."""
    ce = f"ce-{uuid.uuid4()}"
    body = {
        "specversion": "1.0",
        "id": ce,
        "source": "/subscriptions/s/workspaces/ws",
        "type": "Microsoft.MachineLearningServices.ModelRegistered",
        "time": "2026-01-02T03:04:05Z",
        "data": {"ModelName": "m"},
    }
    assert post_events(host, [body]).status == 200
    seen = events_with(host, ce)
    assert seen and seen[0]["kind"] == "cloud" and seen[0]["data"] == {"ModelName": "m"}


def test_event_grid_failure_is_500_and_others_still_run(host: DevhostProcess) -> None:
    """One raising event makes the answer 500 (Event Grid retries); the rest ran."""
    ok, bad = f"ok-{uuid.uuid4()}", f"bad-{uuid.uuid4()}"
    reply = post_events(host, [event(ok), event(bad, subject="fail")])
    assert reply.status == 500
    assert b"Traceback" not in reply.body
    assert len(events_with(host, ok)) == 1 and len(events_with(host, bad)) == 1


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "[1, 2]",
        '"a string"',
        json.dumps([{"id": "x", "subject": "s"}]),
    ],
    ids=["invalid-json", "not-objects", "scalar", "missing-eventType"],
)
def test_event_grid_malformed_body_is_400_and_invokes_nothing(
    host: DevhostProcess, body: str
) -> None:
    """A malformed Notification body is refused with 400 before any invocation."""
    before = len(records(host, "on_event"))
    assert post_events(host, body).status == 400
    assert len(records(host, "on_event")) == before


def test_event_grid_malformed_batch_invokes_none_of_it(host: DevhostProcess) -> None:
    """A batch with one bad event is refused whole: its good event is not invoked."""
    good = f"good-{uuid.uuid4()}"
    assert post_events(host, [event(good), {"id": "no-type"}]).status == 400
    assert events_with(host, good) == []


def test_event_grid_unknown_function_is_404(host: DevhostProcess) -> None:
    """functionName that is not an Event Grid function: 404."""
    assert post_events(host, [event("x")], function="nope").status == 404
    assert post_events(host, [event("x")], function="echo").status == 404


def test_event_grid_needs_the_key(host: DevhostProcess) -> None:
    """The webhook needs the key (code or x-functions-key)."""
    assert post_events(host, [event("x")], key=None).status == 401
    reply = host.request(
        "POST",
        "/runtime/webhooks/EventGrid?functionName=on_event",
        body=json.dumps([event(f"h-{uuid.uuid4()}")]),
        headers={"aeg-event-type": "Notification", "x-functions-key": KEY},
    )
    assert reply.status == 200


def test_event_grid_without_event_type_header_is_400(host: DevhostProcess) -> None:
    """No aeg-event-type header: 400, as the extension answers."""
    reply = host.request(
        "POST",
        f"/runtime/webhooks/EventGrid?functionName=on_event&code={KEY}",
        body=json.dumps([event("x")]),
    )
    assert reply.status == 400


def test_event_grid_unsubscribe_is_accepted(host: DevhostProcess) -> None:
    """aeg-event-type Unsubscribe answers 202 and invokes nothing, as the extension does."""
    before = len(records(host, "on_event"))
    reply = host.request(
        "POST",
        f"/runtime/webhooks/EventGrid?functionName=on_event&code={KEY}",
        body="[]",
        headers={"aeg-event-type": "Unsubscribe"},
    )
    assert reply.status == 202
    assert len(records(host, "on_event")) == before
