"""The resolved rollout policy of one rollout: stages, shadow, judge settings, capacity,
guardrails and checks. Plain frozen values; ``to_dict`` is the stored form, read back by
:func:`shared.policy_fields.policy_from_dict`. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from shared.judge.types import JudgeSettings
from shared.notify.routes import Routes, routes_to_dict
from shared.policy_checks import ComparePolicy, SmokePolicy

OnDeadline = Literal["hold", "rollback"]
OnNewer = Literal["wait", "supersede"]
OnNoData = Literal["hold", "continue"]
# How the canary is sized: ``follow_traffic`` (instances in proportion to its share, with
# headroom, then the baseline's full count before promotion) or ``full`` (the baseline's count
# from the start).
Capacity = Literal["follow_traffic", "full"]
DEFAULT_HEADROOM = 1.5
MAX_HEADROOM = 10.0

# What counts as an error by default: server errors, model errors (424: the scoring script
# answered non-200, learn.microsoft.com/azure/machine-learning/how-to-troubleshoot-online-endpoints
# "HTTP status codes"), request timeouts (408: the model exceeded request_timeout_ms) and
# throttling (429: over max_concurrent_requests_per_instance).
DEFAULT_ERRORS: tuple[str, ...] = ("5xx", "424", "408", "429")
DEFAULT_SETTLE = 180.0
DEFAULT_SHADOW_MAX = 1800.0
# Guardrail keys: the latency percentile limits (ms) and the error-rate limit.
GUARDRAIL_LATENCY_KEYS: dict[str, str] = {
    "p50_latency_ms": "p50",
    "p90_latency_ms": "p90",
    "p95_latency_ms": "p95",
    "p99_latency_ms": "p99",
}


@dataclass(frozen=True)
class Stage:
    """One live-traffic stage: the canary's weight and how long/how much before promotion."""

    weight: int
    min_duration: float = 300.0
    max_duration: float = 1800.0
    min_requests: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "weight": self.weight,
            "min_duration": self.min_duration,
            "max_duration": self.max_duration,
            "min_requests": self.min_requests,
        }


DEFAULT_STAGES: tuple[Stage, ...] = (Stage(10), Stage(25), Stage(50), Stage(100))


@dataclass(frozen=True)
class Guardrails:
    """Absolute limits on the canary, whatever the baseline does: a limit exceeded in every
    settled minute of the last ``for_s`` seconds rolls the canary back. None: not guarded."""

    error_rate: float | None = None
    latency_ms: Mapping[str, float] = field(default_factory=dict)  # p50/p90/p95/p99 -> ms
    for_s: float = 180.0

    @property
    def active(self) -> bool:
        return self.error_rate is not None or bool(self.latency_ms)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"for": self.for_s}
        if self.error_rate is not None:
            out["error_rate"] = self.error_rate
        for key, level in GUARDRAIL_LATENCY_KEYS.items():
            if level in self.latency_ms:
                out[key] = self.latency_ms[level]
        return out


@dataclass(frozen=True)
class RolloutPolicy:
    """The resolved policy of one rollout; stored with the rollout so later edits of the
    policy file never change a rollout mid-flight."""

    rule: str = "default"
    endpoint: str = ""
    shadow_percent: int = 0
    shadow_duration: float = 0.0
    shadow_max_duration: float = DEFAULT_SHADOW_MAX
    shadow_on_no_data: OnNoData = "hold"
    stages: tuple[Stage, ...] = DEFAULT_STAGES
    judge: JudgeSettings = field(default_factory=JudgeSettings)
    on_deadline: OnDeadline = "hold"
    watch_window: float = 1800.0
    delete_old_deployment: bool = True
    delete_failed_deployment: bool = True
    instance_count: int | None = None
    capacity: Capacity = "follow_traffic"
    headroom: float = DEFAULT_HEADROOM
    on_newer_version: OnNewer = "wait"
    provisioning_timeout: float = 3600.0
    warmup: float = 60.0
    settle: float = DEFAULT_SETTLE
    errors: tuple[str, ...] = DEFAULT_ERRORS
    guardrails: Guardrails = field(default_factory=Guardrails)
    smoke: SmokePolicy | None = None  # requests straight to the canary before any traffic
    compare: ComparePolicy | None = None  # the shadow's answers compared with the live ones
    # The rule's ``notify`` channels (kind, app setting name): see shared/notify/routes.py.
    notify: Routes = ()

    @property
    def judged_stages(self) -> tuple[Stage, ...]:
        """The stages below 100 %: each is judged; the final 100 % stage is the promotion."""
        return self.stages[:-1]

    @property
    def has_shadow(self) -> bool:
        """Whether rollouts mirror traffic first (and the shadow is judged): the one answer
        the machine and the alpha split both use."""
        return self.shadow_percent > 0 and self.shadow_duration > 0

    @property
    def judged_count(self) -> int:
        """Judged phases (the shadow and every stage below 100 %): alpha is split over them."""
        return len(self.judged_stages) + (1 if self.has_shadow else 0)

    def to_dict(self) -> dict[str, Any]:
        out = self._settings_dict()
        if self.notify:
            out["notify"] = routes_to_dict(self.notify)
        return out

    def _settings_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "endpoint": self.endpoint,
            "shadow": {
                "percent": self.shadow_percent,
                "duration": self.shadow_duration,
                "max_duration": self.shadow_max_duration,
                "on_no_data": self.shadow_on_no_data,
            },
            "stages": [s.to_dict() for s in self.stages],
            "judge": self.judge.to_dict(),
            "on_deadline": self.on_deadline,
            "watch_window": self.watch_window,
            "delete_old_deployment": self.delete_old_deployment,
            "delete_failed_deployment": self.delete_failed_deployment,
            "instance_count": self.instance_count,
            "capacity": self.capacity,
            "headroom": self.headroom,
            "on_newer_version": self.on_newer_version,
            "provisioning_timeout": self.provisioning_timeout,
            "warmup": self.warmup,
            "settle": self.settle,
            "errors": list(self.errors),
            "guardrails": self.guardrails.to_dict() if self.guardrails.active else None,
            "smoke": self.smoke.to_dict() if self.smoke else None,
            "compare": self.compare.to_dict() if self.compare else None,
        }
