"""The values a scenario file describes (validated by :mod:`shared.simulation.scenario`). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from shared.policy import PolicySet

CRASH_POINTS = ("before_write", "after_write", "after_effect")
ALERT_STATUSES = ("Fired", "Resolved")
OPERATOR_VERBS = ("pause", "resume", "promote", "rollback", "abort", "retry", "cancel", "start")
ARM_OPERATIONS = (
    "get_endpoint",
    "create_deployment",
    "set_traffic",
    "delete_deployment",
    "get_logs",
    "provisioning_error",
    "scale_deployment",
)
# Azure ML's code for a create refused for want of quota (learn.microsoft.com/azure/
# machine-learning/how-to-troubleshoot-online-endpoints, "ERROR: OutOfQuota").
DEFAULT_REFUSAL = "OutOfQuota"
DEFAULT_ERROR_RATE = 0.001
DEFAULT_LATENCY_MS = 50.0
DEFAULT_LATENCY_SIGMA = 0.5
Z99 = 2.3263478740408408  # standard normal 0.99 quantile


@dataclass(frozen=True)
class Behaviour:
    """How a deployment serves. Unset fields are inherited (from the deployment it was cloned
    from, or the live history when the scenario has a ``series``).

    error_rate:     share of requests answered 5xx (absolute)
    error_factor:   multiplier on the inherited error rate (2.0: twice as many errors)
    latency_ms:     median latency (requests are log-normal)
    latency_factor: multiplier on the inherited latency
    latency_sigma:  spread of log latency (p99 = median x exp(2.326 sigma))
    overdispersion: gamma shape k of a per-minute error-rate multiplier (0: none; 4 is bursty)
    flipped:        answers the opposite of the version it replaces (score 1 - p, the other
                    label) with the same errors and latency: seen only by a shadow comparison
    """

    error_rate: float | None = None
    error_factor: float | None = None
    latency_ms: float | None = None
    latency_factor: float | None = None
    latency_sigma: float | None = None
    overdispersion: float | None = None
    flipped: bool | None = None

    def over(self, base: Behaviour) -> Behaviour:
        """These settings laid over ``base``: an absolute value replaces the inherited one
        (and its factor); a factor alone multiplies the inherited value."""
        rate, factor = _layer(
            self.error_rate, self.error_factor, base.error_rate, base.error_factor
        )
        latency, lfactor = _layer(
            self.latency_ms, self.latency_factor, base.latency_ms, base.latency_factor
        )
        return Behaviour(
            error_rate=rate,
            error_factor=factor,
            latency_ms=latency,
            latency_factor=lfactor,
            latency_sigma=_first(self.latency_sigma, base.latency_sigma),
            overdispersion=_first(self.overdispersion, base.overdispersion),
            flipped=self.flipped if self.flipped is not None else base.flipped,
        )


def _first(a: float | None, b: float | None) -> float | None:
    return a if a is not None else b


def _layer(
    value: float | None, factor: float | None, base_value: float | None, base_factor: float | None
) -> tuple[float | None, float | None]:
    if value is not None:
        return value, factor
    if factor is not None:
        return base_value, factor * (base_factor if base_factor is not None else 1.0)
    return base_value, base_factor


@dataclass(frozen=True)
class EndpointSpec:
    name: str
    deployments: Mapping[str, str]  # name -> model asset id (azureml:name:version)
    traffic: Mapping[str, int]
    mirror: Mapping[str, int]
    instance_count: int = 1
    # deployment -> (minimum, maximum, default) of the autoscale setting that targets it
    autoscale: Mapping[str, tuple[int, int, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricsSpec:
    delay: float = 0.0
    mirror_counted: bool = True
    outages: tuple[tuple[float, float], ...] = ()  # minutes never recorded (no data)
    unavailable: tuple[tuple[float, float], ...] = ()  # the source answers nothing (NoData)


@dataclass(frozen=True)
class ArmSpec:
    provisioning: float = 120.0
    deletion: float = 60.0
    fail_rate: float = 0.0
    fail_provisioning: tuple[str, ...] = ()  # models (name:version) or deployment names
    refuse_create: Mapping[str, str] = field(default_factory=dict)  # model -> Azure error code
    faults: Mapping[str, int] = field(default_factory=dict)  # operation -> next calls failing
    hidden: float = 0.0  # seconds a new deployment answers 404 after its create is accepted
    # an Azure error code every copy of an autoscale setting is refused with, for good (a
    # 400); "" refuses none
    refuse_autoscale_copy: str = ""
    # seconds a traffic update takes to land (0: at once): until then the call answers "not
    # landed", reads show the split before it, and another update of the endpoint, a create
    # or a scale on it is refused as busy (409), as the emulator does
    traffic_update: float = 0.0


@dataclass(frozen=True)
class SeriesMinute:
    """One minute of an endpoint's real history: its requests, errors and percentiles."""

    requests: int
    errors: int
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None


EventKind = Literal["register", "behaviour", "alert", "operator", "manual", "crash", "arm"]


@dataclass(frozen=True)
class Event:
    at: float
    kind: EventKind
    data: Mapping[str, Any]
    index: int


@dataclass(frozen=True)
class Expect:
    phase: str | None = None
    reason: str | None = None
    max_duration: float | None = None
    min_duration: float | None = None
    invariants: bool = False
    reasons: tuple[str, ...] = ()  # decision reasons that must all appear, in this order
    absent_reasons: tuple[str, ...] = ()  # decision reasons that must never appear
    refused: Mapping[str, int] | None = None
    deployments: tuple[str, ...] | None = None  # the deployments left at the end
    traffic: Mapping[str, int] | None = None  # the live traffic at the end
    mirror: Mapping[str, int] | None = None  # the mirror at the end
    instances: Mapping[str, int] | None = None  # instance count of deployments at the end
    autoscaled: tuple[str, ...] | None = None  # deployments an autoscale setting targets at the end
    rollouts: int | None = None  # how many rollouts the endpoint saw
    settles: bool = False  # the last rollout ended, or waits paused on an allowed action
    events: Mapping[str, int] | None = None  # lifecycle events published: type -> exact count
    events_at_most: Mapping[str, int] | None = None  # type -> at most this many


@dataclass(frozen=True)
class Scenario:
    policy: PolicySet
    endpoint: EndpointSpec
    requests_per_minute: float
    behaviour: Mapping[str, Behaviour]
    metrics: MetricsSpec
    arm: ArmSpec
    events: tuple[Event, ...]
    until: float
    seed: int
    tick: float = 60.0
    series: tuple[SeriesMinute, ...] = ()
    expect: Expect | None = None
    name: str = "scenario"
