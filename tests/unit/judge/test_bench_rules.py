"""The benchmark's rows of ours: the engine's way (alpha split over the stages, evidence
carried) never rolls back later than the same split without the carry."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from bench._judge_rules import ours, ours_carried
from bench._judge_sim import Scenario, Truth, simulate
from shared.judge import JudgeSettings

ERRORS_ONLY = JudgeSettings(guard_latency=False)


def test_one_stage_as_the_engine_runs_it_is_the_plain_judge() -> None:
    sc = Scenario("one stage", 12, ((0, 0.1),))
    s = simulate(sc, Truth(error=2.0), 60, seed=2)
    assert ours_carried(s, ERRORS_ONLY).rollback.tolist() == ours(s, ERRORS_ONLY).rollback.tolist()


def test_carried_evidence_rolls_back_no_later_than_each_stage_judged_alone() -> None:
    sc = Scenario("staged", 24, ((0, 0.1), (8, 0.25), (16, 0.5)))
    s = simulate(sc, Truth(error=1.5), 120, seed=4)
    alone = ours(s, replace(ERRORS_ONLY, alpha=ERRORS_ONLY.alpha / 3)).rollback
    carried = ours_carried(s, ERRORS_ONLY).rollback
    caught = alone >= 0
    assert (carried[caught] >= 0).all() and (carried[caught] <= alone[caught]).all()
    assert (carried >= 0).sum() > (alone >= 0).sum()  # and it catches more of them
    assert np.any(carried[caught] < alone[caught])
