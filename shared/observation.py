"""What the engine observes at one reconcile (the endpoint as Azure reports it, what was read to
judge the stage, the smoke test's and the shadow comparison's answers) and the instructions that
come from outside the timer (an operator's or an alert's command, a decoded alert). Pure values:
no I/O, no Azure imports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from shared.judge.agreement import Agreement
from shared.judge.types import Minute, Verdict
from shared.rules import shares
from shared.smoke import SmokeResult


@dataclass(frozen=True)
class DeploymentInfo:
    name: str
    provisioning_state: str
    model: str | None = None
    instance_count: int | None = None


@dataclass(frozen=True)
class OperationError:
    """Azure's error for a deployment's last operation that ended Failed or Canceled, as its
    operation status resource reports it: the code (Azure ML's troubleshooting guide,
    how-to-troubleshoot-online-endpoints: ImageBuildFailure, OutOfQuota, BadArgument,
    ResourceNotReady, ResourceNotFound, OperationCanceled, SecretsInjectionError,
    InternalServerError, ...), its message and the codes of its details."""

    code: str
    message: str = ""
    details: tuple[str, ...] = ()

    def evidence(self) -> dict[str, Any]:
        found: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            found["details"] = list(self.details)
        return found


@dataclass(frozen=True)
class EndpointInfo:
    """The live endpoint, as Azure reports it (traffic and mirror as percent maps)."""

    name: str
    traffic: Mapping[str, int]
    mirror: Mapping[str, int]
    deployments: Mapping[str, DeploymentInfo]
    provisioning_state: str = "Succeeded"
    # When Azure last changed the endpoint (its systemData.lastModifiedAt); None: not known
    modified_at: datetime | None = None

    def live_traffic(self) -> dict[str, int]:
        """Traffic without zero entries (Azure lists deployments at 0 on GET)."""
        return shares(self.traffic)

    def live_mirror(self) -> dict[str, int]:
        return shares(self.mirror)

    def live_deployment(self) -> str | None:
        live = self.live_traffic()
        return max(live, key=lambda k: (live[k], k)) if live else None


CommandKind = Literal["pause", "resume", "promote", "rollback", "abort", "alert", "supersede"]
OPERATOR_ACTIONS = ("pause", "resume", "promote", "rollback", "abort")


@dataclass(frozen=True)
class Command:
    """An instruction from outside the timer: an operator, an alert, or a newer version."""

    kind: CommandKind
    reason: str
    actor: str = "operator"
    full: bool = False
    evidence: Mapping[str, Any] = field(default_factory=dict)
    # alert: the deployments its firing time series name (its ``deployment`` dimension);
    # empty when the alert is about the whole endpoint.
    deployments: tuple[str, ...] = ()


@dataclass(frozen=True)
class Judging:
    """What the engine read to judge the stage this tick (see :mod:`shared.settle`).

    minutes:      the settled minutes the verdict and the guardrails rest on, oldest first
    readings:     the settle reading to keep on the rollout for the next tick
    evidence:     which minutes were used (and which were not yet settled), errors counted
    unavailable:  why the metrics source could not answer (no data), or None
    step_s:       the length of one metric minute in seconds
    """

    minutes: tuple[Minute, ...] = ()
    readings: Mapping[str, Any] = field(default_factory=dict)
    evidence: Mapping[str, Any] = field(default_factory=dict)
    unavailable: str | None = None
    step_s: float = 60.0


@dataclass(frozen=True)
class Observation:
    """What the engine sees at one reconcile: the endpoint, the judge's verdict, logs, and
    what was read to judge (None when the stage was not judged this tick)."""

    endpoint: EndpointInfo | None
    verdict: Verdict | None = None
    logs: str | None = None
    command: Command | None = None
    judging: Judging | None = None
    smoke: SmokeResult | None = None  # the smoke test's answers, when one was due and sent
    compare: Agreement | None = None  # the shadow's answers compared, when due and run
    # Azure's error for the canary's failed provisioning, when Azure says (with ``logs``)
    provisioning_error: OperationError | None = None


@dataclass(frozen=True)
class Alert:
    """A decoded Azure Monitor alert (common alert schema)."""

    alert_id: str
    rule: str
    condition: str  # Fired | Resolved
    targets: tuple[str, ...]
    severity: str = ""
    fired_at: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)
    # values of the firing time series' ``deployment`` dimension; empty: the whole endpoint
    deployments: tuple[str, ...] = ()
    # targets refused while decoding: (their log rendering, why)
    rejected_targets: tuple[tuple[str, str], ...] = ()
    # a log search alert's scope is a workspace; its dimensions (the query's columns) may name
    # the endpoints: ``EndpointName`` values, and resource ids (``_ResourceId``, ``ResourceId``)
    endpoint_names: tuple[str, ...] = ()
    resource_ids: tuple[str, ...] = ()
