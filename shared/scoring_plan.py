"""How a batch of scoring requests is paced: at most ``concurrency`` in flight, none started
after the call's ``budget_s``. Pure: the real adapter keeps the rule with a thread pool and a
clock; the fakes apply it to the latencies they make up (:func:`sent`), so a test on a fake
sees what the adapter would do."""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from shared.ports import ScoreAnswer

NOT_SENT = "not sent: "


def not_sent(budget_s: float) -> ScoreAnswer:
    """The answer of a request never sent: the call's time budget ran out first."""
    return ScoreAnswer(0, 0.0, b"", f"{NOT_SENT}the {budget_s:g} s budget of the check ran out")


def is_not_sent(answer: ScoreAnswer) -> bool:
    return answer.status == 0 and answer.error.startswith(NOT_SENT)


def start_times(latencies_ms: Sequence[float], concurrency: int) -> list[float]:
    """When each request starts (seconds after the call) when they are sent in order, each as
    soon as one of ``concurrency`` lanes is free."""
    lanes = [0.0] * max(1, min(concurrency, len(latencies_ms) or 1))
    heapq.heapify(lanes)
    out: list[float] = []
    for ms in latencies_ms:
        start = heapq.heappop(lanes)
        out.append(start)
        heapq.heappush(lanes, start + max(0.0, ms) / 1000.0)
    return out


def sent(
    answers: Sequence[ScoreAnswer], concurrency: int, budget_s: float | None
) -> list[ScoreAnswer]:
    """``answers`` as a paced call returns them: those that would start after the budget are
    :func:`not_sent` (the fakes' half of the rule)."""
    if budget_s is None:
        return list(answers)
    starts = start_times([a.latency_ms for a in answers], concurrency)
    return [a if t < budget_s else not_sent(budget_s) for a, t in zip(answers, starts, strict=True)]
