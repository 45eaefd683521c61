"""Latency evidence per quantile level, from one data source (per-request exceedance counts or
per-minute percentiles), and whether each level can be measured at the stage's traffic. Pure.

A level L is *measurable* in a minute when both sides had at least ``min_tail`` requests
beyond it (``requests x (1 - L)``): below that a minute's P99 is one or two requests, a sample
quantile mostly noise, and the clearing evidence at that level would take hours to build. A
level measurable in fewer than half of the stage's minutes with data is reported as not
measurable, with the reason, and does not block promotion; its rollback evidence still counts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import median
from typing import Any

from shared.judge.evalues import RatioProcess, SignProcess, log_mean_exp

_DIGITS = 6


def _r(value: float) -> float:
    return round(value, _DIGITS)


def level_key(level: float) -> str:
    return f"{level:g}"


def requests_needed(level: float, min_tail: int) -> int:
    """Requests a minute on each side for ``min_tail`` of them to lie beyond level L."""
    return math.ceil(min_tail / (1.0 - level) - 1e-9)


def tail_ok(level: float, n: int, m: int, min_tail: int) -> bool:
    tail = 1.0 - level
    return n * tail >= min_tail - 1e-9 and m * tail >= min_tail - 1e-9


class LevelProcesses:
    """One latency level's rollback and clearing processes for one data source."""

    __slots__ = ("clear", "clear_minutes", "tail_minutes", "up", "up_minutes")

    def __init__(self, up: RatioProcess | SignProcess, clear: RatioProcess | SignProcess) -> None:
        self.up = up
        self.clear = clear
        self.up_minutes = 0
        self.clear_minutes = 0
        self.tail_minutes = 0  # minutes where the level was measurable


class LatencySource:
    """Latency evidence from one source (per-request exceedances or per-minute percentiles).

    ``unsupported`` maps configured levels the source cannot give at all to the reason.
    """

    __slots__ = ("levels", "peak_log_e", "peak_minute", "source", "unsupported")

    def __init__(
        self,
        source: str,
        levels: dict[float, LevelProcesses],
        unsupported: dict[float, str] | None = None,
    ) -> None:
        self.source = source
        self.levels = levels
        self.unsupported = unsupported or {}
        self.peak_log_e = 0.0
        self.peak_minute: int | None = None

    @property
    def has_rollback_data(self) -> bool:
        return any(lv.up_minutes for lv in self.levels.values())

    @property
    def has_clear_data(self) -> bool:
        return any(lv.clear_minutes for lv in self.levels.values())

    @property
    def log_e(self) -> float:
        return log_mean_exp([lv.up.log_e for lv in self.levels.values()])

    def update_peak(self, minute: int) -> None:
        if not self.levels or not self.has_rollback_data:
            return
        now = self.log_e
        if now > self.peak_log_e:
            self.peak_log_e = now
            self.peak_minute = minute

    def evidence(
        self,
        clear_threshold: float,
        canary_per_minute: Sequence[int],
        baseline_per_minute: Sequence[int],
        min_tail: int,
    ) -> dict[str, Any]:
        """Plain-data evidence; ``*_per_minute`` are the request counts of the stage's minutes
        with data (for the "not measurable" reasons)."""
        minutes = len(canary_per_minute)
        levels: dict[str, Any] = {}
        for level, lv in sorted(self.levels.items()):
            clear_log_e = _r(lv.clear.log_e)
            measurable = lv.tail_minutes > 0 and 2 * lv.tail_minutes >= minutes
            why = None
            if not measurable:
                why = _traffic_reason(
                    level, lv.tail_minutes, canary_per_minute, baseline_per_minute, min_tail
                )
            levels[level_key(level)] = {
                "log_e": _r(lv.up.log_e),
                "peak_log_e": _r(lv.up.peak_log_e),
                "minutes": lv.up_minutes,
                "clear_log_e": clear_log_e,
                "clear_minutes": lv.clear_minutes,
                "measurable_minutes": lv.tail_minutes,
                "measurable": measurable,
                "why": why,
                "cleared": lv.clear_minutes > 0 and clear_log_e >= clear_threshold,
            }
        for level, why in sorted(self.unsupported.items()):
            levels[level_key(level)] = {
                "log_e": 0.0,
                "peak_log_e": 0.0,
                "minutes": 0,
                "clear_log_e": 0.0,
                "clear_minutes": 0,
                "measurable_minutes": 0,
                "measurable": False,
                "why": why,
                "cleared": False,
            }
        return {
            "source": self.source,
            "log_e": _r(self.log_e) if self.levels else 0.0,
            "peak_log_e": _r(self.peak_log_e),
            "peak_minute": self.peak_minute,
            "levels": levels,
        }


def _traffic_reason(
    level: float,
    measurable_minutes: int,
    canary: Sequence[int],
    baseline: Sequence[int],
    min_tail: int,
) -> str:
    need = requests_needed(level, min_tail)
    c = int(median(canary)) if canary else 0
    b = int(median(baseline)) if baseline else 0
    return (
        f"P{100 * level:g} needs {need} requests a minute on each side ({min_tail} beyond the "
        f"quantile); the canary had a median of {c} a minute, the baseline {b} "
        f"(measurable in {measurable_minutes} of {len(canary)} minutes)"
    )
