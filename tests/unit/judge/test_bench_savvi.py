"""The benchmark's savvi rows: its vectorised confidence bound is the package's own."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from bench._judge_savvi import ratio_upper_bound


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
