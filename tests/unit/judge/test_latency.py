"""exceedances_from_latencies: per-request latencies to the judge's exceedance counts."""

from __future__ import annotations

import pytest

from shared.errors import InvalidInput
from shared.judge import empirical_quantile, exceedances_from_latencies


def test_counts_requests_slower_than_the_previous_minutes_baseline_quantile() -> None:
    previous = [float(v) for v in range(1, 101)]  # P50 = 50, P90 = 90
    canary = [10.0, 55.0, 60.0, 95.0]
    baseline = [10.0, 20.0, 51.0, 91.0, 30.0]
    p50, p90 = exceedances_from_latencies(previous, canary, baseline, levels=(0.5, 0.9))
    assert (p50.threshold_ms, p50.canary_slow, p50.canary_total) == (50.0, 3, 4)
    assert (p50.baseline_slow, p50.baseline_total) == (2, 5)
    assert (p90.threshold_ms, p90.canary_slow, p90.baseline_slow) == (90.0, 1, 1)
    assert p50.canary_threshold_ms is None


def test_a_margin_raises_the_canarys_threshold_only() -> None:
    (e,) = exceedances_from_latencies([100.0] * 10, [105.0, 115.0], [105.0], levels=(0.5,),
                                      margin=0.1)  # fmt: skip
    assert e.canary_threshold_ms == pytest.approx(110.0)
    assert (e.canary_slow, e.baseline_slow) == (1, 1)


def test_no_previous_baseline_minute_gives_no_data() -> None:
    assert exceedances_from_latencies([], [1.0], [1.0]) == ()


def test_empirical_quantile_is_the_smallest_value_covering_the_level() -> None:
    assert empirical_quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0
    assert empirical_quantile([1.0, 2.0, 3.0, 4.0], 0.51) == 3.0


def test_negative_latency_is_refused() -> None:
    with pytest.raises(InvalidInput, match="canary_ms"):
        exceedances_from_latencies([1.0], [-1.0], [1.0])
