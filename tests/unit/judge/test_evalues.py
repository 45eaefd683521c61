"""The count and sign e-processes against a reference written from the formula."""

from __future__ import annotations

import math
import random

from shared.judge.evalues import CLEAR_GRID, ROLLBACK_GRID, RatioProcess, SignProcess


def _reference_log_e(
    minutes: list[tuple[int, int, int, int]], null: float, alts: list[float]
) -> float:
    """log of mean_j prod_t [theta_j^x (1-theta_j)^(k-x)] / [theta_0^x (1-theta_0)^(k-x)]."""
    sums = [0.0] * len(alts)
    for n, x, m, y in minutes:
        k = x + y
        if n == 0 or m == 0 or k == 0:
            continue
        rho = n / (n + m)

        def theta(r: float, rho: float = rho) -> float:
            return rho * r / (rho * r + 1 - rho)

        t0 = theta(null)
        for j, r in enumerate(alts):
            t = theta(r)
            sums[j] += x * math.log(t / t0) + (k - x) * math.log((1 - t) / (1 - t0))
    return math.log(sum(math.exp(s) for s in sums) / len(sums))


def test_ratio_process_matches_the_conditional_binomial_likelihood_ratio() -> None:
    rng = random.Random(7)
    for null, grid in ((1.0, ROLLBACK_GRID), (1.25, ROLLBACK_GRID), (2.0, CLEAR_GRID)):
        minutes = []
        p = RatioProcess(null, grid)
        for t in range(40):
            n, m = rng.randint(0, 900), rng.randint(0, 6000)
            x, y = rng.randint(0, min(n, 12)), rng.randint(0, min(m, 40))
            minutes.append((n, x, m, y))
            p.add(n, x, m, y, t)
        expected = _reference_log_e(minutes, null, [null * f for f in grid])
        assert math.isclose(p.log_e, expected, rel_tol=1e-9, abs_tol=1e-9)


def test_rollback_evidence_grows_with_canary_errors_and_clearing_evidence_shrinks() -> None:
    previous_up, previous_clear = -math.inf, math.inf
    for x in range(0, 40):
        up, clear = RatioProcess(1.0, ROLLBACK_GRID), RatioProcess(2.0, CLEAR_GRID)
        up.add(600, x, 5400, 27, 0)
        clear.add(600, x, 5400, 27, 0)
        assert up.log_e > previous_up
        assert clear.log_e < previous_clear
        previous_up, previous_clear = up.log_e, clear.log_e


def test_minute_without_traffic_or_events_leaves_the_process_at_one() -> None:
    p = RatioProcess(1.0, ROLLBACK_GRID)
    assert not p.add(0, 0, 5400, 3, 0)
    assert not p.add(600, 0, 0, 0, 1)
    assert not p.add(600, 0, 5400, 0, 2)
    assert p.log_e == 0.0 and p.peak_minute is None and p.events == 0


def test_sign_process_is_the_mean_of_its_alternatives_likelihood_ratios() -> None:
    s = SignProcess()
    for t in range(10):
        s.add(True, t)
    # all ones: the q = 0.99 alternative dominates: log E ~ 10 log(1.98) - log(6)
    assert math.isclose(
        s.log_e, math.log(sum((2 * q) ** 10 for q in (0.6, 0.7, 0.8, 0.9, 0.95, 0.99)) / 6)
    )
    assert s.peak_minute == 9 and s.ones == 10
