"""The alert path: an Azure Monitor alert (Fired) rolls the canary of each endpoint it names
back at once, through the engine's reconcile with an ``alert`` command (the decision is the
state machine's: ``shared.machine``)."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from shared import deadline, machine
from shared.errors import (
    ACTION_GROUP_RETRIED,
    AutocanaryError,
    InvalidInput,
    NotFound,
    PhaseConflict,
    RetryLater,
    TransientUpstreamError,
    http_status,
    is_permanent,
)
from shared.inputs import deployment_of, endpoint_of
from shared.observation import Alert, Command

if TYPE_CHECKING:
    from shared.engine_core import EngineCore

log = logging.getLogger("autocanary")


@dataclass(frozen=True)
class AlertResult:
    """What one target of an alert did."""

    endpoint: str | None
    outcome: str  # rolled_back, not_rolled_back, ignored, invalid_target
    reason: str
    rollout_id: str | None = None
    target: str = ""
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Alerts:
    """Alerts over an engine (``Engine.on_alert``)."""

    def __init__(self, engine: EngineCore) -> None:
        self.engine = engine

    def on_alert(self, alert: Alert) -> list[AlertResult]:
        """A Fired alert on an endpoint with an active rollout rolls it back at once.

        Each target is handled on its own: one that is not an endpoint of this workspace, or
        that the store refuses, is reported in its result and never stops the others (an
        action group does not retry a 400). A transient failure on one target is raised after
        every other target was handled, so the action group retries the alert.
        """
        if alert.condition.lower() != "fired":
            return [AlertResult(None, "ignored", f"alert is {alert.condition}, not Fired")]
        if _activity_log(alert):
            return [AlertResult(None, "ignored", ACTIVITY_LOG_IGNORED)]
        with deadline.within(ALERT_WAIT_S):  # answered before the action group gives up
            return self._targets(alert)

    def _targets(self, alert: Alert) -> list[AlertResult]:
        results = [
            AlertResult(None, "invalid_target", why, target=shown)
            for shown, why in alert.rejected_targets
        ]
        seen: set[str] = set()
        retry: Exception | None = None
        named = self._named_by_dimensions(alert)
        for target in (*alert.targets, *named):
            name = endpoint_of(target, self.engine.workspace_id)
            deployment = deployment_of(target)
            if name is None:
                if named and target in alert.targets:
                    continue  # a log search alert's scope: its dimensions name the endpoints
                results.append(AlertResult(None, "ignored", _not_an_endpoint(alert), target=target))
                continue
            try:
                endpoint = self._stored_endpoint(name)
                if endpoint.lower() in seen:
                    continue
                seen.add(endpoint.lower())
                if deployment and not alert.deployments:  # a deployment-scope alert rule
                    alert_here = replace(alert, deployments=(deployment,))
                else:
                    alert_here = alert
                results.append(replace(self._alert_endpoint(endpoint, alert_here), target=target))
            except (InvalidInput, NotFound) as exc:
                results.append(AlertResult(name, "invalid_target", exc.message, target=target))
            except AutocanaryError as exc:
                if _refused_for_good(exc):
                    # refused for good (403 AuthorizationFailed, say): a 503 would only have
                    # the action group send it again for nothing, then mute the webhook
                    log.error("alert %s on %s failed for good: %s", alert.alert_id, name, exc)
                    results.append(_refused(name, target, exc))
                    continue
                log.warning("alert %s on %s failed: %s", alert.alert_id, name, exc.message)
                retry = retry or exc
            except Exception as exc:  # a bug or an unmapped SDK error: a retry may get through
                log.exception("alert %s on %s failed unexpectedly", alert.alert_id, name)
                retry = retry or exc
        if retry is not None:
            raise _retried(alert, retry)
        return results

    def _named_by_dimensions(self, alert: Alert) -> tuple[str, ...]:
        """The online endpoints a log search alert's dimensions name, as resource ids: its
        scope is the workspace (or a Log Analytics workspace), not an endpoint, so a rule
        split by ``EndpointName`` (with ``DeploymentName``) or by ``_ResourceId`` names
        them there. A metric alert on an endpoint names it in its targets: nothing here."""
        if any(endpoint_of(t, self.engine.workspace_id) for t in alert.targets):
            return ()
        out = list(alert.resource_ids)
        if self.engine.workspace_id is not None:
            out += [f"{self.engine.workspace_id}/onlineendpoints/{n}" for n in alert.endpoint_names]
        return tuple(out)

    def _stored_endpoint(self, name: str) -> str:
        """The endpoint name as the rollouts store it. Azure resource names are
        case-insensitive and alert target ids arrive lower-cased (learn.microsoft.com/azure/
        azure-resource-manager/management/resource-name-rules: "Resource and resource group
        names are case-insensitive ... Always perform a case-insensitive comparison of
        names"), so ``fraud-scoring`` is the rollout of ``Fraud-Scoring``."""
        stored = self.engine.store.active_endpoints()
        if name in stored:
            return name
        same = sorted(e for e in stored if e.lower() == name.lower())
        return same[0] if same else name

    def _alert_endpoint(self, endpoint: str, alert: Alert) -> AlertResult:
        slot = self.engine.store.read(endpoint)
        if slot.active is None:
            return AlertResult(endpoint, "ignored", "no active rollout on this endpoint")
        command = Command(
            "alert",
            f"alert {alert.rule or alert.alert_id} fired",
            actor=f"alert:{alert.rule or alert.alert_id}",
            evidence={
                "alert_id": alert.alert_id,
                "rule": alert.rule,
                "severity": alert.severity,
                "fired_at": alert.fired_at,
                **dict(alert.evidence),
            },
            deployments=alert.deployments,
        )
        try:
            outcome = self.engine.reconcile(endpoint, command)
        except PhaseConflict as exc:
            return AlertResult(endpoint, "ignored", exc.message, slot.active.id)
        if outcome.effect_retryable:
            # The rollback was decided and recorded, but Azure failed the traffic change: the
            # canary may still serve. Answer 5xx (raised after the alert's other targets) so
            # the action group sends the alert again; the timer retries it meanwhile.
            code = (outcome.error or {}).get("code")
            raise TransientUpstreamError(
                f"rolling back {endpoint}: Azure failed a call ({code}); retrying",
                details={"endpoint": endpoint, "error": outcome.error},
            )
        if outcome.error is not None:
            # Azure refused a call of the rollback for good (an alert sent again cannot help):
            # the decision stands and the timer asks again, but the canary may still serve,
            # so the reply never says rolled_back.
            code = str(outcome.error.get("code") or "error")
            return AlertResult(
                endpoint,
                "not_rolled_back",
                f"EffectFailed: {code}",
                outcome.rollout_id,
                detail=f"the rollback was decided but Azure refused a call ({code}: "
                f"{outcome.error.get('message', '')}); the canary may still serve, and the "
                "rollout asks again every tick",
            )
        kept = {  # decisions that roll nothing back, and what the reply says of them
            machine.ALERT_ON_OTHER_DEPLOYMENT: f"the alert names {', '.join(alert.deployments)}, "
            f"not the canary {slot.active.canary or '(none yet)'}; recorded, nothing rolled back",
            machine.ROLLBACK_IMPOSSIBLE: "the old deployment is gone or being deleted: the new "
            "version keeps serving, and the rollout waits paused for an operator",
        }
        if outcome.reason in kept:
            return AlertResult(
                endpoint,
                "not_rolled_back",
                outcome.reason,
                outcome.rollout_id,
                detail=kept[outcome.reason],
            )
        return AlertResult(endpoint, "rolled_back", outcome.reason or "", outcome.rollout_id)


# Seconds the waits of an alert's calls to Azure may take in all (a busy endpoint, the traffic
# update's operation, retries): an action group waits about 10 s for the answer
# (shared/deadline.py); what is not done by then the timer finishes
ALERT_WAIT_S = 6.0
ACTIVITY_LOG_IGNORED = (
    "an activity log alert (Resource Health, Administrative, Service Health) fires for the "
    "endpoint as a whole, a recovery included: only metric and log search alerts roll back"
)


def _activity_log(alert: Alert) -> bool:
    """Whether ``essentials.signalType`` says an activity log alert ("the type of signal the
    alert is based on, which could be metrics, logs or activity logs": Azure.ResourceManager.
    AlertsManagement ServiceAlertEssentials.SignalType; common alert schema "Activity Log"):
    stateless, always Fired, a Resource Health recovery to Available too."""
    signal = str(alert.evidence.get("signal_type", "")).replace(" ", "").lower()
    return signal == "activitylog"


def _refused_for_good(error: AutocanaryError) -> bool:
    """A refusal an alert sent again cannot get past: permanent, with Azure's HTTP status
    (403 AuthorizationFailed, 400) or marked lasting. An error without one (a token the
    identity endpoint failed to give, a connection dropped) may well pass on the retry."""
    status = error.details.get("status")
    return is_permanent(error) and (isinstance(status, int) or bool(error.details.get("lasting")))


def _refused(name: str, target: str, error: AutocanaryError) -> AlertResult:
    return AlertResult(
        name,
        "not_rolled_back",
        f"Refused: {error.code}",
        target=target,
        detail=f"Azure refused a call for good ({error.message}); an alert sent again cannot "
        "help: the rollout's own judging goes on every tick",
    )


def _retried(alert: Alert, error: Exception) -> Exception:
    """The error a transient failure is answered with: one whose status an action group
    retries as it is (a 503 from Azure, say), any other (a 409 from a write that kept being
    contended, a 500 from an unexpected failure) as :class:`RetryLater`, 503: an action group
    retries only 408, 429, 503 and 504, so a 409 or a 500 would never be sent again and
    leave the canary serving, unjudged until the next tick's own judging. A failure retrying
    cannot help is answered in the results instead (:func:`_refused`): retried for nothing,
    it would have the action group call no webhook for 15 minutes once its retries fail."""
    if http_status(error) in ACTION_GROUP_RETRIED:
        return error
    cause = error.code if isinstance(error, AutocanaryError) else type(error).__name__
    message = error.message if isinstance(error, AutocanaryError) else "an unexpected failure"
    return RetryLater(
        f"alert {alert.alert_id} was not acted on for every target ({message}); send it again",
        details={"cause": cause},
    )


def _not_an_endpoint(alert: Alert) -> str:
    why = "target is not an online endpoint of this workspace"
    if str(alert.evidence.get("signal_type", "")).lower() == "log":
        why += (
            " (a log search alert names its scope: split the rule by EndpointName and "
            "DeploymentName, or by _ResourceId, so that it names the endpoint)"
        )
    return why
