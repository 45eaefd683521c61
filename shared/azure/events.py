"""EventPublisher on an Event Grid custom topic: lifecycle events as CloudEvents 1.0.

``build_publisher`` gives an :class:`EventGridPublisher` when
``AUTOCANARY_EVENTGRID_TOPIC_ENDPOINT`` is set (authenticated with the topic key when
``AUTOCANARY_EVENTGRID_TOPIC_KEY`` is set, else with the app's identity, which needs the
EventGrid Data Sender role), otherwise a :class:`NullPublisher` that only logs.

Each event is ``CloudEvent(source="/autocanary/<workspace>", type=event_type, subject=subject,
data=data)`` (azure.core.messaging.CloudEvent) sent with ``EventGridPublisherClient.send``
(Azure/azure-sdk-for-python sdk/eventgrid/azure-eventgrid/azure/eventgrid/_patch.py and
_legacy/_publisher_client.py: a basic topic takes CloudEvents and answers 200). For basic
topics the client does not pass constructor options to its pipeline, so the transport options
(CA bundle, timeouts, SDK retries off) are given on each ``send``. Publishing is best effort
for the engine (a failure is logged by the caller); it is retried here like every Azure call.
azure.eventgrid is imported on first publish.

Each event's ``data`` carries the decision's cause in words (``data.cause``) and its numbers
(``data.why``: reason, phase, actor, the metric, canary and baseline values with their counts,
the threshold, since when; the minutes used stay in the API), put there by the machine
(shared/machine/records.py ``_explained``, from shared/explain.py), beside ``rollout_id``,
``endpoint``, ``model``, ``version``, ``canary``, ``baseline`` and the event's own keys
(``stage``, ``weight``, ``reason``, ``outcome``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.azure import retry

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from shared.ports import EventPublisher
    from shared.settings import Settings

log = logging.getLogger("autocanary.events")

# Publishing must never hold a reconcile long: fewer, shorter retries than ARM calls.
EVENT_RETRY = retry.RetryPolicy(attempts=3, base_delay=0.25, max_delay=1.0, budget=2.0)


# azure-eventgrid (4.22, _legacy/_publisher_client.py ``send``) forwards a send's keywords to its
# model serializer as well as to the pipeline, which warns of each transport option on every
# event ("retry_total is not a known attribute of class ... CloudEvent and will be ignored")
SERIALIZER_LOGGER = "azure.eventgrid._legacy._generated._serialization"
_UNKNOWN = "is not a known attribute of class"
_SEND_KEYS = frozenset({*retry.SDK_OPTIONS, "connection_verify"})


class _TransportOptionWarnings(logging.Filter):
    """Drops the serializer's warning about the transport options given on each send (they
    do reach the transport), and only that one."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (_UNKNOWN in message and message.split(" ", 1)[0] in _SEND_KEYS)


def quiet_send_options() -> None:
    """Install the filter once (on first publish: no logging changes at import)."""
    logger = logging.getLogger(SERIALIZER_LOGGER)
    if not any(isinstance(f, _TransportOptionWarnings) for f in logger.filters):
        logger.addFilter(_TransportOptionWarnings())


class NullPublisher:
    """Publishes nothing; logs each event at debug level (no topic configured)."""

    def publish(
        self,
        event_type: str,
        subject: str,
        data: Mapping[str, Any],
        event_id: str | None = None,
        time: datetime | None = None,
    ) -> None:
        log.debug("event %s %s (no Event Grid topic configured): %s", event_type, subject, data)


class EventGridPublisher:
    def __init__(
        self,
        endpoint: str,
        credential: Any,
        source: str,
        *,
        ca_bundle: str | None = None,
        retry_policy: retry.RetryPolicy = EVENT_RETRY,
        client_factory: Callable[[], Any] | None = None,
    ) -> None:
        self._endpoint = endpoint
        self._credential = credential
        self.source = source
        self._send_options: dict[str, Any] = dict(retry.SDK_OPTIONS)
        if ca_bundle:
            self._send_options["connection_verify"] = ca_bundle
        self._retry = retry_policy
        self._client = retry.LazyClient(client_factory or self._build_client)

    def publish(
        self,
        event_type: str,
        subject: str,
        data: Mapping[str, Any],
        event_id: str | None = None,
        time: datetime | None = None,
    ) -> None:
        from azure.core.messaging import CloudEvent

        # CloudEvent(id=...) is azure-core's keyword (azure/core/messaging.py: ":keyword id:
        # - An identifier for the event. ... If not provided, a random UUID will be generated");
        # the outbox's stable id makes a resend the same event.
        extra: dict[str, Any] = {"id": event_id} if event_id else {}
        if time is not None:
            # CloudEvents 1.0 "time": when the occurrence happened; azure-core stamps
            # datetime.now(TZ_UTC) when none is given (azure/core/messaging.py), so an event
            # sent after an outage, or again after a crash, would carry the send's time
            extra["time"] = time
        event = CloudEvent(
            source=self.source, type=event_type, subject=subject, data=dict(data), **extra
        )
        client = self._publisher_client()
        retry.call(
            lambda: client.send(event, **self._send_options),
            f"publish {event_type} {subject}",
            policy=self._retry,
        )

    def _publisher_client(self) -> Any:
        return self._client.get()

    def _build_client(self) -> Any:
        from azure.eventgrid import EventGridPublisherClient

        quiet_send_options()

        return EventGridPublisherClient(self._endpoint, self._credential)


def build_publisher(settings: Settings, credential: TokenCredential) -> EventPublisher:
    """The publisher for these settings (see the module docstring)."""
    if not settings.eventgrid_endpoint:
        return NullPublisher()
    topic_credential: Any = credential
    if settings.eventgrid_key:
        from azure.core.credentials import AzureKeyCredential

        topic_credential = AzureKeyCredential(settings.eventgrid_key)
    return EventGridPublisher(
        settings.eventgrid_endpoint,
        topic_credential,
        source=f"/autocanary/{settings.workspace}",
        ca_bundle=settings.ca_bundle,
    )
