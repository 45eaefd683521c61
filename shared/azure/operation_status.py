"""Azure's error for a deployment's last long-running operation, read after the fact.

A deployment's GET carries its ``provisioningState`` but no error (``OnlineDeployment`` in
Azure/azure-rest-api-specs specification/machinelearningservices/resource-manager/
Microsoft.MachineLearningServices/stable/2024-04-01/mfe.json). The error is in the operation's
status resource, named by the create's ``Azure-AsyncOperation`` header, and Azure ML also
stamps that URL into the deployment's free-form properties as ``AzureAsyncOperationUri``
(``az ml online-deployment show`` output: ``"properties": {"AzureAsyncOperationUri":
"https://management.azure.com/subscriptions/.../providers/Microsoft.MachineLearningServices/
locations/eastus/mfeOperationsStatus/odidp:...?api-version=2023-04-01-preview"}``, the
RETURN sample of ansible-collections/azure plugins/modules/azure_rm_ml_online_deployment.py).
So a process that never saw the create's poller (the engine drops it: provisioning takes
minutes) reads the URL from the deployment and GETs the status, whose body is ARM's
``{status, error: {code, message, details}}`` ("The error object is returned when the status
is Failed or Canceled", azure-resource-manager/management/async-operations).

The GET goes through the workspace's own ARM client (its credential, CA bundle and the ARM
pacer) and only to that client's ARM host: the bearer token is never sent elsewhere.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from shared.azure.retry import Call
from shared.observation import OperationError

log = logging.getLogger("autocanary.azure")

#: the deployment property Azure ML keeps its last operation's status URL in
ASYNC_URI_PROPERTY = "AzureAsyncOperationUri"
ENDED_BADLY = frozenset({"failed", "canceled"})
_DETAILS_KEPT = 10


def operation_uri(rest: Any) -> str | None:
    """The status URL of the deployment's last operation (``rest``: the deployment as the
    generated client reads it), if Azure named one."""
    props = getattr(getattr(rest, "properties", None), "properties", None)
    if not isinstance(props, Mapping):
        return None
    uri = props.get(ASYNC_URI_PROPERTY)
    return uri if isinstance(uri, str) and uri else None


def same_host(uri: str, base_url: str) -> bool:
    """Whether ``uri`` is an Azure ML operation status on the ARM host the client was built
    for (scheme, host and port; a path ``/subscriptions/.../mfeOperationsStatus/...``)."""
    a, b = urlsplit(uri), urlsplit(base_url)
    if (a.scheme.lower(), a.netloc.lower()) != (b.scheme.lower(), b.netloc.lower()):
        return False
    return a.path.lower().startswith("/subscriptions/") and "/mfeoperationsstatus/" in (
        a.path.lower()
    )


def operation_error(body: Any) -> OperationError | None:
    """The error of an operation status body that ended Failed or Canceled, else None."""
    if not isinstance(body, Mapping):
        return None
    if str(body.get("status") or "").lower() not in ENDED_BADLY:
        return None
    error = body.get("error")
    if not isinstance(error, Mapping) or not error.get("code"):
        return None
    details = error.get("details")
    codes = tuple(
        str(d["code"])
        for d in (details if isinstance(details, list) else [])[:_DETAILS_KEPT]
        if isinstance(d, Mapping) and d.get("code")
    )
    return OperationError(str(error["code"]), str(error.get("message") or ""), codes)


def read_operation_error(ml: Any, rest: Any, call: Call[Any], what: str) -> OperationError | None:
    """Azure's error for the deployment's last operation, through ``ml``'s ARM client; None
    when Azure names no operation, names one on another host, or it did not end badly."""
    uri = operation_uri(rest)
    if uri is None:
        log.info("%s: the deployment names no operation (%s)", what, ASYNC_URI_PROPERTY)
        return None
    # the generated ARM client azure-ai-ml builds for deployments (_ml_client.py,
    # ServiceClient042023Preview): its pipeline holds the credential's bearer policy
    client = ml._service_client_04_2023_preview
    base = str(client._config.base_url)
    if not same_host(uri, base):
        log.warning("%s: the operation URL is not an operation status on %s; not read", what, base)
        return None
    from azure.core.rest import HttpRequest

    def get() -> Any:
        response = client.send_request(HttpRequest("GET", uri))
        if response.status_code == 404:  # ARM keeps operation status for a limited time
            return None
        response.raise_for_status()
        return response.json()

    return operation_error(call(get, what))
