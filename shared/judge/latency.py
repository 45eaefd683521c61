"""Per-request latency to exceedance counts: what the judge needs from request logs. Pure.

For each level L the threshold is the baseline's empirical L-quantile of the *previous* minute,
fixed before the minute being counted, so that in the minute counted canary and baseline
requests face the same threshold. Counting the canary against ``threshold x (1 + margin)``
tests "the canary is at most ``margin`` slower" (exact for a change of scale).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from shared.errors import InvalidInput
from shared.judge.types import Exceedance


def empirical_quantile(sorted_values: Sequence[float], level: float) -> float:
    """The smallest value with at least ``level`` of the sample at or below it."""
    if not sorted_values:
        raise InvalidInput("empirical quantile of an empty sample")
    if not 0.0 < level < 1.0:
        raise InvalidInput(f"quantile level must be in (0, 1), got {level!r}")
    rank = max(1, math.ceil(level * len(sorted_values)))
    return float(sorted_values[rank - 1])


def exceedances_from_latencies(
    previous_baseline_ms: Iterable[float],
    canary_ms: Iterable[float],
    baseline_ms: Iterable[float],
    levels: Sequence[float] = (0.5, 0.9, 0.99),
    margin: float = 0.0,
) -> tuple[Exceedance, ...]:
    """Exceedance counts of one minute from per-request latencies (milliseconds).

    ``previous_baseline_ms`` are the baseline's latencies of the minute before. Returns no
    entries when the previous minute has no baseline request (no threshold: no data).
    """
    if not math.isfinite(margin) or margin < 0:
        raise InvalidInput(f"latency margin must be finite and >= 0, got {margin!r}")
    previous = sorted(_checked(previous_baseline_ms, "previous_baseline_ms"))
    canary = _checked(canary_ms, "canary_ms")
    baseline = _checked(baseline_ms, "baseline_ms")
    if not previous:
        return ()
    out: list[Exceedance] = []
    for level in levels:
        threshold = empirical_quantile(previous, level)
        if threshold <= 0:
            continue  # a zero quantile gives no usable threshold
        canary_threshold = threshold * (1.0 + margin)
        out.append(
            Exceedance(
                level=level,
                threshold_ms=threshold,
                canary_slow=sum(1 for v in canary if v > canary_threshold),
                canary_total=len(canary),
                baseline_slow=sum(1 for v in baseline if v > threshold),
                baseline_total=len(baseline),
                canary_threshold_ms=canary_threshold if margin else None,
            )
        )
    return tuple(out)


def _checked(values: Iterable[float], name: str) -> list[float]:
    out = [float(v) for v in values]
    for v in out:
        if not math.isfinite(v) or v < 0:
            raise InvalidInput(f"{name}: latencies must be finite and >= 0, got {v!r}")
    return out
