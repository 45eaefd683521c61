"""The benchmark's paired intervals: how sure each goal's verdict is."""

from __future__ import annotations

import numpy as np
import pytest

from bench._judge_paired import Outcome, paired_differences, shown


def _outcome(rollback: list[int], cleared: list[int] | None = None, horizon: int = 30) -> Outcome:
    return Outcome(
        np.array(rollback, dtype=np.int64),
        None if cleared is None else np.array(cleared, dtype=np.int64),
        horizon,
    )


def test_identical_outcomes_differ_by_zero_with_a_zero_interval() -> None:
    o = _outcome([3, -1, 7, 12, -1, 5] * 20, [4, 5, 6, -1, 2, 3] * 20)
    d = paired_differences(o, o)
    for figure in ("rollback_rate", "median_minutes_all", "p90_minutes_all"):
        assert d[figure] == {"value": 0.0, "ci95": [0.0, 0.0]}
    assert d["median_minutes_to_clear"]["value"] == 0.0
    assert shown("time to detect (p90) <= savvi's", d) == "met"


def test_a_rule_one_minute_later_on_every_rollout_is_shown_to_miss_the_time_goals() -> None:
    rng = np.random.default_rng(1)
    peer = rng.integers(0, 20, 500)
    d = paired_differences(_outcome((peer + 1).tolist()), _outcome(peer.tolist()))
    assert d["median_minutes_all"]["value"] == 1.0
    assert d["median_minutes_all"]["ci95"] == [1.0, 1.0]
    assert shown("time to detect (median) <= savvi's", d) == "missed"
    assert shown("detection >= savvi's", d) == "met"  # same rate: the interval is [0, 0]


def test_a_small_rate_difference_on_few_rollouts_is_not_resolved() -> None:
    # 3 false rollbacks in 500 against none: the paired interval reaches 0
    us = _outcome([5] * 3 + [-1] * 497)
    peer = _outcome([-1] * 500)
    d = paired_differences(us, peer)
    assert d["rollback_rate"]["value"] == pytest.approx(0.006)
    lo, hi = d["rollback_rate"]["ci95"]
    assert lo <= 0.0 < hi
    assert shown("false rollbacks <= savvi's", d) == "not resolved"


def test_a_large_rate_difference_is_shown_either_way_by_the_goals_direction() -> None:
    us = _outcome([2] * 100 + [-1] * 400)  # 20 % rolled back
    peer = _outcome([-1] * 500)
    d = paired_differences(us, peer)
    assert shown("false rollbacks <= savvi's", d) == "missed"
    assert shown("detection >= savvi's", d) == "met"


def test_outcomes_of_different_rollouts_are_refused() -> None:
    with pytest.raises(ValueError, match="same rollouts"):
        paired_differences(_outcome([1, 2]), _outcome([1, 2, 3]))


def test_goals_without_a_paired_figure_have_no_verdict() -> None:
    d = paired_differences(_outcome([1, -1]), _outcome([1, -1]))
    assert shown("false rollbacks <= 1 %", d) is None
    assert shown("cleared no later than savvi", d) is None  # neither outcome has clears
