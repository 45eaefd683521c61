"""savvi at our false-rollback rate: the peer's detection when it is held to the same size.

A detection rate means little beside a false-rollback rate: any rule detects more by rolling
back more. Where savvi's false rollbacks in a scenario's good cell exceed ours (canary-only
overdispersion: its Poisson model has no room for extra-binomial variation), this finds the
largest alpha on :data:`ALPHAS` at which savvi's false rollbacks in that good cell are no more
than ours, on the same simulated rollouts, and runs savvi at that alpha on the scenario's bad
cells. The calibration is an oracle's (it sees the null cell's outcome), so it favours savvi.

Where no alpha on the grid gets there, the row says so with savvi's rate at the smallest one:
under that noise its evidence grows without bound whatever the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench._judge_savvi import savvi_rule
from bench._judge_sim import FloatArray, IntArray, Series

ALPHAS: tuple[float, ...] = (0.01, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6)


@dataclass(frozen=True)
class Matched:
    target: float  # our false-rollback rate in the good cell
    alpha: float | None  # savvi's alpha at that size; None: none on the grid
    rate: float  # savvi's false-rollback rate at ``alpha`` (at the smallest if None)
    rollback: IntArray  # savvi's rollbacks in the good cell at that alpha


def matched_alpha(null: Series, weights: FloatArray, target: float, clear_alpha: float) -> Matched:
    """The largest alpha on the grid at which savvi rolls back at most ``target`` of ``null``."""
    rate = 1.0
    rollback = None
    for alpha in ALPHAS:
        rollback = savvi_rule(null, weights, alpha, clear_alpha).rollback
        rate = float((rollback >= 0).mean())
        if rate <= target:
            return Matched(target, alpha, rate, rollback)
    assert rollback is not None
    return Matched(target, None, rate, rollback)


def label(m: Matched) -> str:
    if m.alpha is None:
        return (
            f"savvi at our false-rollback rate: none (at alpha {ALPHAS[-1]:g} still "
            f"{100 * m.rate:.1f} % > {100 * m.target:.1f} %)"
        )
    return f"savvi at our false-rollback rate (alpha {m.alpha:g})"
