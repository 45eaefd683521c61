"""The peer: savvi (PyPI ``savvi``), Lindon and Malek's 2022 anytime-valid multinomial test, as
its ``InhomogeneousPoissonProcess`` canary test, restarted at each stage change with the new
split (its assignment probabilities ``rho`` are fixed when built).

Rollback: the package's posterior odds (a Dirichlet(k rho) mixture against "errors split as the
traffic", two-sided) reach ``1/alpha`` while the canary's estimated rate is the higher one.
Clear: its confidence sequence on the log canary/baseline rate ratio lies below
``log(clear_margin)``. The package solves that bound with cvxpy (tens of ms a call, too slow
for a benchmark of thousands of rollouts); :func:`ratio_upper_bound` computes the same bound
from the same formula, vectorised, and ``tests/unit/judge/test_bench_savvi.py`` checks it
against the package's ``calculate_conf_int``.

The package's odds and bound are computed here from its formulas, vectorised (:func:`log_odds`,
:func:`ratio_upper_bound`), and checked against the package by the unit tests; only scipy is
imported, lazily.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bench._judge_sim import FloatArray, IntArray, Series

K_DEFAULT = 100.0


def _lbeta2(a: FloatArray, b: FloatArray) -> FloatArray:
    from scipy.special import gammaln

    out: FloatArray = gammaln(a) + gammaln(b) - gammaln(a + b)
    return out


def ratio_upper_bound(
    x: npt.ArrayLike, y: npt.ArrayLike, rho: npt.ArrayLike, alpha: float, k: float = K_DEFAULT
) -> FloatArray:
    """Upper end of savvi's confidence sequence on log(canary rate / baseline rate) after
    ``x`` canary and ``y`` baseline error events with split ``rho`` (arrays broadcast).

    The set is {d : x log theta(d) + y log(1 - theta(d)) >= c + log(alpha)},
    theta(d) = rho e^d / (rho e^d + 1 - rho), c = log B(k rho + x, k (1 - rho) + y) -
    log B(k rho, k (1 - rho)) (savvi.multinomial.InhomogeneousBernoulliProcess
    .calculate_conf_int, contrast [1, -1]). +inf where the set is unbounded above.
    """
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    r = np.asarray(rho, dtype=np.float64)
    xa, ya, r = np.broadcast_arrays(xa, ya, r)
    c = _lbeta2(k * r + xa, k * (1 - r) + ya) - _lbeta2(k * r, k * (1 - r))
    level = c + math.log(alpha)

    def f(d: FloatArray) -> FloatArray:
        log_theta = np.log(r) + d - np.logaddexp(np.log(r) + d, np.log1p(-r))
        log_rest = np.log1p(-r) - np.logaddexp(np.log(r) + d, np.log1p(-r))
        out: FloatArray = np.where(xa > 0, xa * log_theta, 0.0) + np.where(
            ya > 0, ya * log_rest, 0.0
        )
        return out

    # f is concave with its maximum at the MLE; the upper end lies between it and +30
    total = xa + ya
    with np.errstate(divide="ignore", invalid="ignore"):
        mle = np.where(
            (xa > 0) & (ya > 0),
            np.log(xa / np.maximum(ya, 1e-300)) - np.log(r / (1 - r)),
            np.where(xa > 0, 30.0, -30.0),
        )
    lo = np.clip(mle, -30.0, 30.0)
    hi = np.full_like(lo, 30.0)
    inside = f(lo) >= level
    unbounded = (f(hi) >= level) | (total == 0)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        ok = f(mid) >= level
        lo = np.where(ok, mid, lo)
        hi = np.where(ok, hi, mid)
    out: FloatArray = np.where(unbounded, np.inf, np.where(inside, lo, -np.inf))
    return out


def log_odds(
    x: npt.ArrayLike, y: npt.ArrayLike, rho: npt.ArrayLike, k: float = K_DEFAULT
) -> FloatArray:
    """log of savvi's posterior odds after ``x`` canary and ``y`` baseline error events with
    split ``rho``, for a process started fresh (arrays broadcast): the Dirichlet(k rho)
    marginal likelihood over the null's, ``log B(k rho + c) - log B(k rho) - sum c log rho``
    (savvi.multinomial.Multinomial.update_odds, which InhomogeneousPoissonProcess uses).
    ``tests/unit/judge/test_bench_savvi.py`` checks it against the package's ``odds``."""
    from scipy.special import xlogy

    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    r = np.asarray(rho, dtype=np.float64)
    xa, ya, r = np.broadcast_arrays(xa, ya, r)
    out: FloatArray = (
        _lbeta2(k * r + xa, k * (1 - r) + ya)
        - _lbeta2(k * r, k * (1 - r))
        - xlogy(xa, r)
        - xlogy(ya, 1 - r)
    )
    return out


@dataclass(frozen=True)
class SavviResult:
    rollback: IntArray  # minute index of the rollback, -1: none
    cleared: IntArray  # minute index the first stage was first cleared, -1: never


def savvi_rule(
    s: Series,
    weights: FloatArray,
    alpha: float,
    clear_alpha: float,
    clear_margin: float = 2.0,
    k: float = K_DEFAULT,
    views: tuple[IntArray, IntArray] | None = None,
) -> SavviResult:
    """savvi asked every minute, restarted at each stage with that stage's configured split.

    ``views`` (optional): per tick the (canary, baseline) error counts of the newest minute as
    then seen (late, partial minutes); earlier minutes are final. Without it every minute is
    seen final.
    """
    cx, cy = _stage_cumulative(s, s.x, s.y, views)
    rollback = _first(_fired(cx, cy, weights, alpha, k))
    cleared = _first(_clears(s, cx, cy, weights, clear_alpha, clear_margin, k))
    return SavviResult(rollback=rollback, cleared=_before(cleared, rollback))


