"""Absolute guardrails on the canary's own minutes, whatever the baseline does. Pure.

A policy's ``guardrails`` section, e.g. ``{p95_latency_ms: 500, error_rate: 0.01, for: 3m}``,
sets limits on the canary alone. A limit is breached when each of the last ``for`` minutes
given (oldest first; pass settled minutes) is above it: a minute without the value (no canary
traffic, fewer than ``min_requests`` canary requests, no such percentile) breaks the run, so
missing data never breaches. The engine rolls back on a breach, with its reason and evidence.

``for`` is counted in metric minutes (``for: 3m`` = the last 3 minutes).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.errors import InvalidInput, PolicyError
from shared.judge.types import Minute, Verdict

GUARDRAIL_BREACHED = "GuardrailBreached"

# policy key -> Minute field of the canary's per-minute percentile
LATENCY_LIMITS: dict[str, str] = {
    "p50_latency_ms": "canary_p50",
    "p90_latency_ms": "canary_p90",
    "p95_latency_ms": "canary_p95",
    "p99_latency_ms": "canary_p99",
}
_KEYS = ("error_rate", *LATENCY_LIMITS, "for", "min_requests")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*$")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_DIGITS = 6


@dataclass(frozen=True)
class Guardrails:
    """Absolute limits on the canary (None: not guarded). ``for_minutes`` consecutive minutes
    above a limit breach it; ``min_requests`` canary requests make a minute count."""

    error_rate: float | None = None
    p50_latency_ms: float | None = None
    p90_latency_ms: float | None = None
    p95_latency_ms: float | None = None
    p99_latency_ms: float | None = None
    for_minutes: int = 3
    min_requests: int = 1

    @property
    def enabled(self) -> bool:
        return self.error_rate is not None or any(
            getattr(self, key) is not None for key in LATENCY_LIMITS
        )

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None, path: str = "guardrails") -> Guardrails:
        """Validate policy data; errors name the offending field (PolicyError)."""
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise PolicyError(path, "must be a mapping like {error_rate: 0.01, for: 3m}")
        unknown = sorted(set(raw) - set(_KEYS))
        if unknown:
            raise PolicyError(f"{path}.{unknown[0]}", f"unknown field (known: {list(_KEYS)})")
        values: dict[str, Any] = {}
        for key, value in raw.items():
            where = f"{path}.{key}"
            if key == "error_rate":
                values[key] = None if value is None else _number(where, value, hi=1.0)
            elif key in LATENCY_LIMITS:
                values[key] = None if value is None else _number(where, value)
            elif key == "for":
                values["for_minutes"] = _minutes(where, value)
            else:  # min_requests
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise PolicyError(where, "must be a whole number >= 1")
                values[key] = value
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Policy data that :meth:`from_mapping` reads back (``for`` in seconds)."""
        out: dict[str, Any] = {"error_rate": self.error_rate}
        out.update({key: getattr(self, key) for key in LATENCY_LIMITS})
        out["for"] = self.for_minutes * 60
        out["min_requests"] = self.min_requests
        return out


@dataclass(frozen=True)
class Breach:
    """A guardrail breached: ``metric`` is its policy key; ``evidence`` plain JSON data."""

    metric: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    reason: str = GUARDRAIL_BREACHED

    def to_verdict(self) -> Verdict:
        return Verdict("rollback", self.reason, {**self.evidence, "message": self.message})


def evaluate_guardrails(minutes: Sequence[Minute], guardrails: Guardrails) -> Breach | None:
    """The first limit (error rate, then P50, P90, P95, P99) breached in each of the last
    ``for_minutes`` minutes, or None. Raises InvalidInput on a malformed minute."""
    if not guardrails.enabled:
        return None
    for i, minute in enumerate(minutes):
        if not isinstance(minute, Minute):
            raise InvalidInput(f"minutes[{i}] must be a Minute, got {type(minute).__name__}")
    window = list(minutes)[-guardrails.for_minutes :]
    breached: list[tuple[str, float, list[float | None]]] = []
    if guardrails.error_rate is not None:
        rates = [_error_rate(m, i, guardrails.min_requests) for i, m in enumerate(window)]
        breached.append(("error_rate", guardrails.error_rate, rates))
    for key, name in LATENCY_LIMITS.items():
        limit = getattr(guardrails, key)
        if limit is not None:
            values = [_latency(m, name, guardrails.min_requests) for m in window]
            breached.append((key, limit, values))
    hits = [
        (key, limit, values)
        for key, limit, values in breached
        if len(values) == guardrails.for_minutes
        and all(v is not None and v > limit for v in values)
    ]
    if not hits:
        return None
    key, limit, values = hits[0]
    shown = [float(v) for v in values if v is not None]
    evidence: dict[str, Any] = {
        "guardrail": key,
        "limit": limit,
        "for_minutes": guardrails.for_minutes,
        "min_requests": guardrails.min_requests,
        "values": [round(v, _DIGITS) for v in shown],
        "minutes": [None if m.start is None else m.start.isoformat() for m in window],
        "canary_requests": [m.canary_requests for m in window],
        "breached": [k for k, _, _ in hits],
    }
    return Breach(metric=key, message=_message(key, limit, shown), evidence=evidence)


def _error_rate(minute: Minute, index: int, min_requests: int) -> float | None:
    n, x = minute.canary_requests, minute.canary_errors
    for value, name in ((n, "canary_requests"), (x, "canary_errors")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInput(f"minutes[{index}].{name} must be a whole number >= 0")
    if n < min_requests or n == 0 or x > n:
        return None
    return x / n


def _latency(minute: Minute, name: str, min_requests: int) -> float | None:
    value = getattr(minute, name)
    if value is None or minute.canary_requests < min_requests:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _message(key: str, limit: float, values: list[float]) -> str:
    n = len(values)
    if key == "error_rate":
        shown = ", ".join(f"{100 * v:.2f} %" for v in values)
        return (
            f"canary error rate above {100 * limit:g} % in each of the last {n} minutes ({shown})"
        )
    shown = ", ".join(f"{v:g} ms" for v in values)
    level = key.split("_", 1)[0].upper()
    return f"canary {level} latency above {limit:g} ms in each of the last {n} minutes ({shown})"


def _number(where: str, value: Any, hi: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PolicyError(where, f"must be a number, got {value!r}")
    v = float(value)
    if v <= 0 or (hi is not None and v >= hi):
        bound = f"between 0 and {hi:g} (exclusive)" if hi is not None else "above 0"
        raise PolicyError(where, f"must be {bound}, got {v:g}")
    return v


def _minutes(where: str, value: Any) -> int:
    """Whole metric minutes from seconds or ``90s``/``3m``/``1h`` (at least one minute)."""
    if isinstance(value, bool):
        raise PolicyError(where, f"must be a duration like 3m, got {value!r}")
    if isinstance(value, int | float) and math.isfinite(value):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise PolicyError(where, f"must be a duration like 90s, 3m, 1h (got {value!r})")
    if seconds < 60 or seconds % 60:
        raise PolicyError(where, f"must be a whole number of minutes, at least 1m (got {value!r})")
    return int(seconds // 60)
