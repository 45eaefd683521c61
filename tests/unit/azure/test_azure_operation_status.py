"""Azure's error for a deployment's last operation (shared/azure/operation_status.py): the
status URL the deployment names, read through the workspace's ARM client on its own host only,
and ARM's operation status body."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from shared.azure.operation_status import (
    ASYNC_URI_PROPERTY,
    operation_error,
    operation_uri,
    read_operation_error,
)
from shared.observation import OperationError

ARM = "https://management.azure.com"
URI = (
    f"{ARM}/subscriptions/s/providers/Microsoft.MachineLearningServices/locations/eastus/"
    "mfeOperationsStatus/odidp:a:b?api-version=2023-04-01-preview"
)


class _Response:
    def __init__(self, status: int, body: Any) -> None:
        self.status_code = status
        self._body = body

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError(f"HTTP {self.status_code}")

    def json(self) -> Any:
        return self._body


class _Client:
    def __init__(self, answer: _Response, base_url: str = ARM) -> None:
        self._config = SimpleNamespace(base_url=base_url)
        self.sent: list[str] = []
        self._answer = answer

    def send_request(self, request: Any) -> _Response:
        self.sent.append(f"{request.method} {request.url}")
        return self._answer


def _rest(uri: str | None) -> Any:
    props = {} if uri is None else {ASYNC_URI_PROPERTY: uri, "owner": "risk"}
    return SimpleNamespace(properties=SimpleNamespace(properties=props))


def _read(client: _Client, uri: str | None) -> OperationError | None:
    ml = SimpleNamespace(_service_client_04_2023_preview=client)
    return read_operation_error(ml, _rest(uri), lambda fn, what: fn(), "read")


FAILED = {
    "status": "Failed",
    "error": {
        "code": "OutOfQuota",
        "message": "Not enough quota available for Standard_DS3_v2",
        "details": [{"code": "QuotaExceeded", "message": "..."}, {"message": "no code"}],
    },
}


def test_a_failed_operations_error_is_its_code_message_and_detail_codes() -> None:
    client = _Client(_Response(200, FAILED))
    error = _read(client, URI)
    assert error == OperationError(
        "OutOfQuota", "Not enough quota available for Standard_DS3_v2", ("QuotaExceeded",)
    )
    assert client.sent == [f"GET {URI}"]


@pytest.mark.parametrize(
    "body",
    [
        {"status": "Succeeded"},
        {"status": "InProgress"},
        {"status": "Failed"},  # no error object: Azure does not say
        {"status": "Failed", "error": {"message": "no code"}},
        ["not", "an", "object"],
        None,
    ],
)
def test_an_operation_that_did_not_end_badly_or_names_no_code_has_no_error(body: Any) -> None:
    assert operation_error(body) is None


def test_a_canceled_operation_has_its_error() -> None:
    body = {"status": "Canceled", "error": {"code": "OperationCanceled", "message": "m"}}
    assert operation_error(body) == OperationError("OperationCanceled", "m")


def test_a_deployment_naming_no_operation_sends_nothing() -> None:
    client = _Client(_Response(200, FAILED))
    assert _read(client, None) is None
    assert client.sent == []


@pytest.mark.parametrize(
    "uri",
    [
        URI.replace("management.azure.com", "evil.example"),
        URI.replace("https://", "http://"),
        URI.replace("management.azure.com", "management.azure.com:8443"),
        "/subscriptions/s/providers/x/mfeOperationsStatus/a",
        # the ARM host, but no operation status: never read with the app's identity
        f"{ARM}/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/v",
        f"{ARM}/providers/Microsoft.MachineLearningServices/mfeOperationsStatus/a",
    ],
)
def test_an_operation_url_on_another_host_is_never_sent_the_token(uri: str) -> None:
    client = _Client(_Response(200, FAILED))
    assert _read(client, uri) is None
    assert client.sent == []


def test_an_operation_status_azure_no_longer_keeps_has_no_error() -> None:
    assert _read(_Client(_Response(404, {"error": {"code": "NotFound"}})), URI) is None


def test_a_refused_status_read_is_an_error_for_the_retry_loop() -> None:
    with pytest.raises(RuntimeError, match="HTTP 503"):
        _read(_Client(_Response(503, {})), URI)


def test_the_uri_is_read_from_the_deployments_free_form_properties() -> None:
    assert operation_uri(_rest(URI)) == URI
    assert operation_uri(_rest(None)) is None
    assert operation_uri(SimpleNamespace(properties=None)) is None
