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

Signs (:class:`SignProcess`): one bit per minute that is 1 with probability <= 1/2 under the
null; the alternative ``q`` multiplies by ``2q`` on a 1 and ``2(1 - q)`` on a 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# Rollback: alternatives above the null ratio r0 (multiples of r0).
ROLLBACK_GRID: tuple[float, ...] = (1.25, 1.5, 2.0, 3.0, 4.0, 6.0, 10.0)
# Clearing: alternatives below the margin (multiples of the margin).
CLEAR_GRID: tuple[float, ...] = (0.8, 2.0 / 3.0, 0.5, 1.0 / 3.0, 0.25)
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

    __slots__ = ("_alts", "_log_ratio", "_sums", "events", "null", "peak_log_e", "peak_minute")

    def __init__(self, null: float, multiples: Sequence[float]) -> None:
        self.null = null
        self._alts = tuple(null * f for f in multiples)
        self._log_ratio = tuple(math.log(a / null) for a in self._alts)
        self._sums = [0.0] * len(self._alts)
        self.events = 0
        self.peak_log_e = 0.0
        self.peak_minute: int | None = None

    def add(self, n: int, x: int, m: int, y: int, minute: int) -> bool:
        """Add one minute's counts; False (and no change) when it carries no information."""
        k = x + y
        if n <= 0 or m <= 0 or k <= 0:
            return False
        rho = n / (n + m)
        base = math.log(rho * self.null + 1.0 - rho)
        for j, alt in enumerate(self._alts):
            self._sums[j] += x * self._log_ratio[j] + k * (base - math.log(rho * alt + 1.0 - rho))
        self.events += k
        now = self.log_e
        if now > self.peak_log_e:
            self.peak_log_e = now
            self.peak_minute = minute
        return True

    @property
    def log_e(self) -> float:
        return log_mean_exp(self._sums)

    def best_alternative(self) -> float:
        """The grid ratio with the largest likelihood so far (a rough point estimate)."""
        j = max(range(len(self._sums)), key=lambda i: self._sums[i])
        return self._alts[j]


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
