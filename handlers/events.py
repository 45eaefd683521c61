"""Event Grid trigger: a model version was registered in the workspace."""

from __future__ import annotations

import logging

import azure.functions as func

from shared import bootstrap, inputs
from shared.errors import InvalidInput

bp = func.Blueprint()
log = logging.getLogger("autocanary")


@bp.function_name("on_model_registered")
@bp.event_grid_trigger(arg_name="event")
def on_model_registered(event: func.EventGridEvent | func.CloudEvent) -> None:
    """Record the rollout for a registered model, exactly once per event id.

    Malformed events are logged and dropped (retrying cannot fix them); transient failures
    raise, so Event Grid delivers the event again.
    """
    # The Event Grid schema arrives as func.EventGridEvent; the CloudEvents 1.0 schema as
    # func.CloudEvent (type/time instead of event_type/event_time).
    if isinstance(event, func.CloudEvent):
        event_type, event_time = event.type, event.time
    else:
        event_type, event_time = event.event_type, event.event_time
    try:
        model = inputs.model_registered(
            event_id=event.id,
            event_type=event_type,
            subject=event.subject,
            data=event.get_json(),
            event_time=event_time,
        )
    except InvalidInput as exc:
        log.error("dropping malformed event %s: %s", event.id, exc.message)
        return
    if model is None:
        log.info("ignoring event %s of type %s", event.id, event_type)
        return
    result = bootstrap.engine().on_model_registered(model)
    log.info("event %s (%s): %s", event.id, model.asset_id, result.to_dict())
