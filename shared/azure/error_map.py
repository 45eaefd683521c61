"""What an Azure SDK error means to autocanary, shared by the Azure adapters.

:func:`is_transient`: HTTP 408, 429, 500, 502-504, the metrics backend's 529, connection
errors and timeouts (409 is Azure ML's
"another operation is in progress": transient, but not for a call's retry loop, see
:mod:`shared.azure.retry`); :func:`retry_after`: the wait a service asked for.
:func:`map_error`: 404 is NotFound, 409 AzureBusy, a 400 about traffic AzureRuleViolation, a
transient failure TransientUpstreamError, any other service error UpstreamError. Each keeps
the most specific error code Azure gave in ``code``; the full chain of codes, the HTTP status
and the operation are in ``details``. azure.core is imported lazily, inside the functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.errors import (
    AutocanaryError,
    AzureBusy,
    AzureRuleViolation,
    NotFound,
    TransientUpstreamError,
    UpstreamError,
)

# 529: the metrics backend throttling ("529 ... the metrics backend is currently throttling
# your requests. The recommended action is to implement an exponential backoff retry scheme",
# learn.microsoft.com/azure/azure-monitor/metrics/migrate-to-batch-api, "529 throttling
# errors"). 501 Not Implemented is not transient.
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504, 529})
BUSY_STATUS = 409
# Azure ML's error codes for traffic and mirror rules (seen in Microsoft's docs and the emulator);
# any 400 whose codes or message mention traffic counts as well.
_TRAFFIC_WORDS = ("traffic", "mirror")
# Codes of a long-running operation that failed for a passing reason (its error comes in a
# 2xx status body): another operation on the resource took over (Azure ML's troubleshooting
# guide, how-to-troubleshoot-online-endpoints, OperationCanceled: retrying may let it go
# through), or the service failed (a 5xx of its own). Worth the next tick's retry.
# 409 codes that do not clear by themselves, unlike a busy resource's: the subscription is
# not registered for the resource provider (ARM's MissingSubscriptionRegistration; learn.
# microsoft.com azure-resource-manager troubleshooting error-register-resource-provider).
_LASTING_CONFLICTS = frozenset({"missingsubscriptionregistration"})
_PASSING_OPERATION_CODES = frozenset(
    {
        "operationcanceled",
        "internalservererror",
        "serviceunavailable",
        "gatewaytimeout",
        "servertimeout",
        "toomanyrequests",
    }
)


def status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def is_service_error(exc: BaseException) -> bool:
    """Whether an exception comes from talking to Azure (the SDKs, the HTTP stack, sockets)
    rather than from a bug in the caller."""
    if isinstance(exc, OSError):
        return True  # ConnectionError, TimeoutError, socket and TLS errors
    module = type(exc).__module__ or ""
    return module.startswith(("azure.", "msrest", "requests", "urllib3", "marshmallow"))


def is_transient(exc: BaseException) -> bool:
    """Whether a retry within the call may succeed: throttling, server errors, connection
    failures and timeouts (not 409: see the module docstring)."""
    from azure.core.exceptions import (
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )

    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return True  # includes the *TimeoutError subclasses
    if isinstance(exc, HttpResponseError):
        # A long-running operation that failed reports it in a 2xx status body: not retried
        # here (the engine re-issues its effects on the next tick).
        return status_of(exc) in TRANSIENT_STATUS
    return isinstance(exc, ConnectionError | TimeoutError)


def retry_after(exc: BaseException) -> float | None:
    """The Retry-After (seconds) of a throttled or unavailable answer, if it gave one."""
    response = getattr(exc, "response", None)
    headers: Mapping[str, str] | None = getattr(response, "headers", None)
    if not headers:
        return None
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        value = header(headers, name)
        if value is not None:
            try:
                return max(0.0, float(value) / 1000.0)
            except ValueError:
                pass
    value = header(headers, "retry-after")
    if value is not None:
        try:
            return max(0.0, float(value))
        except ValueError:
            return None  # an HTTP date: rare on Azure; the jittered backoff applies
    return None


def header(headers: Mapping[str, str], name: str) -> str | None:
    try:
        value = headers.get(name)
        if value is None:
            value = next((v for k, v in headers.items() if k.lower() == name), None)
    except Exception:
        return None
    return None if value is None else str(value)


def azure_codes(exc: BaseException) -> list[str]:
    """Azure's error codes, outermost first: the error's code, its details' codes and its inner
    errors' codes (ARM error body ``{"error": {"code", "message", "details", "innererror"}}``,
    parsed by azure-core's ODataV4Format, sdk/core/azure-core/azure/core/exceptions.py)."""
    codes: list[str] = []
    error = getattr(exc, "error", None)
    if error is None:
        return codes
    code = getattr(error, "code", None)
    if code:
        codes.append(str(code))
    for detail in getattr(error, "details", None) or []:
        dcode = getattr(detail, "code", None)
        if dcode:
            codes.append(str(dcode))
    inner = getattr(error, "innererror", None)
    depth = 0
    while isinstance(inner, Mapping) and depth < 5:
        icode = inner.get("code")
        if icode:
            codes.append(str(icode))
        inner = inner.get("innererror") or inner.get("innerError")
        depth += 1
    return codes


