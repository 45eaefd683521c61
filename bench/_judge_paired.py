"""How sure each goal's verdict is: ours minus savvi, with a paired bootstrap 95 % interval.

Both rules are run on the same simulated rollouts, so the comparison is paired: each bootstrap
draw resamples rollouts (with replacement) and recomputes both figures on the same draw. A
goal missed by a difference whose interval holds 0 is not shown by this many rollouts (run
with more: ``--rollouts``); one whose interval excludes 0 is.

The figures are those of the goals (:mod:`bench._judge_report`): the rollback rate, and the
median and p90 minutes to detect and the median minutes to clear over every rollout, a
rollout that never rolls back (or never clears) counting as one minute after the horizon.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bench._judge_sim import IntArray

DRAWS = 1000
CI_SEED = 20240602


@dataclass(frozen=True)
class Outcome:
    """One rule's per-rollout outcome in a cell: the minute index of its rollback and of its
    first clear (-1: never)."""

    rollback: IntArray
    cleared: IntArray | None
    horizon: int  # the cell's minutes


def _times(at: IntArray, horizon: int) -> np.ndarray:
    return np.where(at >= 0, at + 1, horizon + 1).astype(np.float64)


def _figures(o: Outcome, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Each figure per bootstrap draw (``idx``: draws x rollouts)."""
    fired = (o.rollback >= 0).astype(np.float64)[idx]
    detect = _times(o.rollback, o.horizon)[idx]
    out = {
        "rollback_rate": fired.mean(axis=1),
        "median_minutes_all": np.median(detect, axis=1),
        "p90_minutes_all": np.percentile(detect, 90, axis=1),
    }
    if o.cleared is not None:
        out["median_minutes_to_clear"] = np.median(_times(o.cleared, o.horizon)[idx], axis=1)
    return out


def paired_differences(
    us: Outcome, peer: Outcome, draws: int = DRAWS, seed: int = CI_SEED
) -> dict[str, dict[str, Any]]:
    """Per figure: ``value`` (ours - savvi on the cell's rollouts) and ``ci95`` (the paired
    bootstrap's 2.5 and 97.5 percentiles). Rates as fractions, times in minutes."""
    n = len(us.rollback)
    if len(peer.rollback) != n or us.horizon != peer.horizon:
        raise ValueError("paired outcomes must cover the same rollouts")
    rng = np.random.default_rng(seed)
    whole = np.arange(n)[None, :]
    idx = rng.integers(0, n, size=(draws, n))
    point_us, point_peer = _figures(us, whole), _figures(peer, whole)
    boot_us, boot_peer = _figures(us, idx), _figures(peer, idx)
    out: dict[str, dict[str, Any]] = {}
    for key in point_us:
        if key not in point_peer:
            continue
        diff = boot_us[key] - boot_peer[key]
        lo, hi = np.percentile(diff, [2.5, 97.5])
        value = float(point_us[key][0] - point_peer[key][0])
        out[key] = {"value": round(value, 4), "ci95": [round(float(lo), 4), round(float(hi), 4)]}
    return out


# which figure each goal compares, and whether ours must be at most (True) or at least (False)
GOAL_FIGURES: dict[str, tuple[str, bool]] = {
    "false rollbacks <= savvi's": ("rollback_rate", True),
    "cleared no later than savvi": ("median_minutes_to_clear", True),
    "detection >= savvi's": ("rollback_rate", False),
    "time to detect (median) <= savvi's": ("median_minutes_all", True),
    "time to detect (p90) <= savvi's": ("p90_minutes_all", True),
}


def shown(goal: str, differences: dict[str, dict[str, Any]]) -> str | None:
    """Whether this many rollouts show the goal missed or met: "missed" when the whole
    interval lies on the wrong side of 0, "met" when it lies on the right side or at 0 only
    in the goal's favour, "not resolved" when it straddles 0; None for goals without a paired
    figure."""
    if goal not in GOAL_FIGURES:
        return None
    key, at_most = GOAL_FIGURES[goal]
    d = differences.get(key)
    if d is None:
        return None
    lo, hi = d["ci95"]
    if not at_most:
        lo, hi = -hi, -lo
    if lo > 0:
        return "missed"
    if hi <= 0:
        return "met"
    return "not resolved"
