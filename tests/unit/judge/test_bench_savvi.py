"""The benchmark's savvi rows: its vectorised odds and confidence bound are the package's own."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from bench._judge_savvi import log_odds, ratio_upper_bound, savvi_rule


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

    from bench._judge_sim import Scenario, Truth, simulate

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
