"""The demo policy's judge has the power the demo and the e2e tests rely on.

`make demo` and tests/e2e expect a good version (the baseline's 3 % errors) to be promoted and a
version failing 25 % of calls to be rolled back, on a stack whose metric "minute" lasts seconds
and holds about a hundred requests. The judge is random-data statistics: if a stage's deadline
comes before the evidence usually does, the demo fails by chance (a CI run once rolled a good
version back at its 45 s deadline). These tests play the pure judge, with the demo policy's
settings, on seeded binomial minutes at the demo's and the e2e's traffic, stage by stage, up to
the settled minutes a stage has at its deadline, and pin how often each version ends as
expected. Deterministic: fixed seeds, no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from localstack import demo
from localstack.options import DEMO_POLICY
from localstack.scenarios import BASELINE_ERROR_RATE, demo_scenarios
from shared.judge import JudgeSettings, StageJudge
from shared.judge.types import Minute
from shared.policy import RolloutPolicy, load_policy_text
from tests.e2e import e2e_world

RUNS = 3000
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Traffic:
    name: str
    rate: float  # scoring requests per second
    bucket_seconds: float  # real seconds in one metric minute


DEMO = Traffic("demo", demo.RATE, demo.BUCKET_SECONDS)
E2E = Traffic("e2e", e2e_world.RATE, 2.0)


def _policy() -> RolloutPolicy:
    return load_policy_text(DEMO_POLICY.read_text(encoding="utf-8")).defaults


def _settled_minutes(max_duration: float, settle: float, bucket: float) -> int:
    """Minutes a stage can have judged by its deadline: those ended ``settle`` before it, less
    one for the second reading the settle rule waits for."""
    return max(0, math.floor((max_duration - settle) / bucket) - 1)


def _play(
    settings: JudgeSettings, per_minute: int, share: float, canary_rate: float, minutes: int
) -> tuple[int, int, int]:
    """(promoted, rolled back, undecided by the deadline) over RUNS seeded stages."""
    rng = np.random.default_rng(20261202)
    promoted = rolled = 0
    for _ in range(RUNS):
        judge = StageJudge(settings)
        for i in range(minutes):
            n = int(rng.binomial(per_minute, share))
            m = per_minute - n
            x = int(rng.binomial(n, canary_rate))
            y = int(rng.binomial(m, BASELINE_ERROR_RATE))
            judge.add(Minute(n, x, m, y, start=T0 + timedelta(minutes=i)))
            decision = judge.verdict().decision
            if decision == "promote":
                promoted += 1
                break
            if decision == "rollback":
                rolled += 1
                break
    return promoted, rolled, RUNS - promoted - rolled


def _stage_cases() -> list[tuple[str, int, float, Traffic]]:
    """(id, stage weight, stage deadline, traffic) for every judged stage each world plays."""
    cases = [
        (f"demo-stage-{s.weight}", s.weight, s.max_duration, DEMO) for s in _policy().judged_stages
    ]
    e2e = e2e_world.E2E_STAGE
    cases.append((f"e2e-stage-{e2e.weight}", e2e.weight, e2e.max_duration, E2E))
    return cases


STAGES = pytest.mark.parametrize(
    ("weight", "max_duration", "traffic"),
    [c[1:] for c in _stage_cases()],
    ids=[c[0] for c in _stage_cases()],
)


def _stage(
    weight: int, max_duration: float, traffic: Traffic, canary_rate: float
) -> tuple[int, int, int]:
    """One judged stage of the demo policy at ``traffic``, played RUNS times."""
    policy = _policy()
    minutes = _settled_minutes(max_duration, policy.settle, traffic.bucket_seconds)
    per_minute = round(traffic.rate * traffic.bucket_seconds)
    return _play(policy.judge, per_minute, weight / 100, canary_rate, minutes)


@STAGES
def test_a_good_version_is_cleared_before_the_stage_deadline_nearly_always(
    weight: int, max_duration: float, traffic: Traffic
) -> None:
    promoted, rolled, undecided = _stage(weight, max_duration, traffic, BASELINE_ERROR_RATE)
    # at most 0.1 % of stages fail: the demo plays two, the e2e one
    assert rolled + undecided <= RUNS // 1000, (promoted, rolled, undecided)


@STAGES
def test_a_version_failing_25_percent_is_rolled_back_and_never_promoted(
    weight: int, max_duration: float, traffic: Traffic
) -> None:
    bad = demo_scenarios()[1].model.error_rate
    promoted, rolled, undecided = _stage(weight, max_duration, traffic, bad)
    assert promoted <= RUNS // 2000, (promoted, rolled, undecided)
    assert undecided == 0, (promoted, rolled, undecided)


def test_the_demo_settle_covers_the_emulator_ingestion() -> None:
    """A minute is judged only once the emulator shows it whole (2 minutes late, then part of
    it for 1 more), so no decision rests on a half-ingested reading."""
    from emulator.metric_series import Ingestion

    ingestion = Ingestion()
    shown_whole = (ingestion.delay_minutes + ingestion.revision_minutes) * DEMO.bucket_seconds
    assert _policy().settle >= shown_whole
