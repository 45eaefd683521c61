"""stage_reading.read_stage: which rollouts the judge is asked about."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from shared import machine as m
from shared.judge import SequentialJudge
from shared.judge.types import Carried, JudgeSettings, Minute, Verdict
from shared.model import Phase
from shared.observation import Command, Observation
from shared.policy import Guardrails
from shared.stage_reading import read_stage
from tests.unit.test_machine import PROMOTE, Sim, policy


class _CountingJudge(SequentialJudge):
    def __init__(self) -> None:
        self.asked = 0

    def judge_stage(
        self, minutes: Sequence[Minute], settings: JudgeSettings, carried: Carried | None = None
    ) -> Verdict:
        self.asked += 1
        return super().judge_stage(minutes, settings, carried)


class _Metrics:
    def stage_minutes(self, queries: Any) -> dict[str, list[Minute]]:
        start = queries[0].start
        return {
            "fraud": [Minute(1000, 0, 0, 0, start=start + timedelta(minutes=i)) for i in range(10)]
        }


def test_a_promotion_held_with_its_split_live_is_read_for_the_guardrails_not_the_judge() -> None:
    """The promoted canary serves everything: its minutes are read (the guardrails), and the
    judge, with no baseline traffic to compare with, is not asked (as in the watch window)."""
    sim = Sim(policy(shadow_percent=0, guardrails=Guardrails(error_rate=0.01, for_s=180)))
    sim.until(Phase.PROMOTING, PROMOTE)
    sim.step(command=Command("pause", "look"))
    info = sim.ep.get_endpoint("fraud")
    held = m.decide(sim.r, Observation(info), sim.now + timedelta(seconds=60)).rollout
    assert held.phase is Phase.PROMOTING and held.confirmed and held.stage_since is not None
    judge = _CountingJudge()
    now = held.stage_since + timedelta(minutes=20)
    _, first = read_stage(_Metrics(), judge, held, info, now, None)
    assert first is not None  # minutes settle once read the same on two ticks
    held = held.evolve(readings=dict(first.readings))
    verdict, judging = read_stage(_Metrics(), judge, held, info, now + timedelta(minutes=1), None)
    assert judging is not None and judging.minutes
    assert verdict is None and judge.asked == 0
