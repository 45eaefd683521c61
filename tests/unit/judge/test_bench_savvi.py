"""The benchmark's savvi rows: its vectorised odds and confidence bound are the package's own."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from bench._judge_savvi import log_odds, ratio_upper_bound, savvi_rule
from bench._judge_sim import FloatArray, Scenario, Series, Truth, simulate


@pytest.mark.parametrize(
    ("x", "y", "rho"),
    [(3, 27, 0.1), (12, 20, 0.25), (40, 41, 0.5), (1, 60, 0.1), (9, 0, 0.1)],
)
def test_ratio_upper_bound_matches_savvis_own_confidence_sequence(
    x: int, y: int, rho: float
) -> None:
    from savvi.multinomial import InhomogeneousPoissonProcess

    p = InhomogeneousPoissonProcess(0.05, np.array([rho, 1 - rho]), np.array([[1, -1]]), k=100)
    p.update(np.array([x, y]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        upper = float(p.calculate_conf_int()[0, 1])
    ours = float(ratio_upper_bound(x, y, rho, 0.05))
    if math.isinf(ours):
        assert math.isnan(upper) or upper > 20  # the solver: unbounded (no value) or huge
    else:
        assert ours == pytest.approx(upper, abs=2e-3)


def test_no_events_leave_the_ratio_unbounded() -> None:
    assert math.isinf(float(ratio_upper_bound(0, 0, 0.1, 0.05)))


@pytest.mark.parametrize(
    ("x", "y", "rho"),
    [(0, 0, 0.1), (3, 27, 0.1), (12, 20, 0.25), (40, 41, 0.5), (1, 60, 0.1), (9, 0, 0.1)],
)
def test_log_odds_is_the_packages_posterior_odds(x: int, y: int, rho: float) -> None:
    from savvi.multinomial import InhomogeneousPoissonProcess

    p = InhomogeneousPoissonProcess(0.01, np.array([rho, 1 - rho]), np.array([[1, -1]]), k=100)
    p.update(np.array([x, y]))
    assert float(log_odds(x, y, rho)) == pytest.approx(math.log(float(p.odds)), abs=1e-9)


def test_savvi_rule_rolls_back_where_the_package_asked_every_minute_does() -> None:
    from savvi.multinomial import InhomogeneousPoissonProcess

    sc = Scenario("staged", 12, ((0, 0.1), (6, 0.5)))
    s = simulate(sc, Truth(error=2.0), 40, seed=3)
    weights, _ = sc.weights()
    got = savvi_rule(s, weights, 0.01, 0.05).rollback
    expected = np.full(s.rollouts, -1)
    for r in range(s.rollouts):
        cx = cy = 0
        for t in range(s.minutes):
            if t == 6:
                cx = cy = 0  # restarted at the stage change
            cx, cy = cx + int(s.x[r, t]), cy + int(s.y[r, t])
            share = float(weights[t])
            p = InhomogeneousPoissonProcess(
                0.01, np.array([share, 1 - share]), np.array([[1, -1]]), k=100
            )
            p.update(np.array([cx, cy]))
            if float(p.odds) >= 100 and cx * (1 - share) > cy * share:
                expected[r] = t
                break
    assert got.tolist() == expected.tolist()
    assert (got >= 0).sum() > 20  # the series does hold rollbacks to compare


def _latency_series(
    truth: float, requests_per_minute: int, rollouts: int = 200
) -> tuple[Series, FloatArray]:

    sc = Scenario("c", 30, ((0, 0.1),), requests_per_minute=requests_per_minute)
    s = simulate(sc, Truth(latency=truth), rollouts, seed=5, latency=True, latency_margin=0.1)
    weights, _ = sc.weights()
    return s, weights


def test_savvi_judging_latency_clears_no_sooner_than_on_errors_alone() -> None:
    from bench._judge_savvi import savvi_with_latency

    s, weights = _latency_series(1.0, 6000)
    errors = savvi_rule(s, weights, 0.01, 0.05).cleared
    both = savvi_with_latency(s, weights, 0.01, 0.05, min_tail=5).cleared
    assert (both >= 0).mean() > 0.9
    assert ((both < 0) | (errors >= 0) & (both >= errors)).all()
    assert np.median(both) > np.median(errors)  # P99 at 600 canary requests a minute is slow


def test_savvi_judging_latency_skips_a_level_not_measurable_at_this_traffic() -> None:
    from bench._judge_savvi import savvi_with_latency

    # 100 canary requests a minute: 1 beyond P99, fewer than min_tail 5; P50 and P90 count
    s, weights = _latency_series(1.0, 1000)
    with_p99 = savvi_with_latency(s, weights, 0.01, 0.05, min_tail=1).cleared
    without = savvi_with_latency(s, weights, 0.01, 0.05, min_tail=5).cleared
    assert (without >= 0).mean() > (with_p99 >= 0).mean() + 0.2


def test_savvi_judging_latency_rolls_back_a_slower_canary() -> None:
    from bench._judge_savvi import savvi_with_latency

    s, weights = _latency_series(1.3, 6000)
    assert (savvi_with_latency(s, weights, 0.01, 0.05, min_tail=5).rollback >= 0).mean() > 0.95
    assert (savvi_rule(s, weights, 0.01, 0.05).rollback >= 0).mean() < 0.05  # errors only
