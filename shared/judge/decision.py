"""The judge's decision from its recorded evidence, in this order:

1. no minute with traffic on both sides: hold (``NO_DATA``): never a pass;
2. any guarded metric's e-process has reached ``K / alpha`` at some minute of the stage
   (K = guarded metrics with data: Bonferroni over e-values), counting the evidence carried
   from the rollout's earlier judged phases (``carried_log_e``, :mod:`shared.carry`):
   rollback;
3. the stage minimums (minutes with data, canary requests) are not met: hold;
4. the canary failed more than half its requests: hold, whatever the baseline did;
5. every metric is cleared (its clearing e-value is now at least ``1 / clear_alpha``; the
   error rate only after ``min_error_events`` events; latency on the levels measurable at this
   traffic, at least one): promote; otherwise hold.

A function of the evidence alone (plain JSON data), so a recorded decision can always be
reproduced from what was recorded beside it (:mod:`shared.judge.judge` computes the evidence).
Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.judge.types import Decision
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

# ------------------------------------------------------------------------- reason constants
# (CamelCase like the engine's own reasons; NO_DATA is the engine's "NoData" too)

REASONS: tuple[str, ...] = (
    ERROR_RATE_REGRESSION,
    LATENCY_REGRESSION,
    CLEARED,
    NO_DATA,
    INSUFFICIENT_DATA,
    ACCUMULATING,
    LATENCY_ACCUMULATING,
    LATENCY_NOT_MEASURABLE,
    ERROR_RATE_CEILING,
)

# A canary failing more than this share of its requests is never promoted.
MAX_PROMOTION_ERROR_RATE = 0.5


def decision_from_evidence(evidence: Mapping[str, Any]) -> tuple[Decision, str]:
    """The decision and reason the recorded evidence implies (the judge decides with this)."""
    if evidence["minutes_with_data"] == 0:
        return "hold", NO_DATA
    up_threshold = evidence["rollback_threshold_log_e"]
    errors = evidence["error_rate"]
    if errors["peak_log_e"] + errors.get("carried_log_e", 0.0) >= up_threshold:
        return "rollback", ERROR_RATE_REGRESSION
    latency = evidence["latency"]
    rollback_latency = None if latency is None else latency["rollback"]
    if (
        rollback_latency is not None
        and rollback_latency["peak_log_e"] + latency.get("carried_log_e", 0.0) >= up_threshold
    ):
        return "rollback", LATENCY_REGRESSION
    if (
        evidence["minutes_with_data"] < max(evidence["min_minutes"], 1)
        or evidence["canary_requests"] < evidence["min_requests"]
    ):
        return "hold", INSUFFICIENT_DATA
    if (
        evidence["canary_errors"]
        > evidence["max_promotion_error_rate"] * evidence["canary_requests"]
    ):
        return "hold", ERROR_RATE_CEILING
    if not (
        errors["error_events"] >= evidence["min_error_events"]
        and errors["clear_log_e"] >= evidence["clear_threshold_log_e"]
    ):
        return "hold", ACCUMULATING
    if latency is not None:
        clear = latency["clear"]
        measurable = (
            [] if clear is None else [lv for lv in clear["levels"].values() if lv["measurable"]]
        )
        if not measurable:
            return "hold", LATENCY_NOT_MEASURABLE
        if not all(lv["cleared"] for lv in measurable):
            return "hold", LATENCY_ACCUMULATING
    return "promote", CLEARED
