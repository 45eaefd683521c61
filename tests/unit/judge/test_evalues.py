"""The count and sign e-processes against a reference written from the formula."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from shared.judge.evalues import (
    ABS_GRID,
    ABS_WEIGHTS,
    CLEAR_GRID,
    RATIO_CLEAR_GRID,
    RATIO_PRIOR_SD,
    RATIO_SHARE,
    ROLLBACK_GRID,
    MarginProcess,
    RatioProcess,
    SignProcess,
    ratio_prior,
)


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


# ------------------------------------------------------------------ clearing on the margins
def _reference_margin_log_e(
    minutes: list[tuple[int, int, int, int]], margin: float, abs_margin: float
) -> float:
    """The clearing e-value written out: the ratio family (conditional binomial likelihood
    ratios, null at the margin, log-normal prior weights) and the absolute family (x log(phi)
    + y log(1 + A/m) + A d), the wealth split each minute by the predictable share: RATIO_SHARE
    first, 0 while no error event was seen, then the Bayes posterior share."""
    ratio_sums = [0.0] * len(RATIO_CLEAR_GRID)
    abs_sums = [0.0] * len(ABS_GRID)
    rw = ratio_prior(margin, RATIO_CLEAR_GRID, RATIO_PRIOR_SD)
    rw = [w / sum(rw) for w in rw]
    aw = [w / sum(ABS_WEIGHTS) for w in ABS_WEIGHTS]

    def fam(sums: list[float], ws: list[float]) -> float:
        return math.log(sum(w * math.exp(v) for w, v in zip(ws, sums, strict=True)))

    log_e, events, started = 0.0, 0, False
    for n, x, m, y in minutes:
        if n == 0 or m == 0:
            continue
        r0, a0 = fam(ratio_sums, rw), fam(abs_sums, aw)
        if not started:
            share = RATIO_SHARE
        elif events == 0:
            share = 0.0
        else:
            prior = RATIO_SHARE * math.exp(r0)
            share = prior / (prior + (1 - RATIO_SHARE) * math.exp(a0))
        k, rho = x + y, n / (n + m)
        t0 = rho * margin / (rho * margin + 1 - rho)
        for j, f in enumerate(RATIO_CLEAR_GRID):
            if k == 0:
                break
            t = rho * margin * f / (rho * margin * f + 1 - rho)
            ratio_sums[j] += x * math.log(t / t0) + y * math.log((1 - t) / (1 - t0))
        for j, phi in enumerate(ABS_GRID):
            a = n * (1 - phi)
            abs_sums[j] += x * math.log(phi) + y * math.log(1 + a / m) + a * abs_margin
        r1, a1 = fam(ratio_sums, rw), fam(abs_sums, aw)
        log_e += math.log(share * math.exp(r1 - r0) + (1 - share) * math.exp(a1 - a0))
        events += k
        started = True
    return log_e


@pytest.mark.parametrize("errors", [(3, 8), (0, 0)], ids=["with-errors", "error-free-start"])
def test_margin_process_is_the_predictable_split_of_its_two_families(
    errors: tuple[int, int],
) -> None:
    rng = random.Random(9)
    minutes, p = [], MarginProcess(2.0, 0.001)
    for t in range(30):
        n, m = rng.randint(0, 900), rng.randint(0, 6000)
        cap_x, cap_y = errors if t < 5 else (3, 8)
        x, y = rng.randint(0, min(n, cap_x)), rng.randint(0, min(m, cap_y))
        minutes.append((n, x, m, y))
        p.add(n, x, m, y, t)
    assert math.isclose(p.log_e, _reference_margin_log_e(minutes, 2.0, 0.001), abs_tol=1e-9)


def test_margin_process_without_an_absolute_margin_is_the_ratio_clear_alone() -> None:
    p = MarginProcess(2.0, 0.0)
    for t in range(20):
        p.add(600, 0, 5400, 0, t)
    assert p.log_e == 0.0 and p.abs_log_e == 0.0
    p.add(600, 3, 5400, 27, 20)
    assert p.log_e == p.ratio_log_e != 0.0


def test_error_free_requests_are_evidence_for_the_absolute_margin() -> None:
    """Zero errors on both sides: after the first minute the whole wealth bets on the absolute
    margin, each clean canary request multiplying it by about exp(d (1 - phi)); six minutes of
    600 clean requests (10 req/s) clear at clear_alpha 0.05, five do not."""
    p = MarginProcess(2.0, 0.001)
    for t in range(5):
        p.add(600, 0, 5400, 0, t)
    assert 2.0 < p.log_e < math.log(20)
    p.add(600, 0, 5400, 0, 5)
    assert p.log_e >= math.log(20)


def test_a_canary_with_errors_beside_a_busy_baseline_clears_on_the_ratio() -> None:
    """0.5 % on both sides at 10 % of 100 req/s: the ratio family carries the wealth once the
    first errors are seen, and clears within five minutes of such data."""
    p = MarginProcess(2.0, 0.001)
    for t in range(5):
        p.add(600, 3, 5400, 27, t)
    assert p.log_e >= math.log(20)
    assert p.log_e > p.abs_log_e


def test_a_canary_worse_both_ways_never_builds_clearing_evidence() -> None:
    """0.3 % against 0.1 %: ratio 3 > 2 and difference 0.2 points > 0.1: E only falls."""
    p = MarginProcess(2.0, 0.001)
    for t in range(60):
        p.add(1000, 3, 5400, 5, t)
        assert p.log_e < 0


def _wrong_clears(
    runs: int, minutes: int, seed: int, pc: float, pb: float, abs_margin: float
) -> float:
    """Share of runs whose clearing e-value ever reaches 1/0.05, traffic share changing every
    minute (uniform 5-60 % of Poisson(3000) requests)."""
    rng = np.random.default_rng(seed)
    total = rng.poisson(3000, (runs, minutes))
    n = rng.binomial(total, rng.uniform(0.05, 0.6, (runs, minutes)))
    m = total - n
    x, y = rng.binomial(n, pc), rng.binomial(m, pb)
    threshold = math.log(1 / 0.05)
    hits = 0
    for r in range(runs):
        p = MarginProcess(2.0, abs_margin)
        for t in range(minutes):
            p.add(int(n[r, t]), int(x[r, t]), int(m[r, t]), int(y[r, t]), t)
            if p.log_e >= threshold:
                hits += 1
                break
    return hits / runs


@pytest.mark.parametrize(
    ("pc", "pb"),
    [(0.001, 0.0), (0.002, 0.001), (0.0013, 0.0003), (0.01, 0.005)],
    ids=["clean-baseline", "both-margins-tight", "ratio-4", "busy-baseline-ratio-2"],
)
def test_a_canary_exactly_the_absolute_margin_worse_is_wrongly_cleared_within_alpha(
    pc: float, pb: float
) -> None:
    """Anytime-valid under its null: canary rate = baseline + 0.1 points (and at least twice
    the baseline, so the ratio claim is false too), or exactly twice a busy baseline (the
    ratio family carries the wealth there), looked at every minute for 60 minutes, the share
    of the wealth moving between the families as the data says. Bound: alpha plus 3 binomial
    standard errors of the simulated rate."""
    runs, alpha = 1500, 0.05
    rate = _wrong_clears(runs, 60, seed=31, pc=pc, pb=pb, abs_margin=0.001)
    assert rate <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / runs), rate


def test_the_validity_check_would_catch_a_margin_twice_too_generous() -> None:
    """The same simulation run against a formula claiming a 0.2 point margin clears the
    0.1-point-worse canary far more often than alpha: the check above has teeth."""
    assert _wrong_clears(500, 60, seed=31, pc=0.001, pb=0.0, abs_margin=0.002) > 0.5
