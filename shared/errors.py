"""The one errors module of autocanary.

Hierarchy (HTTP status in brackets, mapped in one place: :func:`http_status`)::

    AutocanaryError [500]                 base; carries a machine-readable ``code``
    ├── Unauthorized [401]                 an API call without a valid key
    ├── Forbidden [403]                    a read-only key sent to act
    ├── InvalidInput [400]                 a request, event or alert that cannot be understood
    │   └── PolicyError [400]              the rollout policy is invalid (names the field)
    ├── ConfigurationError [500]           app settings missing or invalid, a port not wired
    ├── NotFound [404]                     unknown endpoint, rollout or resource
    ├── Conflict [409]                     the state forbids it
    │   ├── PhaseConflict [409]            an operator action the rollout's phase forbids
    │   ├── ActiveRolloutExists [409]      the store already holds an active rollout there
    │   └── DuplicateEvent [409]           this event id was already recorded
    ├── StaleState [409]                   optimistic concurrency: the ETag no longer matches
    ├── AzureRuleViolation [400]           a traffic/mirror/deployment change Azure would refuse
    ├── UpstreamError [502]                Azure answered with a permanent error (keeps its code)
    │   └── TransientUpstreamError [503]   429, 5xx or a timeout: worth retrying later
    │       └── AzureBusy [503]            409: another operation on the resource is running
    ├── NoData [503]                       metrics missing or late: "no data", never a pass
    └── RetryLater [503]                   an alert not acted on now (a write contended, an
                                           unexpected failure): 503, which an action group retries

Every error has ``code`` (stable, snake_case, shown to API clients), ``message`` and ``hint``
(one sentence saying what to do; each class has one, a raise may give a sharper one);
``details`` is optional plain data for the JSON body.
"""

from __future__ import annotations

from typing import Any


class AutocanaryError(Exception):
    """Base of every error autocanary raises on purpose."""

    code: str = "internal_error"
    status: int = 500
    hint: str = "An unexpected error; retry, and if it persists check the app's logs."

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if hint is not None:
            self.hint = hint
        self.details: dict[str, Any] = dict(details or {})

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message, "hint": self.hint}
        if self.details:
            body["details"] = self.details
        return body


class Forbidden(AutocanaryError):
    """A valid key that may not do this: a read-only key (``AUTOCANARY_API_READ_KEYS``) sent
    with an action or a start."""

    code = "read_only_key"
    status = 403
    hint = "Act with one of the keys in AUTOCANARY_API_KEYS; read-only keys only read."


class Unauthorized(AutocanaryError):
    """An HTTP API call without a valid key; ``hint`` says how to send one."""

    code = "unauthorized"
    status = 401
    hint = (
        "send one of the keys in the app setting AUTOCANARY_API_KEYS in the x-functions-key "
        "header (or as ?code=)"
    )

    def __init__(self, message: str, *, code: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, code=code)
        if hint is not None:
            self.hint = hint


class InvalidInput(AutocanaryError):
    code = "invalid_input"
    status = 400
    hint = "Fix the request as the message says and send it again."


class PolicyError(InvalidInput):
    """An invalid rollout policy; ``field`` is the dotted path of the offending field."""

    code = "invalid_policy"
    hint = "Fix the policy field named in details.field (autocanary lint checks a policy file)."

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"policy field {field!r}: {message}", details={"field": field})
        self.field = field


class ConfigurationError(AutocanaryError):
    code = "configuration_error"
    status = 500
    hint = "Fix the app setting the message names and restart the function app."


class NotFound(AutocanaryError):
    code = "not_found"
    status = 404
    hint = "Check the name or id; GET /api/rollouts lists the rollouts that are known."


class Conflict(AutocanaryError):
    code = "conflict"
    status = 409
    hint = "The rollout's state forbids this now; GET its detail for allowed_actions."


class PhaseConflict(Conflict):
    code = "phase_conflict"
    hint = "Not allowed in this phase; GET the rollout for allowed_actions."


class ActiveRolloutExists(Conflict):
    code = "active_rollout_exists"
    hint = "Wait for the active rollout to end, or roll it back or abort it first."


class DuplicateEvent(Conflict):
    code = "duplicate_event"
    hint = "Nothing to do: this event was already recorded."


class StaleState(AutocanaryError):
    """The stored state changed since it was read (ETag mismatch); re-read and retry."""

    code = "stale_state"
    status = 409
    hint = "The rollout changed meanwhile; read it again and retry."


class Superseded(StaleState):
    """A call to Azure decided on a state that another writer has since replaced (an alert's
    rollback written while a stage change waited for a busy endpoint): it was not sent."""

    code = "superseded"
    hint = "A newer decision on this rollout replaced this one; read it again."


class AzureRuleViolation(AutocanaryError):
    code = "azure_rule_violation"
    status = 400
    hint = "Azure would refuse this change; see the message for the rule it breaks."


class UpstreamError(AutocanaryError):
    """A permanent error from Azure; ``code`` keeps Azure's own error code when it gave one."""

    code = "upstream_error"
    status = 502
    hint = "Azure refused the call; see the message (its error code is kept) and fix the cause."


class TransientUpstreamError(UpstreamError):
    code = "upstream_unavailable"
    status = 503
    hint = "Azure is busy or unreachable; retry in a minute."


class AzureBusy(TransientUpstreamError):
    """Azure refused a change because the resource (or its endpoint) is Creating, Updating or
    Deleting: expected while a deployment provisions, cleared by itself; re-issue the
    idempotent effect on a later tick rather than raising an alarm."""

    code = "azure_busy"
    hint = "Another operation on the resource is running; retry once it has finished."


class NoData(AutocanaryError):
    code = "no_data"
    status = 503
    hint = "Metrics are missing or late; retry later (no data is never taken as a pass)."


class RetryLater(AutocanaryError):
    """A webhook call that could not be acted on now, for a reason its sender would not
    retry on its own status (a 409 from a contended write, a 500 from an unexpected failure):
    Azure Monitor action groups retry a webhook only on 408, 429, 503 and 504 (MicrosoftDocs/
    azure-monitor-docs ``articles/azure-monitor/alerts/action-groups.md``), so the alert path
    answers 503 for anything a later try may get through. ``details.cause`` keeps the code."""

    code = "retry_later"
    status = 503
    hint = "Not acted on now; send the same call again (it is idempotent)."


# Statuses an Azure Monitor action group retries a webhook on (action-groups.md).
ACTION_GROUP_RETRIED = frozenset({408, 429, 503, 504})


def is_permanent(error: BaseException) -> bool:
    """Whether Azure refused for good (quota, SKU, invalid request): retrying the same call
    cannot help. Throttling, timeouts, 5xx and conflicts (409: the resource is busy) can."""
    if isinstance(error, TransientUpstreamError | StaleState | Conflict):
        return False
    if isinstance(error, UpstreamError | AzureRuleViolation | InvalidInput):
        if error.details.get("lasting"):  # e.g. 409 MissingSubscriptionRegistration
            return True
        return error.details.get("status") not in (408, 409, 412, 429)
    return False


def http_status(error: BaseException) -> int:
    """The HTTP status for an error: the single place errors map to statuses."""
    if isinstance(error, AutocanaryError):
        return error.status
    return 500


def error_body(error: BaseException) -> dict[str, Any]:
    """The JSON error body ``{"error": {"code", "message", "hint", "details"?}}`` for any
    exception."""
    if isinstance(error, AutocanaryError):
        return {"error": error.to_dict()}
    return {
        "error": {
            "code": "internal_error",
            "message": "internal error",
            "hint": AutocanaryError.hint,
        }
    }
