"""IncrementalJudge gives the very verdicts of the production SequentialJudge."""

from __future__ import annotations

from dataclasses import replace

from shared.judge import JudgeSettings, Minute, SequentialJudge
from shared.simulation.judging import IncrementalJudge


def minute(i: int, canary_errors: int) -> Minute:
    return Minute(
        canary_requests=600,
        canary_errors=canary_errors,
        baseline_requests=5400,
        baseline_errors=27 + i % 3,
        canary_p50=41.0 + i % 2,
        canary_p90=80.0,
        canary_p99=150.0,
        baseline_p50=40.0,
        baseline_p90=79.0,
        baseline_p99=149.0,
    )


def test_growing_reset_and_resettled_stages_get_the_sequential_verdicts() -> None:
    settings = JudgeSettings(alpha=0.01)
    other = replace(settings, alpha=0.005)
    good = [minute(i, 3) for i in range(40)]
    bad = [minute(i, 12) for i in range(15)]
    asks = [(good[:n], settings) for n in range(0, 41, 3)]
    asks += [(bad[:n], settings) for n in range(1, 16)]  # a new stage: a different prefix
    asks += [(good[:20], other), (good[:25], other), (good[:10], settings)]
    inc, seq = IncrementalJudge(), SequentialJudge()
    for mins, s in asks:
        assert inc.judge_stage(mins, s) == seq.judge_stage(mins, s)
    assert inc.minutes_added < sum(len(m) for m, _ in asks)
