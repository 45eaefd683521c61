"""Credential selection and the Event Grid publisher (no network)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.core.credentials import AzureKeyCredential
from azure.core.messaging import CloudEvent
from azure_test_helpers import http_error, settings

from shared.azure import retry
from shared.azure.credentials import StaticTokenCredential, build_credential
from shared.azure.events import (
    SERIALIZER_LOGGER,
    EventGridPublisher,
    NullPublisher,
    build_publisher,
    quiet_send_options,
)
from shared.errors import ConfigurationError, TransientUpstreamError


def test_local_credential_needs_an_arm_override() -> None:
    with pytest.raises(ConfigurationError):
        build_credential(settings(credential="local"))


def test_local_credential_gives_a_static_token_good_for_an_hour() -> None:
    cred = build_credential(settings(credential="local", arm_endpoint="https://127.0.0.1:1/"))
    assert isinstance(cred, StaticTokenCredential)
    token = cred.get_token("https://management.azure.com/.default")
    info = cred.get_token_info("https://management.azure.com/.default")
    assert token.token == info.token
    assert 3500 < token.expires_on - time.time() <= 3600
    assert 3500 < info.expires_on - time.time() <= 3600


def test_default_and_managed_identity_credentials() -> None:
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    assert isinstance(build_credential(settings()), DefaultAzureCredential)
    assert isinstance(build_credential(settings(client_id="abc")), DefaultAzureCredential)
    mi = build_credential(settings(credential="managed-identity", client_id="abc"))
    assert isinstance(mi, ManagedIdentityCredential)


def test_unknown_credential_kind_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        build_credential(settings(credential="password"))


class FakeEventGrid:
    def __init__(self, failures: list[Exception] | None = None) -> None:
        self.sent: list[tuple[CloudEvent, dict[str, Any]]] = []
        self.failures = failures or []

    def send(self, event: CloudEvent, **kw: Any) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((event, kw))


def test_without_a_topic_events_are_only_logged(caplog: pytest.LogCaptureFixture) -> None:
    publisher = build_publisher(settings(), object())  # type: ignore[arg-type]
    assert isinstance(publisher, NullPublisher)
    with caplog.at_level(logging.DEBUG, logger="autocanary.events"):
        publisher.publish("Autocanary.RolloutStarted", "endpoints/ep", {"a": 1})
    assert "Autocanary.RolloutStarted" in caplog.text


def test_topic_key_wins_over_the_identity() -> None:
    keyed = build_publisher(
        settings(
            eventgrid_endpoint="https://t.westeurope-1.eventgrid.azure.net/api/events",
            eventgrid_key="k",
        ),
        object(),  # type: ignore[arg-type]
    )
    assert isinstance(keyed, EventGridPublisher)
    assert isinstance(keyed._credential, AzureKeyCredential)
    identity = object()
    with_identity = build_publisher(
        settings(eventgrid_endpoint="https://t.westeurope-1.eventgrid.azure.net/api/events"),
        identity,  # type: ignore[arg-type]
    )
    assert isinstance(with_identity, EventGridPublisher)
    assert with_identity._credential is identity


def test_publish_sends_one_cloud_event_from_the_workspace() -> None:
    grid = FakeEventGrid()
    publisher = EventGridPublisher(
        "https://t/api/events",
        object(),
        "/autocanary/ws",
        ca_bundle="/ca.pem",
        client_factory=lambda: grid,
    )
    publisher.publish("Autocanary.RolloutPromoted", "endpoints/ep/rollouts/r1", {"stage": 2})
    [(event, kw)] = grid.sent
    assert (event.source, event.type, event.subject) == (
        "/autocanary/ws",
        "Autocanary.RolloutPromoted",
        "endpoints/ep/rollouts/r1",
    )
    assert event.data == {"stage": 2}
    assert kw["connection_verify"] == "/ca.pem"
    assert kw["retry_total"] == 0


def test_publish_retries_briefly_then_raises() -> None:
    fast = retry.RetryPolicy(attempts=2, base_delay=0.0, max_delay=0.0, budget=1.0)
    grid = FakeEventGrid([http_error(503)])
    publisher = EventGridPublisher(
        "https://t/api/events",
        object(),
        "/autocanary/ws",
        retry_policy=fast,
        client_factory=lambda: grid,
    )
    publisher.publish("T", "s", {})
    assert len(grid.sent) == 1
    grid.failures = [http_error(503)] * 2
    with pytest.raises(TransientUpstreamError):
        publisher.publish("T", "s", {})


def test_a_cloud_event_carries_its_decisions_time_not_the_sends() -> None:
    grid = FakeEventGrid()
    publisher = EventGridPublisher(
        "https://t/api/events", object(), "/autocanary/ws", client_factory=lambda: grid
    )
    decided = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    publisher.publish("T", "s", {}, event_id="r1:2:0", time=decided)
    [(event, _)] = grid.sent
    assert event.time == decided and event.id == "r1:2:0"


def test_the_serializers_warning_about_each_transport_option_is_dropped_and_only_it() -> None:
    """azure-eventgrid forwards a send's keywords to its model serializer too, which warned of
    retry_total, connection_timeout and read_timeout on every event."""
    quiet_send_options()
    quiet_send_options()  # once only
    logger = logging.getLogger(SERIALIZER_LOGGER)
    assert len(logger.filters) == 1

    def kept(message: str) -> bool:
        record = logger.makeRecord(logger.name, logging.WARNING, __file__, 1, message, (), None)
        return all(f.filter(record) for f in logger.filters)

    unknown = "is not a known attribute of class <class 'CloudEvent'> and will be ignored"
    assert not kept(f"retry_total {unknown}") and not kept(f"read_timeout {unknown}")
    assert kept(f"subject_x {unknown}")  # anything else still shows
    assert kept("Unable to deserialize to object")