def _message(exc: BaseException) -> str:
    error = getattr(exc, "error", None)
    message = getattr(error, "message", None) if error is not None else None
    text = str(message or getattr(exc, "message", None) or exc or type(exc).__name__)
    return text.strip().splitlines()[0][:500] if text.strip() else type(exc).__name__


_GENERIC_CODES = frozenset({"usererror", "badrequest", "badargument", "systemerror"})


def _specific(codes: list[str]) -> str | None:
    """The most specific code: the first that is not a generic category."""
    for code in codes[1:]:
        if code.lower() not in _GENERIC_CODES:
            return code
    return codes[0] if codes else None


def map_error(exc: BaseException, what: str, *, attempts: int = 1) -> AutocanaryError:
    """The AutocanaryError for an SDK failure (after retries, if any)."""
    from azure.core.exceptions import ResourceNotFoundError

    if isinstance(exc, AutocanaryError):
        return exc
    codes = azure_codes(exc)
    code = _specific(codes)
    status = status_of(exc)
    message = f"{what}: {_message(exc)}"
    details: dict[str, Any] = {"operation": what}
    if status is not None:
        details["status"] = status
    if codes:
        details["azure_codes"] = codes
    if attempts > 1:
        details["attempts"] = attempts
    if isinstance(exc, ResourceNotFoundError) or status == 404:
        return NotFound(message, code=code or "ResourceNotFound", details=details)
    lasting = status == BUSY_STATUS and any(c.lower() in _LASTING_CONFLICTS for c in codes)
    if lasting:
        details["lasting"] = True  # a 409 that is no busy resource: it will not clear
    if status == BUSY_STATUS and not lasting:
        hint = retry_after(exc)
        if hint is not None:
            details["retry_after"] = hint
        return AzureBusy(message, code=code or AzureBusy.code, details=details)
    failed_operation = status is not None and 200 <= status < 300
    if is_transient(exc) or (
        failed_operation and any(c.lower() in _PASSING_OPERATION_CODES for c in codes)
    ):
        return TransientUpstreamError(
            message, code=code or TransientUpstreamError.code, details=details
        )
    text = " ".join([*codes, _message(exc)]).lower()
    # A refused update is a 400; an accepted one that failed later reports its error in the
    # operation status (a 2xx answer whose body carries the error).
    refused = status == 400 or (status is not None and 200 <= status < 300)
    if refused and any(word in text for word in _TRAFFIC_WORDS):
        return AzureRuleViolation(message, code=code or AzureRuleViolation.code, details=details)
    if code is None and status is not None:
        code = f"http_{status}"
    if code is None:
        code = type(exc).__name__  # e.g. azure-ai-ml's ValidationException (client-side)
    return UpstreamError(message, code=code or UpstreamError.code, details=details)
