"""The canary's extra-binomial variation, estimated from a stage's minutes: the variance
inflation the judge tempers its rollback evidence by (see :class:`shared.judge.evalues.
RatioProcess`, ``temper``). Pure ``math``."""

from __future__ import annotations

import math


class Dispersion:
    """Extra-binomial variation of the canary's share of the error events, estimated from the
    data: Pearson's statistic of ``x_t`` given ``k_t`` around the pooled ratio, per degree of
    freedom, shrunk towards 1 by ``prior_df`` pseudo degrees of freedom and floored at 1; its
    excess over 1 is then raised by ``1 + upper x sqrt(2 / (df + prior_df))`` (about ``upper``
    standard errors of the estimate: a few heavy-tailed minutes more often understate the
    variation than overstate it).

    Only the canary's share matters: variation common to both deployments (a bad minute for
    everyone, a drifting baseline) cancels in the conditional test and does not inflate this.
    ``factor`` after :meth:`add` of minute t includes minute t, so an outlying minute tempers
    its own evidence.
    """

    __slots__ = ("_m", "_minutes", "_n", "_x", "_y", "prior_df", "upper")

    def __init__(self, prior_df: float = 2.0, upper: float = 0.0) -> None:
        self.prior_df = prior_df
        self.upper = upper
        self._minutes: list[tuple[int, int, float]] = []  # (x, k, rho) of minutes with events
        self._n = self._x = self._m = self._y = 0

    def add(self, n: int, x: int, m: int, y: int) -> None:
        if n <= 0 or m <= 0:
            return
        self._n += n
        self._x += x
        self._m += m
        self._y += y
        if x + y > 0:
            self._minutes.append((x, x + y, n / (n + m)))

    @property
    def minutes(self) -> int:
        """Minutes with error events (those the estimate rests on)."""
        return len(self._minutes)

    @property
    def factor(self) -> float:
        df = len(self._minutes) - 1
        if df < 1:
            return 1.0
        ratio = ((self._x + 0.5) / self._n) / ((self._y + 0.5) / self._m)
        chi2 = 0.0
        for x, k, rho in self._minutes:
            theta = rho * ratio / (rho * ratio + 1.0 - rho)
            chi2 += (x - k * theta) ** 2 / (k * theta * (1.0 - theta))
        mean = (chi2 + self.prior_df) / (df + self.prior_df)
        # the excess over 1, raised to an upper estimate: few heavy-tailed minutes more often
        # understate the variation than overstate it
        excess = max(0.0, mean - 1.0) * (1.0 + self.upper * math.sqrt(2.0 / (df + self.prior_df)))
        return 1.0 + excess