def savvi_with_latency(
    s: Series,
    weights: FloatArray,
    alpha: float,
    clear_alpha: float,
    min_tail: int,
    clear_margin: float = 2.0,
    k: float = K_DEFAULT,
) -> SavviResult:
    """savvi judging latency as well, from the same per-request counts as ours: its test on
    each level's exceedance counts (canary requests slower than the baseline's previous-minute
    quantile x (1 + margin), baseline requests slower than the quantile) beside its test on
    the error counts. Rollback: the error counts' odds reach ``2 / alpha`` or a level's
    ``2 x levels / alpha`` (Bonferroni as ours: alpha split between errors and latency, and
    latency's share between the levels). Clear: the error rate within ``clear_margin`` and
    every level measurable so far (by ours' rule: ``min_tail`` requests beyond the quantile on
    each side in at least half the minutes) shown not slower (its bound on the exceedance
    ratio below 1); at least one level measurable. Needs a series simulated with latency."""
    metrics = [(s.x, s.y)] + [(cs, bs) for _, _, cs, bs in s.exceedances.values()]
    cumulative = [_stage_cumulative(s, x, y, None) for x, y in metrics]
    fired = np.zeros(s.x.shape, dtype=bool)
    levels = len(metrics) - 1
    for i, (cx, cy) in enumerate(cumulative):
        share = alpha / 2.0 if i == 0 else alpha / (2.0 * levels)
        fired |= _fired(cx, cy, weights, share, k)
    rollback = _first(fired)
    cx, cy = cumulative[0]
    clears = _clears(s, cx, cy, weights, clear_alpha, clear_margin, k)
    first = s.stage == s.stage[0]
    minutes = np.arange(1, int(first.sum()) + 1)[None, :]
    any_measurable = np.zeros(clears.shape, dtype=bool)
    for level, (lx, ly) in zip(s.exceedances, cumulative[1:], strict=True):
        tail = 1.0 - level
        ok = (s.n[:, first] * tail >= min_tail - 1e-9) & (s.m[:, first] * tail >= min_tail - 1e-9)
        seen = np.cumsum(ok, axis=1)
        measurable = (seen > 0) & (2 * seen >= minutes)
        level_clear = _clears(s, lx, ly, weights, clear_alpha, 1.0, k)
        clears &= level_clear | ~measurable
        any_measurable |= measurable
    cleared = _first(clears & any_measurable)
    return SavviResult(rollback=rollback, cleared=_before(cleared, rollback))


def _stage_cumulative(
    s: Series, x: IntArray, y: IntArray, views: tuple[IntArray, IntArray] | None
) -> tuple[IntArray, IntArray]:
    """Cumulative counts since the stage started, per tick, as seen then (``views``: the newest
    minute as first read; earlier minutes final)."""
    r_count, t_count = x.shape
    stage = s.stage.tolist()
    cx = np.zeros((r_count, t_count), dtype=np.int64)
    cy = np.zeros((r_count, t_count), dtype=np.int64)
    run_x = np.zeros(r_count, dtype=np.int64)
    run_y = np.zeros(r_count, dtype=np.int64)
    for t in range(t_count):
        if t > 0 and stage[t] != stage[t - 1]:
            run_x[:] = 0
            run_y[:] = 0
        seen_x = x[:, t] if views is None else views[0][:, t]
        seen_y = y[:, t] if views is None else views[1][:, t]
        cx[:, t] = run_x + seen_x
        cy[:, t] = run_y + seen_y
        run_x += x[:, t]
        run_y += y[:, t]
    return cx, cy


def _fired(
    cx: IntArray, cy: IntArray, weights: FloatArray, alpha: float, k: float
) -> npt.NDArray[np.bool_]:
    """Ticks at which savvi's odds reach 1/alpha with the canary the worse side. Its odds
    telescope: a process restarted at the stage and fed the stage's cumulative counts as seen
    at this tick has the odds of that sequence."""
    rho = np.broadcast_to(weights[None, :], cx.shape)
    worse = cx * (1 - rho) > cy * rho
    out: npt.NDArray[np.bool_] = (log_odds(cx, cy, rho, k) >= math.log(1.0 / alpha)) & worse
    return out


def _clears(
    s: Series,
    cx: IntArray,
    cy: IntArray,
    weights: FloatArray,
    clear_alpha: float,
    margin: float,
    k: float,
) -> npt.NDArray[np.bool_]:
    """Ticks of the first stage at which savvi's bound on the ratio lies below ``margin``."""
    first = s.stage == s.stage[0]
    upper = ratio_upper_bound(cx[:, first], cy[:, first], weights[first][None, :], clear_alpha, k)
    out: npt.NDArray[np.bool_] = upper < math.log(margin)
    return out


def _first(hit: npt.NDArray[np.bool_]) -> IntArray:
    out: IntArray = np.where(hit.any(axis=1), hit.argmax(axis=1), -1).astype(np.int64)
    return out


def _before(cleared: IntArray, rollback: IntArray) -> IntArray:
    """A clear after the rollback does not count."""
    out: IntArray = np.where((rollback >= 0) & (cleared > rollback), -1, cleared)
    return out
