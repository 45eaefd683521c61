"""The benchmark's "savvi at our false-rollback rate" rows: the alpha found is the largest on
the grid that holds the target on the same rollouts, and none is claimed when none does."""

from __future__ import annotations

from bench._judge_matched import ALPHAS, label, matched_alpha
from bench._judge_savvi import savvi_rule
from bench._judge_sim import FloatArray, Scenario, Series, Truth, simulate
from bench.judge import CLEAR_ALPHA

NOISY = Scenario("canary-only lognormal sd 1.0", 30, ((0, 0.10),), overdispersion_sd=1.0)


def _rate(alpha: float, s: Series, weights: FloatArray) -> float:
    rollback = savvi_rule(s, weights, alpha, CLEAR_ALPHA).rollback
    return float((rollback >= 0).mean())


def test_the_matched_alpha_is_the_largest_on_the_grid_that_holds_the_target() -> None:
    s = simulate(NOISY, Truth(), 60, 5)
    weights, _ = NOISY.weights()
    first = _rate(ALPHAS[0], s, weights)
    assert first > 0  # savvi over-rejects under this noise: there is something to match
    target = first / 2
    m = matched_alpha(s, weights, target, CLEAR_ALPHA)
    assert m.alpha is not None and m.alpha < ALPHAS[0]
    assert m.rate == _rate(m.alpha, s, weights) <= target
    larger = ALPHAS[ALPHAS.index(m.alpha) - 1]
    assert _rate(larger, s, weights) > target
    assert f"alpha {m.alpha:g}" in label(m)


def test_no_alpha_is_claimed_when_none_on_the_grid_holds_the_target() -> None:
    s = simulate(NOISY, Truth(), 60, 5)
    weights, _ = NOISY.weights()
    smallest = _rate(ALPHAS[-1], s, weights)
    assert smallest > 0
    m = matched_alpha(s, weights, smallest / 2, CLEAR_ALPHA)
    assert m.alpha is None and m.rate == smallest
    assert "none" in label(m) and f"{100 * smallest:.1f} %" in label(m)
