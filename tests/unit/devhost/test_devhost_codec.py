"""Encoding function results and decoding Event Grid bodies (no server)."""

from __future__ import annotations

import json

import azure.functions as func
import pytest

from devhost.codec import (
    BadEvent,
    encode_http_response,
    parse_event_body,
    to_function_event,
    validation_code,
)
from devhost.host import FunctionKey


def test_http_response_is_encoded_with_status_headers_and_body() -> None:
    """HttpResponse status, headers and body carry over; text mimetypes get the charset."""
    response = encode_http_response(
        func.HttpResponse("hé", status_code=202, headers={"X-A": "1"}, mimetype="text/csv")
    )
    assert response.status == 202
    assert response.headers["X-A"] == "1"
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.body == "hé".encode()


def test_non_text_mimetype_has_no_charset() -> None:
    """application/json is sent without a charset parameter, as the worker does."""
    response = encode_http_response(func.HttpResponse("{}", mimetype="application/json"))
    assert response.headers["Content-Type"] == "application/json"


def test_explicit_content_type_header_wins() -> None:
    """A Content-Type header set by the function is kept as is."""
    response = encode_http_response(
        func.HttpResponse("x", headers={"Content-Type": "application/problem+json"})
    )
    assert response.headers["Content-Type"] == "application/problem+json"


def test_string_result_is_text_plain() -> None:
    """A str return value is a 200 text/plain utf-8 response."""
    response = encode_http_response("hello")
    assert response.status == 200 and response.content_type == "text/plain"
    assert response.charset == "utf-8"


@pytest.mark.parametrize("result", [None, b"bytes", {"a": 1}])
def test_other_results_are_failures(result: object) -> None:
    """None, bytes or dicts cannot be encoded: TypeError (a failed invocation)."""
    with pytest.raises(TypeError):
        encode_http_response(result)


def test_event_array_and_single_object_are_accepted() -> None:
    """A JSON array of events or one event object both give a list."""
    one = {"id": "1", "eventType": "t", "subject": "s", "data": {}}
    assert parse_event_body(json.dumps([one, one]).encode()) == [one, one]
    assert parse_event_body(json.dumps(one).encode()) == [one]


@pytest.mark.parametrize(
    "body",
    [
        b"{nope",
        b"\xff\xfe",
        b"[1]",
        b"null",
        b'[{"id": "1", "subject": "s"}]',
        b'[{"specversion": "1.0", "id": "1", "type": "t"}]',
    ],
    ids=["json", "utf8", "scalar-item", "null", "no-eventType", "cloud-no-source"],
)
def test_malformed_event_bodies_raise(body: bytes) -> None:
    """Unparseable bodies or events missing required fields raise BadEvent."""
    with pytest.raises(BadEvent):
        parse_event_body(body)


def test_event_grid_schema_becomes_event_grid_event() -> None:
    """Event Grid schema events are func.EventGridEvent with every field mapped."""
    converted = to_function_event(
        {
            "id": "e1",
            "topic": "/t",
            "subject": "models/m:3",
            "eventType": "Microsoft.MachineLearningServices.ModelRegistered",
            "eventTime": "2026-01-02T03:04:05.123Z",
            "data": {"ModelVersion": 3},
            "dataVersion": "2",
        }
    )
    assert isinstance(converted, func.EventGridEvent)
    assert (converted.id, converted.topic, converted.subject) == ("e1", "/t", "models/m:3")
    assert converted.event_type == "Microsoft.MachineLearningServices.ModelRegistered"
    assert converted.get_json() == {"ModelVersion": 3}
    assert converted.data_version == "2"
    assert converted.event_time is not None and converted.event_time.year == 2026


def test_cloud_event_schema_becomes_cloud_event() -> None:
    """CloudEvents 1.0 events become func.CloudEvent, as the library's converter does."""
    converted = to_function_event(
        {"specversion": "1.0", "id": "c1", "source": "/s", "type": "T", "data": {"a": 1}}
    )
    assert isinstance(converted, func.CloudEvent)
    assert (converted.id, converted.type, converted.get_json()) == ("c1", "T", {"a": 1})


def test_validation_code_from_array_object_and_double_encoded_data() -> None:
    """The handshake code is found in an array, one object, or string-encoded data."""
    data = {"validationCode": "C1"}
    assert validation_code([{"data": data}]) == "C1"
    assert validation_code({"data": data}) == "C1"
    assert validation_code({"data": json.dumps(data)}) == "C1"


@pytest.mark.parametrize("document", [[], [{}], [{"data": {}}], "x", [{"data": "{bad"}]])
def test_validation_without_code_raises(document: object) -> None:
    """A validation request without data.validationCode raises BadEvent."""
    with pytest.raises(BadEvent):
        validation_code(document)


def test_key_from_settings_or_generated() -> None:
    """DEVHOST_FUNCTION_KEY is used when set; otherwise a long random key is generated."""
    assert FunctionKey.from_environment({"DEVHOST_FUNCTION_KEY": "k"}) == FunctionKey(
        "k", "local settings"
    )
    generated = FunctionKey.from_environment({})
    assert generated.source == "generated" and len(generated.value) >= 32
    assert generated != FunctionKey.from_environment({})


def test_a_request_reaches_the_function_as_the_host_passes_it() -> None:
    """As azure-functions-host's ToRpcHttp: repeated values joined by ',', an empty query value
    not passed at all (so '?limt=' is not seen), and no body without a Content-Length."""
    from aiohttp.test_utils import make_mocked_request
    from multidict import CIMultiDict

    from devhost.codec import build_http_request

    headers = CIMultiDict([("X-Tag", "a"), ("X-Tag", "b"), ("Content-Length", "2")])
    req = make_mocked_request("GET", "/api/rollouts?limt=&limit=5&e=x&e=y", headers=headers)
    http = build_http_request(req, b"{}", {})
    assert dict(http.params) == {"limit": "5", "e": "x,y"}
    assert http.headers["x-tag"] == "a,b"
    assert http.get_body() == b"{}"
    chunked = make_mocked_request(
        "POST", "/api/alerts", headers=CIMultiDict([("Transfer-Encoding", "chunked")])
    )
    assert build_http_request(chunked, b'{"a": 1}', {}).get_body() == b""
