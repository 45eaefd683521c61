"""Values the judge takes and gives: per-minute observations, settings, and the verdict.

Pure data, no I/O. The engine builds :class:`Minute` values from Azure Monitor metrics and
records :class:`Verdict` (decision, reason constant, evidence as plain data) with every decision.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal

from shared.errors import PolicyError

Decision = Literal["rollback", "promote", "hold"]


@dataclass(frozen=True)
class Exceedance:
    """Per-request latency data for one quantile level in one minute.

    ``threshold_ms`` is the baseline's empirical ``level``-quantile of the previous minute;
    the counts are the requests of this minute slower than it. ``canary_threshold_ms`` is the
    threshold the canary's requests were compared with when it differs: ``threshold_ms x (1 +
    latency_margin)`` tests "canary at most ``latency_margin`` slower" (None: ``threshold_ms``,
    i.e. a margin of 0). :func:`shared.judge.exceedances_from_latencies` builds these.
    """

    level: float
    threshold_ms: float
    canary_slow: int
    canary_total: int
    baseline_slow: int
    baseline_total: int
    canary_threshold_ms: float | None = None


@dataclass(frozen=True)
class Minute:
    """One closed minute of canary-vs-baseline observations (counts are requests and 5xx)."""

    canary_requests: int
    canary_errors: int
    baseline_requests: int
    baseline_errors: int
    start: datetime | None = None
    canary_p50: float | None = None
    canary_p90: float | None = None
    canary_p99: float | None = None
    baseline_p50: float | None = None
    baseline_p90: float | None = None
    baseline_p99: float | None = None
    exceedances: tuple[Exceedance, ...] = ()
    # P95 (Azure Monitor RequestLatency_P95): the guardrails', and the judge's when a policy
    # guards the 0.95 level
    canary_p95: float | None = None
    baseline_p95: float | None = None


@dataclass(frozen=True)
class JudgeSettings:
    """How a stage is judged. Every field has a safe default; the policy may override any.

    alpha:             rollback error budget over the whole stage (anytime-valid)
    tolerance:         r0, the canary/baseline error-rate ratio tolerated before rollback
    clear_margin:      m, the ratio the canary must be shown to be below to be promoted
    clear_abs_margin:  d, an absolute margin (a fraction: 0.001 = 0.1 percentage points): the
                       stage also clears on evidence that the canary's error rate exceeds the
                       baseline's by less than d (one anytime-valid e-process for "ratio below
                       m OR difference below d"); zero errors on both sides is evidence for it.
                       0 turns it off (ratio only)
    clear_alpha:       alpha_p, the error budget of the clearing test
    latency_margin:    relative latency slack (0.1 = canary may be 10 % slower): rollback needs
                       evidence of a canary slower than that, promotion evidence of one within it
                       (per-request exceedance counts must be made with this margin, see
                       :class:`Exceedance`)
    latency_levels:    quantile levels guarded for latency
    guard_latency:     whether latency is a guarded metric at all (it counts in the Bonferroni
                       split only when the stage's minutes carry latency data)
    min_minutes:       minutes of data (traffic on both sides) before the stage may be promoted
    min_requests:      canary requests before the stage may be promoted
    min_error_events:  baseline+canary error events before clearing on errors may count
                       (0: no minimum beyond the evidence itself)
    estimate_dispersion: temper the error-rate rollback evidence by the extra-binomial variation of
                       the canary's share of errors estimated from the stage's minutes
                       (quasi-likelihood; keeps false rollbacks near alpha when the canary's
                       error rate jumps from minute to minute); false: plain binomial
    latency_min_tail:  a latency level L is measurable in a minute when both sides had at
                       least this many requests beyond it (requests x (1 - L)); a level not
                       measurable in at least half of the stage's minutes is reported as such
                       and does not block promotion
    """

    alpha: float = 0.01
    tolerance: float = 1.0
    clear_margin: float = 2.0
    clear_alpha: float = 0.05
    clear_abs_margin: float = 0.001
    latency_margin: float = 0.1
    latency_levels: tuple[float, ...] = (0.5, 0.9, 0.99)
    guard_latency: bool = True
    min_minutes: int = 1
    min_requests: int = 0
    min_error_events: int = 0
    estimate_dispersion: bool = True
    latency_min_tail: int = 5

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None, path: str = "judge") -> JudgeSettings:
        """Validate and build settings from policy data; errors name the offending field."""
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise PolicyError(path, "must be a mapping")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise PolicyError(f"{path}.{unknown[0]}", f"unknown field (known: {sorted(known)})")
        values: dict[str, Any] = {}
        for name, value in raw.items():
            where = f"{path}.{name}"
            if name in ("alpha", "clear_alpha"):
                values[name] = _number(where, value, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
            elif name == "tolerance":
                values[name] = _number(where, value, lo=1.0)
            elif name == "clear_margin":
                values[name] = _number(where, value, lo=1.0, lo_open=True)
            elif name == "clear_abs_margin":
                values[name] = _number(where, value, lo=0.0, hi=1.0, hi_open=True)
            elif name == "latency_margin":
                values[name] = _number(where, value, lo=0.0)
            elif name == "latency_levels":
                if not isinstance(value, list | tuple) or not value:
                    raise PolicyError(where, "must be a non-empty list of quantile levels")
                values[name] = tuple(
                    _number(f"{where}[{i}]", v, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
                    for i, v in enumerate(value)
                )
            elif name in ("guard_latency", "estimate_dispersion"):
                if not isinstance(value, bool):
                    raise PolicyError(where, "must be true or false")
                values[name] = value
            elif name == "latency_min_tail":
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise PolicyError(where, "must be a whole number >= 1")
                values[name] = value
            else:  # min_minutes, min_requests, min_error_events
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise PolicyError(where, "must be a whole number >= 0")
                values[name] = value
        built = cls(**values)
        if built.clear_margin <= built.tolerance:
            raise PolicyError(
                f"{path}.clear_margin",
                f"must be above tolerance ({built.tolerance}), got {built.clear_margin}",
            )
        return built

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["latency_levels"] = list(self.latency_levels)
        return out


@dataclass(frozen=True)
class Carried:
    """Rollback evidence carried into a stage from the rollout's earlier judged phases, as a
    log e-value per guarded metric (``shared.carry`` builds it): a stage rolls back when its
    own peak plus this reaches the threshold. It never counts towards clearing. 0: none."""

    errors: float = 0.0
    latency: float = 0.0

    def __post_init__(self) -> None:
        for name in ("errors", "latency"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"carried {name} evidence must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"carried {name} evidence must be finite, got {value!r}")


@dataclass(frozen=True)
class Verdict:
    """The judge's answer for a stage: a decision, a reason constant and its evidence."""

    decision: Decision
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)


def _number(
    where: str,
    value: Any,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PolicyError(where, f"must be a number, got {value!r}")
    v = float(value)
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise PolicyError(where, f"must be {'>' if lo_open else '>='} {lo}, got {v}")
    if hi is not None and (v > hi or (hi_open and v == hi)):
        raise PolicyError(where, f"must be {'<' if hi_open else '<='} {hi}, got {v}")
    return v
