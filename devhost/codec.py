"""What devhost translates between HTTP and the Python worker's types, as the Functions host
and the worker do: an HTTP function's result into a response (the worker's
HttpResponseConverter rules), a request into ``func.HttpRequest``, and an Event Grid delivery
into the events a trigger receives (the Event Grid extension's parsing and validation
handshake). Bad event bodies raise :class:`BadEvent` (the host answers 400)."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func
from aiohttp import web
from azure.functions import _abc as func_abc
from azure.functions import meta as func_meta
from azure.functions.eventgrid import EventGridEventInConverter
from multidict import CIMultiDict


class BadEvent(ValueError):
    """An Event Grid body that cannot be understood (answered with 400)."""


def encode_http_response(result: Any) -> web.Response:
    """What the worker's HttpResponseConverter accepts: HttpResponse or str.

    Anything else (None included) is a failed invocation in the worker too
    (azure/functions/http.py, HttpResponseConverter.encode raises NotImplementedError).
    """
    if isinstance(result, str):
        return web.Response(
            status=200, body=result.encode("utf-8"), content_type="text/plain", charset="utf-8"
        )
    if not isinstance(result, func_abc.HttpResponse):
        raise TypeError(
            f"an HTTP function must return func.HttpResponse or str, not {type(result).__name__}"
        )
    status = int(result.status_code)
    if not 100 <= status <= 599:
        raise ValueError(f"HTTP status {status} is out of range")
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in result.headers.items():
        if name.lower() not in ("content-length", "transfer-encoding"):
            headers.add(name, value)
    if "content-type" not in headers:
        mimetype = result.mimetype
        headers["Content-Type"] = (
            f"{mimetype}; charset={result.charset}" if mimetype.startswith("text/") else mimetype
        )
    body = result.get_body() or b""
    return web.Response(status=status, body=body, headers=headers)


def build_http_request(request: web.Request, body: bytes, route_params: dict[str, str]) -> Any:
    """The request as the host hands it to the Python worker (azure-functions-host
    ``GrpcMessageConversionExtensions.ToRpcHttp``): a repeated header or query parameter is
    its values joined by "," (``StringValues.ToString``); a query parameter whose value is
    empty is not passed at all (the worker does not ask for nullable dictionaries); the body
    only when the request declares a Content-Length above 0 (a chunked body is not read)."""
    headers = {name: ",".join(request.headers.getall(name)) for name in request.headers}
    params = {name: ",".join(request.query.getall(name)) for name in request.query}
    params = {name: value for name, value in params.items() if value}
    if not request.content_length:
        body = b""
    return func.HttpRequest(
        method=request.method,
        url=str(request.url),
        headers=headers,
        params=params,
        route_params=route_params,
        body=body,
    )


def parse_event_body(body: bytes) -> list[dict[str, Any]]:
    """A JSON array of events, or one event object; Event Grid or CloudEvents 1.0 schema."""
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        # ValueError: also integers past Python's digit limit; RecursionError: deep nesting
        raise BadEvent(f"body is not valid JSON: {str(exc)[:200]}") from exc
    events = document if isinstance(document, list) else [document]
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise BadEvent(f"event {index} is not a JSON object")
        if "specversion" in event:
            missing = [k for k in ("id", "source", "type") if not event.get(k)]
        else:
            missing = [k for k in ("id", "eventType", "subject") if not event.get(k)]
        if missing:
            raise BadEvent(f"event {index} lacks {', '.join(missing)}")
    return events


def to_function_event(event: dict[str, Any]) -> Any:
    """The object the worker passes: the library's own converter, so CloudEvents (with
    ``specversion``) become ``func.CloudEvent`` and the rest ``func.EventGridEvent``."""
    try:
        datum = func_meta.Datum(value=json.dumps(event), type="json")
        return EventGridEventInConverter.decode(datum, trigger_metadata={})
    except (ValueError, TypeError, RecursionError) as exc:
        raise BadEvent(f"event {event.get('id')!r}: {exc}") from exc


def validation_code(document: Any) -> str:
    """The ``validationCode`` of a SubscriptionValidation request (array or one object)."""
    event = document[0] if isinstance(document, list) and document else document
    if not isinstance(event, dict):
        raise BadEvent("validation request is not an event object or array")
    data = event.get("data")
    if isinstance(data, str):  # CloudEvents deliver it double-encoded
        try:
            data = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise BadEvent("validation event data is not JSON") from exc
    code = data.get("validationCode") if isinstance(data, dict) else None
    if not isinstance(code, str) or not code:
        raise BadEvent("validation event has no data.validationCode")
    return code
