"""Anytime-valid e-processes on per-minute counts and per-minute comparisons. Pure ``math``.

Each process is a mixture over a fixed grid of alternatives, kept in log space. Under its null
hypothesis every minute's factor has conditional mean <= 1 given the past, so the mixture is a
nonnegative supermartingale and, by Ville's inequality, crosses ``1/alpha`` with probability at
most ``alpha`` however often it is looked at.

Counts (:class:`RatioProcess`): canary ``n`` requests with ``x`` events, baseline ``m`` requests
with ``y`` events. Given ``k = x + y``, ``x`` is binomial with
``theta(r) = rho r / (rho r + 1 - rho)`` where ``rho = n / (n + m)`` is the observed traffic
share of the minute and ``r`` the canary/baseline event-rate ratio. The log-likelihood ratio of
``r`` against the null ``r0`` simplifies to::

    l(r) = x log(r / r0) + k log((rho r0 + 1 - rho) / (rho r + 1 - rho))

The baseline's own rate cancels out: the test is valid whatever it does from minute to minute.

Clearing (:class:`MarginProcess`): evidence that the canary is *not* worse, i.e. against the
composite null "canary rate >= ``margin`` x baseline rate AND canary rate >= baseline rate +
``abs_margin``" (worse both ways). Every member of the mixture has the form
``exp(-lambda x + mu y + c)``; since the binomial moment generating function is at most the
Poisson one, ``E[exp(-lambda x + mu y)] <= exp(-A p_c + B p_b)`` with ``A = n (1 - e^-lambda)``,
``B = m (e^mu - 1)``, so a member is an e-value under the whole null (any baseline rate) when
``A p_c - B p_b >= c`` there. Two families qualify:

- ratio members, ``B = margin A`` and ``c = 0``: exactly the conditional-binomial likelihood
  ratio above with the null at ``margin`` and an alternative below it;
- absolute members, ``B = A`` and ``c = A abs_margin``: ``x log(phi) + y log(1 + A/m) +
  A abs_margin`` with ``phi = e^-lambda`` in (0, 1), ``A = n (1 - phi)``. Zero errors on both
  sides is evidence here: each error-free canary request multiplies E by about
  ``exp(abs_margin (1 - phi))``.

Both are valid under the intersection null, so any predictable split of the wealth between
them is too (an e-value for the union "ratio below ``margin`` OR difference below
``abs_margin``"). The split is not a fixed mixture: a fixed one makes the two regimes pay for
each other (a canary beside a busy baseline needs the ratio members, one with no errors on
either side the absolute ones); the wealth follows the family the data so far favour, and
while no error event has been seen it all bets on the absolute margin (the ratio members
cannot gain from such a minute). See :class:`MarginProcess`.

Tempering (:class:`RatioProcess` only; the judge uses it for rollback): ``add(..., temper=phi)``
divides the log-likelihood ratio of every minute so far by a variance inflation factor
``phi >= 1`` estimated from the data as it stands after this minute (quasi-likelihood: the
whole stage's statistic over the current estimate): under extra-binomial variation of that
size the tempered factor has mean about 1 again (see :mod:`shared.judge.dispersion`). The
estimate is revised as minutes come, and so is the weight of the earlier minutes' evidence: a
first estimate inflated by chance does not keep the minutes it saw tempered for good.

Signs (:class:`SignProcess`): one bit per minute that is 1 with probability <= 1/2 under the
null; the alternative ``q`` multiplies by ``2q`` on a 1 and ``2(1 - q)`` on a 0.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

# Rollback: alternatives above the null ratio r0 (multiples of r0), and their weights: more
# of the mass on the regressions that are hard to see (1.25-2x: a 2x regression needs about
# 200 error events), less on the gross ones, which any weight finds within two minutes (one
# minute may carry at most MINUTE_SHARE of the threshold anyway).
ROLLBACK_GRID: tuple[float, ...] = (1.25, 1.5, 2.0, 3.0, 4.0, 6.0, 10.0)
ROLLBACK_WEIGHTS: tuple[float, ...] = (0.15, 0.2, 0.2, 0.15, 0.1, 0.1, 0.1)
# Clearing latency (per-request exceedance counts): alternatives below the null ratio 1, the
# ratio of the canary's share of requests slower than (1 + margin) x the baseline's quantile to
# the baseline's share slower than the quantile. A canary with the baseline's own latency has
# S((1 + m) q_L) / S(q_L) there: for lognormal latency with sigma 0.25 to 1 at the default
# margin 0.1 that is 0.70-0.92 at P50, 0.48-0.84 at P90 and 0.34-0.78 at P99, so the members
# span 0.9 to 0.3 (the grid 0.8-0.25 left P50 and P90 a member at best 0.05-0.1 off: at 100
# canary requests a minute a good canary cleared in median 25 min instead of 23, bench-judge).
CLEAR_GRID: tuple[float, ...] = (0.9, 0.75, 0.6, 0.45, 0.3)
# Clearing the error rate on the ratio margin: alternatives below the margin (multiples of it),
# weighted by a log-normal prior on the canary/baseline ratio centred on 1 ("as good as the
# baseline", the likeliest truth of a healthy rollout) with sd RATIO_PRIOR_SD on log r: a
# discretised continuous prior, so a ratio near 1 pays little for the mixture (savvi's
# Dirichlet mixture is centred the same way). Members at or above the margin are never used.
RATIO_CLEAR_GRID: tuple[float, ...] = (0.9, 0.8, 0.7, 0.6, 0.5, 0.425, 0.35, 0.275, 0.2, 0.125)
RATIO_PRIOR_SD = 0.2
# Clearing on the absolute margin: phi = e^-lambda of each member, and its weight within the
# absolute family. The first member (phi 0.01) is the "no canary errors" alternative: it
# carries most of the weight so a canary with no errors clears after about
# (log(1/clear_alpha) + 0.5) / abs_margin requests (about 3500 at the defaults).
ABS_GRID: tuple[float, ...] = (0.01, 0.15, 0.4)
ABS_WEIGHTS: tuple[float, ...] = (0.9, 0.05, 0.05)
# The ratio family's share of the clearing wealth in the first minute (see MarginProcess).
RATIO_SHARE = 0.8
# Sign test: probabilities of a "worse" bit under the alternatives.
SIGN_GRID: tuple[float, ...] = (0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


def log_mean_exp(values: Sequence[float]) -> float:
    """log(mean(exp(values))) without overflow: the log of an equal-weight mixture."""
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values) / len(values))


class RatioProcess:
    """Mixture e-process for "the canary/baseline event-rate ratio is ``null``".

    ``alternatives`` above ``null`` test for "worse than null" (rollback); below it, for
    "better than null" (clearing). ``log_e`` is the log of the e-value after the minutes added
    so far; ``peak_log_e`` the largest it has been (0 before any minute: E starts at 1).
    """

    __slots__ = (
        "_alts",
        "_cap",
        "_log_ratio",
        "_raw",
        "_steps",
        "_sums",
        "_weights",
        "events",
        "null",
        "peak_log_e",
        "peak_minute",
    )

    def __init__(
        self,
        null: float,
        multiples: Sequence[float],
        weights: Sequence[float] | None = None,
        cap: float = math.inf,
    ) -> None:
        if weights is not None and (len(weights) != len(multiples) or min(weights) <= 0):
            raise ValueError("weights: one positive weight per alternative")
        self.null = null
        total = 1.0 if weights is None else sum(weights)
        self._weights = None if weights is None else tuple(w / total for w in weights)
        self._alts = tuple(null * f for f in multiples)
        self._log_ratio = tuple(math.log(a / null) for a in self._alts)
        self._cap = cap
        self._sums = [0.0] * len(self._alts)  # the members' log e-values, as tempered now
        self._raw = [0.0] * len(self._alts)  # the members' untempered log-likelihood ratios
        # each member's one-minute steps in ascending order (only under a cap)
        self._steps: list[list[float]] = [[] for _ in self._alts] if cap < math.inf else []
        self.events = 0
        self.peak_log_e = 0.0
        self.peak_minute: int | None = None

    def add(self, n: int, x: int, m: int, y: int, minute: int, temper: float = 1.0) -> bool:
        """Add one minute's counts; False (and no change) when it carries no information.

        ``temper`` >= 1 is the variance inflation estimated *now*: every minute's
        log-likelihood ratio so far, this one's and the earlier ones', is divided by it
        (quasi-likelihood), and each member's one-minute factor is capped at ``exp(cap)``
        (a smaller factor keeps the mean <= 1, so the cap never costs validity)."""
        k = x + y
        if n <= 0 or m <= 0 or k <= 0:
            return False
        rho = n / (n + m)
        base = math.log(rho * self.null + 1.0 - rho)
        steps = tuple(
            x * self._log_ratio[j] + k * (base - math.log(rho * alt + 1.0 - rho))
            for j, alt in enumerate(self._alts)
        )
        for j, step in enumerate(steps):
            self._raw[j] += step
            if self._steps:
                bisect.insort(self._steps[j], step)
        for j in range(len(self._alts)):
            ordered = self._steps[j] if self._steps else None
            if ordered is None or ordered[-1] <= self._cap * temper:
                # no minute reaches the cap: one division
                self._sums[j] = self._raw[j] / temper
                continue
            # the minutes above cap x temper count cap each, the others their share
            above = ordered[bisect.bisect_right(ordered, self._cap * temper) :]
            self._sums[j] = (self._raw[j] - sum(above)) / temper + self._cap * len(above)
        self.events += k
        now = self.log_e
        if now > self.peak_log_e:
            self.peak_log_e = now
            self.peak_minute = minute
        return True

    @property
    def log_e(self) -> float:
        if self._weights is None:
            return log_mean_exp(self._sums)
        return log_weighted_sum(self._sums, self._weights)


class SignProcess:
    """Mixture e-process for "a minute is 'worse' with probability at most 1/2"."""

    __slots__ = ("_down", "_sums", "_up", "bits", "ones", "peak_log_e", "peak_minute")

    def __init__(self, grid: Sequence[float] = SIGN_GRID) -> None:
        self._sums = [0.0] * len(grid)
        self._up = tuple(math.log(2.0 * q) for q in grid)
        self._down = tuple(math.log(2.0 * (1.0 - q)) for q in grid)
        self.bits = 0
        self.ones = 0
        self.peak_log_e = 0.0
        self.peak_minute: int | None = None

    def add(self, worse: bool, minute: int) -> None:
        step = self._up if worse else self._down
        for j, s in enumerate(step):
            self._sums[j] += s
        self.bits += 1
        self.ones += int(worse)
        now = self.log_e
        if now > self.peak_log_e:
            self.peak_log_e = now
            self.peak_minute = minute

    @property
    def log_e(self) -> float:
        return log_mean_exp(self._sums)


def log_weighted_sum(logs: Sequence[float], weights: Sequence[float]) -> float:
    """log(sum_j w_j exp(logs_j)) without overflow (weights > 0)."""
    terms = [math.log(w) + v for v, w in zip(logs, weights, strict=True)]
    top = max(terms)
    return top + math.log(sum(math.exp(t - top) for t in terms))


def ratio_prior(margin: float, multiples: Sequence[float], sd: float) -> tuple[float, ...]:
    """Weights of the clearing ratio members ``margin x f``: a log-normal prior on the ratio
    centred on 1 with ``sd`` on log r, evaluated on the grid (normalised by the caller)."""
    return tuple(math.exp(-(math.log(margin * f) ** 2) / (2.0 * sd * sd)) + 1e-3 for f in multiples)


class MarginProcess:
    """Clearing e-process: "the canary's error rate is below ``margin`` x the baseline's OR
    below the baseline's + ``abs_margin``" (see the module docstring for why it is valid).

    Two families of members, each a Bayesian mixture of its own: the ratio members R (a
    log-normal prior on the ratio, centred on 1) and the absolute members A. The wealth is
    split between the families minute by minute with a *predictable* share ``pi_t`` (fixed
    before minute t is seen):

        E_t = E_{t-1} x (pi_t R_t / R_{t-1} + (1 - pi_t) A_t / A_{t-1})

    Each family's factor has conditional mean <= 1 under the null, so any share fixed in
    advance keeps E a nonnegative supermartingale (Ville's inequality applies as before).
    The share: ``ratio_share`` in the first minute; then, while no error event has been seen
    on either side, 0 (the ratio members gain nothing from a minute without error events, so
    their share bets on the absolute margin instead: zero errors on both sides clears about
    as fast as the absolute members alone); once errors were seen, the Bayes posterior share
    of the ratio family with prior ``ratio_share`` (its weight in a plain mixture).

    ``abs_margin`` 0 leaves the ratio members only (the ratio clear alone). ``log_e`` is the
    combined e-value; ``ratio_log_e`` and ``abs_log_e`` its two families (each itself an
    e-value for its own claim, reported as evidence).
    """

    __slots__ = (
        "_abs",
        "_abs_weights",
        "_log_e",
        "_ratio",
        "_share",
        "_started",
        "abs_margin",
        "events",
        "margin",
        "peak_log_e",
        "peak_minute",
    )

    def __init__(
        self,
        margin: float,
        abs_margin: float,
        ratio_multiples: Sequence[float] = RATIO_CLEAR_GRID,
        ratio_weights: Sequence[float] | None = None,
        abs_grid: Sequence[float] = ABS_GRID,
        abs_weights: Sequence[float] = ABS_WEIGHTS,
        ratio_share: float = RATIO_SHARE,
    ) -> None:
        if len(abs_grid) != len(abs_weights) or not all(0.0 < p < 1.0 for p in abs_grid):
            raise ValueError("abs_grid: one weight per member, each phi in (0, 1)")
        if not 0.0 < ratio_share < 1.0:
            raise ValueError("ratio_share must be in (0, 1)")
        self.margin = margin
        self.abs_margin = abs_margin
        if ratio_weights is None:
            ratio_weights = ratio_prior(margin, ratio_multiples, RATIO_PRIOR_SD)
        self._ratio = RatioProcess(margin, ratio_multiples, ratio_weights)
        self._abs = [(phi, math.log(phi), [0.0]) for phi in abs_grid] if abs_margin > 0 else []
        total = sum(abs_weights)
        self._abs_weights = tuple(w / total for w in abs_weights) if self._abs else ()
        self._share = ratio_share if self._abs else 1.0
        self._log_e = 0.0
        self._started = False
        self.events = 0
        self.peak_log_e = 0.0
        self.peak_minute: int | None = None

    def _ratio_share(self, first: bool) -> float:
        """The ratio family's share of the wealth for the next minute (predictable)."""
        if not self._abs:
            return 1.0
        if first:
            return self._share
        if self.events == 0:
            return 0.0
        lr, la = self._ratio.log_e, self.abs_log_e
        prior = math.log(self._share / (1.0 - self._share))
        z = la - lr - prior
        return 1.0 / (1.0 + math.exp(z)) if z < 700 else 0.0

    def add(self, n: int, x: int, m: int, y: int, minute: int) -> bool:
        """Add one minute's counts; False (and no change) when it carries no information.
        Never tempered: the judge tempers the rollback evidence only (see shared.judge.judge)."""
        if n <= 0 or m <= 0:
            return False
        share = self._ratio_share(not self._started)
        before_r, before_a = self._ratio.log_e, self.abs_log_e
        used = self._ratio.add(n, x, m, y, minute)
        for phi, log_phi, acc in self._abs:
            a = n * (1.0 - phi)
            acc[0] += x * log_phi + y * math.log1p(a / m) + a * self.abs_margin
            used = True
        if not used:
            return False
        self._started = True
        step_r = self._ratio.log_e - before_r
        if self._abs:
            step_a = self.abs_log_e - before_a
            terms = [t for t in ((share, step_r), (1.0 - share, step_a)) if t[0] > 0.0]
            self._log_e += log_weighted_sum([v for _, v in terms], [w for w, _ in terms])
        else:
            self._log_e += step_r
        self.events += x + y
        now = self.log_e
        if now > self.peak_log_e:
            self.peak_log_e = now
            self.peak_minute = minute
        return True

    @property
    def ratio_log_e(self) -> float:
        return self._ratio.log_e

    @property
    def abs_log_e(self) -> float:
        """The absolute-margin family alone (its own weighted mixture); 0 when off."""
        if not self._abs:
            return 0.0
        return log_weighted_sum([acc[0] for _, _, acc in self._abs], self._abs_weights)

    @property
    def log_e(self) -> float:
        return self._log_e
