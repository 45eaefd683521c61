"""The benchmark's ceiling: the Neyman-Pearson bound on what any rule within the false-rollback
budget can detect, and how the goals read it."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from bench._judge_oracle import (
    Ceiling,
    Wald,
    beyond,
    beyond_wald,
    ceiling,
    first_crossing,
    log_likelihood,
    log_ratio,
    wald,
)
from bench._judge_report import OURS, SAVVI, ceilings_markdown, goals, goals_markdown
from bench._judge_rules import ours
from bench._judge_sim import Scenario, Truth, simulate
from bench.judge import OD_10, STAGED, STAGED_STEADY
from shared.judge import JudgeSettings

NOISY = Scenario("noisy", 15, ((0, 0.10),), overdispersion_sd=1.0)


def test_without_noise_the_likelihood_is_the_binomial_one() -> None:
    x = np.array([0, 3, 7, 40])
    n = np.array([600, 600, 580, 610])
    p = 2.0 * 0.005
    expected = x * math.log(p) + (n - x) * math.log1p(-p)
    assert np.allclose(log_likelihood(x, n, 0.005, 2.0, 0.0), expected, rtol=0, atol=1e-9)


def test_the_noisy_likelihood_matches_a_monte_carlo_integral_over_the_noise() -> None:
    sd, rate, factor, n = 1.0, 0.005, 2.0, 600
    rng = np.random.default_rng(3)
    noise = rng.lognormal(-0.5 * sd * sd, sd, 1_000_000)
    p = np.clip(factor * rate * noise, 0.0, 1.0 - 1e-12)
    for x in (0, 4, 15, 30):
        mc = math.log(np.mean(np.exp(x * np.log(p) + (n - x) * np.log1p(-p))))
        got = float(log_likelihood(np.array([x]), np.array([n]), rate, factor, sd)[0])
        assert got == pytest.approx(mc, abs=0.03)


def test_the_ratio_is_cumulative_over_minutes() -> None:
    s = simulate(NOISY, Truth(error=2.0), 3, seed=1)
    r = log_ratio(s, NOISY, Truth(error=2.0))
    first = log_likelihood(s.x[:, :1], s.n[:, :1], 0.005, 2.0, 1.0) - log_likelihood(
        s.x[:, :1], s.n[:, :1], 0.005, 1.0, 1.0
    )
    assert r.shape == (3, NOISY.minutes)
    assert np.allclose(r[:, :1], first)
    assert np.all(np.isfinite(r))


def test_the_oracle_test_holds_its_level_on_fresh_good_canaries() -> None:
    # the threshold is set on one simulation of good canaries; on another it rejects about
    # alpha of them at every minute (binomial slack: 5 standard errors)
    alpha, rollouts = 0.05, 4000
    c = ceiling(NOISY, Truth(error=2.0), alpha, seed=11, rollouts=rollouts)
    fresh = log_ratio(simulate(NOISY, Truth(), rollouts, seed=99), NOISY, Truth(error=2.0))
    reference = log_ratio(simulate(NOISY, Truth(), rollouts, seed=11), NOISY, Truth(error=2.0))
    slack = 5 * math.sqrt(alpha * (1 - alpha) / rollouts)
    for t in range(NOISY.minutes):
        threshold = float(np.quantile(reference[:, t], 1 - alpha, method="higher"))
        assert float((fresh[:, t] > threshold).mean()) <= alpha + slack
    assert all(0.0 <= p <= 1.0 for p in c.power)


def test_our_judge_never_detects_more_by_any_minute_than_the_ceiling() -> None:
    # a rule within the false-rollback budget cannot beat the most powerful test: checked
    # minute by minute on the judge itself (2 binomial standard errors of slack)
    rollouts = 300
    c = ceiling(NOISY, Truth(error=2.0), 0.01, seed=5, rollouts=5000)
    s = simulate(NOISY, Truth(error=2.0), rollouts, seed=21)
    rollback = ours(s, JudgeSettings(alpha=0.01, guard_latency=False)).rollback
    for t in range(NOISY.minutes):
        by_t = float(((rollback >= 0) & (rollback <= t)).mean())
        p = c.power[t]
        assert by_t <= p + 2 * math.sqrt(max(p * (1 - p), 0.01) / rollouts) + 1e-9


def test_the_ceiling_grows_with_the_data_and_gives_time_bounds() -> None:
    c = Ceiling(alpha=0.01, power=(0.1, 0.4, 0.5, 0.7, 0.95), rollouts=1000)
    assert c.first_minute(0.5) == 3
    assert c.first_minute(0.9) == 5
    assert c.first_minute(0.99) is None
    d = c.to_dict()
    assert d["median_minutes_at_least"] == 3
    assert d["detected_by_horizon"] == 0.95


def test_a_peer_figure_beyond_the_ceiling_is_out_of_reach_and_one_within_it_is_not() -> None:
    c = Ceiling(alpha=0.01, power=(0.1, 0.3, 0.5, 0.6, 0.8), rollouts=20000).to_dict()
    savvi = {"rollback_ci95": [0.90, 0.94], "median_minutes_all": 2.0, "p90_minutes_all": 4.0}
    assert beyond(c, savvi) == {
        "rollback_rate": True,  # its interval lies above 0.8
        "median_minutes_all": True,  # before the ceiling's first minute at 1/2 (3)
        "p90_minutes_all": True,  # the ceiling never reaches 9/10 within the horizon
    }
    modest = {"rollback_ci95": [0.75, 0.82], "median_minutes_all": 4.0, "p90_minutes_all": None}
    assert beyond(c, modest) == {
        "rollback_rate": False,
        "median_minutes_all": False,
        "p90_minutes_all": False,
    }


def test_the_ceiling_refuses_a_scenario_whose_law_it_does_not_write_down() -> None:
    with pytest.raises(ValueError, match="no oracle"):
        ceiling(STAGED, Truth(error=2.0), 0.01, seed=1, rollouts=10)
    with pytest.raises(ValueError, match="regression"):
        ceiling(OD_10, Truth(), 0.01, seed=1, rollouts=10)
    with pytest.raises(ValueError, match="alpha"):
        ceiling(OD_10, Truth(error=2.0), 0.0, seed=1, rollouts=10)


def _row(
    rule: str, rate: float, ci: list[float], median: float | None, p90: float | None
) -> dict[str, Any]:
    return {
        "rule": rule,
        "rollback_rate": rate,
        "rollback_ci95": ci,
        "median_minutes_all": median,
        "p90_minutes_all": p90,
    }


def test_the_goals_say_which_savvi_figures_no_rule_within_the_budget_reaches() -> None:
    c = Ceiling(alpha=0.01, power=(0.1, 0.3, 0.5, 0.6, 0.8), rollouts=20000).to_dict()
    us = _row(OURS, 0.5, [0.45, 0.55], 5.0, None)
    peer = {**_row(SAVVI, 0.92, [0.9, 0.94], 4.0, None), "peer": True}
    cell = {"cell": "noisy; errors x2", "good": False, "rows": [us, peer], "ceiling": c}
    (entry,) = goals([cell])
    assert entry["out_of_reach"] == {
        "detection >= savvi's": True,
        "time to detect (median) <= savvi's": False,  # 4 is not before the bound of 3
        "time to detect (p90) <= savvi's": False,  # savvi never reaches p90 either
    }
    table = goals_markdown([entry])
    assert "| detection >= savvi's | NO | - | - | NO: beyond the ceiling |" in table
    assert "| time to detect (median) <= savvi's | NO | - | - | yes |" in table
    assert "| noisy; errors x2 | 80.0 %; 3 / never |" in ceilings_markdown([cell])


def test_wald_rolls_back_at_the_first_minute_its_ratio_reaches_the_threshold() -> None:
    ratio = np.array([[0.5, 2.0, 1.0], [0.1, 0.2, 0.3], [3.0, 0.0, 5.0]])
    assert first_crossing(ratio, 2.0).tolist() == [1, -1, 0]


def test_walds_test_holds_its_level_on_fresh_good_canaries_over_long_stages() -> None:
    # the threshold is set on one simulation of good canaries over four horizons; on another,
    # a good canary is rolled back at most alpha of the time over those four horizons
    alpha, rollouts = 0.05, 4000
    w = wald(NOISY, Truth(error=2.0), alpha, seed=11, rollouts=rollouts)
    long = Scenario("noisy, long", 4 * NOISY.minutes, ((0, 0.10),), overdispersion_sd=1.0)
    fresh = log_ratio(simulate(long, Truth(), rollouts, seed=99), long, Truth(error=2.0))
    slack = 5 * math.sqrt(alpha * (1 - alpha) / rollouts)
    assert float((first_crossing(fresh, w.threshold) >= 0).mean()) <= alpha + slack
    assert w.false_rollbacks <= alpha + 1e-9  # within the horizon: fewer than over four


def test_walds_test_never_detects_more_by_any_minute_than_the_ceiling() -> None:
    # it is a rule within the budget, so the most powerful test bounds it minute by minute
    rollouts = 5000
    c = ceiling(NOISY, Truth(error=2.0), 0.01, seed=5, rollouts=rollouts)
    w = wald(NOISY, Truth(error=2.0), 0.01, seed=7, rollouts=rollouts)
    s = simulate(NOISY, Truth(error=2.0), rollouts, seed=8)
    crossed = first_crossing(log_ratio(s, NOISY, Truth(error=2.0)), w.threshold)
    for t in range(NOISY.minutes):
        by_t = float(((crossed >= 0) & (crossed <= t)).mean())
        p = c.power[t]
        assert by_t <= p + 3 * math.sqrt(max(p * (1 - p), 0.01) / rollouts) + 1e-9
    assert w.detected <= c.power[-1] + 0.02


def test_walds_test_refuses_a_staged_scenario_and_a_good_truth() -> None:
    with pytest.raises(ValueError, match="split changes"):
        wald(STAGED_STEADY, Truth(error=1.5), 0.01, seed=1, rollouts=10)
    with pytest.raises(ValueError, match="regression"):
        wald(OD_10, Truth(), 0.01, seed=1, rollouts=10)


def test_a_peer_figure_better_than_walds_test_is_marked_so_in_the_goals() -> None:
    c = Ceiling(alpha=0.01, power=(0.3, 0.6, 0.8, 0.9, 0.99), rollouts=20000).to_dict()
    w = Wald(0.01, 4.0, 0.008, 0.95, 3.0, None, 20000).to_dict()
    assert beyond_wald(
        w, {"rollback_ci95": [0.96, 0.99], "median_minutes_all": 2.0, "p90_minutes_all": 4.0}
    ) == {
        "rollback_rate": True,  # its interval lies above Wald's 0.95
        "median_minutes_all": True,  # 2 is before Wald's 3
        "p90_minutes_all": True,  # Wald never reaches 9/10 within the horizon
    }
    us = _row(OURS, 0.9, [0.85, 0.93], 3.0, None)
    peer = {**_row(SAVVI, 0.98, [0.96, 0.99], 3.0, 4.0), "peer": True}
    cell = {"cell": "noisy; errors x2", "good": False, "rows": [us, peer], "ceiling": c, "wald": w}
    (entry,) = goals([cell])
    table = goals_markdown([entry])
    assert (
        "| detection >= savvi's | NO | - | - | yes, but beyond Wald's test knowing the law |"
        in (table)
    )
    assert "| time to detect (median) <= savvi's | yes | - | - | yes |" in table
    assert "| noisy; errors x2 | 99.0 %; 2 / 4 | 95.0 %; 3 / never |" in ceilings_markdown([cell])
