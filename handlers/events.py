"""Event Grid trigger: a model version was registered in the workspace."""

from __future__ import annotations

import logging
from typing import Any

import azure.functions as func

from shared import bootstrap, inputs
from shared.errors import InvalidInput

bp = func.Blueprint()
log = logging.getLogger("autocanary")


@bp.function_name("on_model_registered")
@bp.event_grid_trigger(arg_name="event")
def on_model_registered(event: func.EventGridEvent) -> None:
    """Record the rollout for a registered model, exactly once per event id.

    Malformed events (refused as they are decoded: fields, sizes, characters) are logged and
    dropped: retrying cannot fix them, and an exception would make Event Grid deliver them
    again for 24 hours. Whatever fails after that raises, so Event Grid delivers the event
    again and, after its retries, dead-letters it (learn.microsoft.com/azure/event-grid/
    delivery-and-retry): transient failures, and an InvalidInput too, which past decoding is
    the app's own doing (a policy that does not load, a stored row this version refuses, a row
    that outgrew the store), fixed by its owners, never by dropping the registration.
    """
    received = _fields(event)
    topic = received.pop("topic")
    try:
        model = inputs.model_registered(**received)
    except InvalidInput as exc:
        log.error(
            "dropping malformed event %s: %s", inputs.for_log(received["event_id"]), exc.message
        )
        return
    if model is None:
        log.info(
            "ignoring event %s of type %s",
            inputs.for_log(received["event_id"]),
            inputs.for_log(received["event_type"]),
        )
        return
    try:
        result = bootstrap.engine().on_model_registered(
            model, topic if isinstance(topic, str) else None
        )
    except InvalidInput as exc:
        # not the event's doing (it was checked as it was decoded): raised for redelivery
        log.error(
            "event %s not recorded, kept for redelivery: %s",
            inputs.for_log(model.event_id),
            exc.message,
        )
        raise
    log.info(
        "event %s (%s): %s",
        inputs.for_log(model.event_id),
        inputs.for_log(model.asset_id),
        result.to_dict(),
    )


def _fields(event: object) -> dict[str, Any]:
    """The event's fields, whichever schema it was delivered in.

    The parameter must be annotated with one plain type: the Python worker refuses a union
    ("binding event has invalid non-type annotation"; see devhost.worker_check). The worker
    decodes the trigger with azure-functions' EventGridEventInConverter.decode, which does not
    look at the annotation: a body with ``specversion`` (CloudEvents 1.0 schema) arrives as a
    ``func.CloudEvent`` (type/time), any other as a ``func.EventGridEvent`` (event_type/
    event_time) (azure-functions >= 1.25, azure/functions/eventgrid.py; the worker calls
    ``binding.decode(datum, trigger_metadata=...)`` without the annotation,
    azure_functions_runtime/bindings/meta.py from_incoming_proto).
    """
    if isinstance(event, func.CloudEvent):
        event_type, event_time, topic = event.type, event.time, event.source
    elif isinstance(event, func.EventGridEvent):
        event_type, event_time, topic = event.event_type, event.event_time, event.topic
    else:
        raise TypeError(f"unexpected Event Grid trigger value {type(event).__name__}")
    return {
        "event_id": event.id,
        "event_type": event_type,
        "subject": event.subject,
        "data": event.get_json(),
        "event_time": event_time,
        "topic": topic,
    }
