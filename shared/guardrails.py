"""Absolute guardrails: limits on the canary alone, whatever the baseline does. Pure.

A policy's ``guardrails`` (e.g. ``{p95_latency_ms: 500, error_rate: 0.01, for: 3m}``) are
checked on the stage's settled minutes: a limit exceeded in each of the last ``ceil(for /
minute)`` consecutive minutes with canary traffic rolls the canary back, with the reason of the
limit that fired. A minute without the value (no latency reported) does not count as a breach,
so a guardrail never fires on missing data.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from shared.judge.types import Minute
from shared.model import iso
from shared.policy import GUARDRAIL_LATENCY_KEYS, Guardrails
from shared.reasons import (
    GUARDRAIL_ERROR_RATE,
    GUARDRAIL_LATENCY,
)

_LEVEL_KEY = {level: key for key, level in GUARDRAIL_LATENCY_KEYS.items()}


@dataclass(frozen=True)
class Breach:
    """A guardrail that fired: its reason constant, a message, and the minutes behind it."""

    reason: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)


def window(guard: Guardrails, step_s: float) -> int:
    """How many consecutive minutes a limit must be exceeded for."""
    return max(1, math.ceil(guard.for_s / step_s - 1e-9))


def check(minutes: Sequence[Minute], guard: Guardrails, step_s: float) -> Breach | None:
    """The first guardrail the canary broke in its last minutes, or None."""
    if not guard.active:
        return None
    n = window(guard, step_s)
    recent = [m for m in minutes if m.canary_requests > 0][-n:]
    if len(recent) < n or not _consecutive(recent, step_s):
        return None
    if guard.error_rate is not None:
        rates = [min(m.canary_errors, m.canary_requests) / m.canary_requests for m in recent]
        if all(rate > guard.error_rate for rate in rates):
            return Breach(
                GUARDRAIL_ERROR_RATE,
                f"canary error rate above {guard.error_rate:g} for {n} minute(s)",
                _evidence("error_rate", guard.error_rate, guard, recent, rates),
            )
    for level, limit in sorted(guard.latency_ms.items()):
        values = [getattr(m, f"canary_{level}", None) for m in recent]
        if all(v is not None and v > limit for v in values):
            key = _LEVEL_KEY[level]
            return Breach(
                GUARDRAIL_LATENCY,
                f"canary {level.upper()} latency above {limit:g} ms for {n} minute(s)",
                _evidence(key, limit, guard, recent, values),
            )
    return None


def _consecutive(minutes: Sequence[Minute], step_s: float) -> bool:
    starts = [m.start for m in minutes]
    if any(s is None for s in starts):
        return True  # undated minutes: taken as consecutive
    step = timedelta(seconds=step_s)
    return all(b - a <= step * 1.5 for a, b in itertools.pairwise(starts))  # type: ignore[operator]


def _evidence(
    key: str, limit: float, guard: Guardrails, minutes: Sequence[Minute], values: Sequence[Any]
) -> dict[str, Any]:
    return {
        "guardrail": key,
        "limit": limit,
        "for_s": guard.for_s,
        "minutes": [
            {"start": iso(m.start), "value": None if v is None else round(float(v), 6)}
            for m, v in zip(minutes, values, strict=True)
        ],
    }
