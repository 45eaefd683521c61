"""What an Azure SDK error means: shared.azure.error_map.map_error (no network)."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure_test_helpers import http_error

from shared.azure import error_map
from shared.errors import (
    AzureRuleViolation,
    NotFound,
    TransientUpstreamError,
    UpstreamError,
    is_permanent,
)


def test_not_found_keeps_the_azure_code() -> None:
    error = error_map.map_error(
        http_error(404, "ResourceNotFound", cls=ResourceNotFoundError), "get endpoint x"
    )
    assert isinstance(error, NotFound)
    assert error.code == "ResourceNotFound"
    assert error.message.startswith("get endpoint x:")


def test_refused_traffic_update_is_a_rule_violation_with_the_specific_code() -> None:
    """A 400 UserError whose detail names a traffic rule maps to AzureRuleViolation."""
    error = error_map.map_error(
        http_error(
            400,
            "UserError",
            "traffic must sum to 0 or 100, got 90",
            details=[{"code": "InvalidTrafficAllocation", "message": "sum"}],
        ),
        "set traffic",
    )
    assert isinstance(error, AzureRuleViolation)
    assert error.code == "InvalidTrafficAllocation"
    assert error.details["azure_codes"] == ["UserError", "InvalidTrafficAllocation"]


def test_failed_traffic_operation_is_a_rule_violation() -> None:
    """An accepted update whose operation failed (error in a 200 status body) about mirror
    traffic maps to AzureRuleViolation too."""
    error = error_map.map_error(
        http_error(200, "InvalidMirrorTraffic", "mirrorTraffic for x is 60%"), "set traffic"
    )
    assert isinstance(error, AzureRuleViolation)
    assert error.code == "InvalidMirrorTraffic"


def test_other_bad_requests_are_upstream_errors_with_azure_code() -> None:
    error = error_map.map_error(
        http_error(400, "UserError", "bad sku", details=[{"code": "InvalidSku", "message": "x"}]),
        "create",
    )
    assert type(error) is UpstreamError
    assert error.code == "InvalidSku"


def test_error_without_azure_code_is_named_by_status() -> None:
    error = error_map.map_error(http_error(418), "brew")
    assert type(error) is UpstreamError
    assert error.code == "http_418"


def test_metrics_backend_throttling_529_is_transient_and_501_is_not() -> None:
    """529 is Azure Monitor metrics throttling, to be retried with backoff (migrate-to-batch-api,
    "529 throttling errors"); 501 Not Implemented will not change on a retry."""
    assert error_map.is_transient(http_error(529, "TooManyRequests", "throttled"))
    assert not error_map.is_transient(http_error(501, "NotImplemented", "no"))


@pytest.mark.parametrize(
    "code", ["OperationCanceled", "InternalServerError", "ServiceUnavailable", "GatewayTimeout"]
)
def test_an_operation_that_failed_for_a_passing_reason_is_transient(code: str) -> None:
    """An accepted update or create whose long-running operation then failed reports its
    error in a 2xx status body; Azure ML's troubleshooting guide says an OperationCanceled
    (another operation took over) may go through when tried again, and a server error is
    one: these are worth the next tick's retry (an alert's webhook answers 503)."""
    error = error_map.map_error(http_error(200, code, "the operation failed"), "set traffic")
    assert isinstance(error, TransientUpstreamError) and error.code == code
    assert not is_permanent(error)


def test_an_operation_that_failed_for_good_stays_permanent() -> None:
    error = error_map.map_error(http_error(200, "BadArgument", "invalid instance"), "create")
    assert type(error) is UpstreamError and is_permanent(error)


def test_a_409_for_an_unregistered_resource_provider_is_permanent_not_busy() -> None:
    """409 MissingSubscriptionRegistration (the subscription is not registered for the
    resource provider) does not clear by itself, as a busy resource's 409 does."""
    error = error_map.map_error(
        http_error(409, "MissingSubscriptionRegistration", "not registered"), "create"
    )
    assert type(error) is UpstreamError and is_permanent(error)
    busy = error_map.map_error(http_error(409, "Conflict", "Updating"), "create")
    assert not is_permanent(busy)
