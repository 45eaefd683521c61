"""The sequential canary judge (pure): anytime-valid e-processes on per-minute counts.

``judge_stage(minutes, settings) -> Verdict`` decides "rollback", "promote" or "hold" for the
current stage; :class:`SequentialJudge` is the same as the Judge port.
"""

from __future__ import annotations

from shared.judge.decision import MAX_PROMOTION_ERROR_RATE, REASONS, decision_from_evidence
from shared.judge.judge import (
    AGGREGATE_FIELDS,
    MIN_TAIL_REQUESTS,
    SOURCE_AGGREGATES,
    SOURCE_REQUESTS,
    SequentialJudge,
    StageJudge,
    judge_series,
    judge_stage,
)
from shared.judge.latency import empirical_quantile, exceedances_from_latencies
from shared.judge.replay import load_replay
from shared.judge.types import Carried, Decision, Exceedance, JudgeSettings, Minute, Verdict
from shared.reasons import (
    ACCUMULATING,
    CLEARED,
    ERROR_RATE_CEILING,
    ERROR_RATE_REGRESSION,
    INSUFFICIENT_DATA,
    LATENCY_ACCUMULATING,
    LATENCY_NOT_MEASURABLE,
    LATENCY_REGRESSION,
    NO_DATA,
)

__all__ = [
    "ACCUMULATING",
    "AGGREGATE_FIELDS",
    "CLEARED",
    "ERROR_RATE_CEILING",
    "ERROR_RATE_REGRESSION",
    "INSUFFICIENT_DATA",
    "LATENCY_ACCUMULATING",
    "LATENCY_NOT_MEASURABLE",
    "LATENCY_REGRESSION",
    "MAX_PROMOTION_ERROR_RATE",
    "MIN_TAIL_REQUESTS",
    "NO_DATA",
    "REASONS",
    "SOURCE_AGGREGATES",
    "SOURCE_REQUESTS",
    "Carried",
    "Decision",
    "Exceedance",
    "JudgeSettings",
    "Minute",
    "SequentialJudge",
    "StageJudge",
    "Verdict",
    "decision_from_evidence",
    "empirical_quantile",
    "exceedances_from_latencies",
    "judge_series",
    "judge_stage",
    "load_replay",
]
