"""The sequential canary judge: ``judge_stage(minutes, settings) -> Verdict``. Pure, deterministic.

Safe to ask every minute for as long as a stage runs: every test is an anytime-valid
e-process (see :mod:`shared.judge.evalues`).

Metrics
    Error rate: the conditional-binomial mixture e-process on canary/baseline error counts with
    the traffic share observed each minute; null ratio ``tolerance`` for rollback, null ratio
    ``clear_margin`` (alternatives below it) for clearing.

    Latency, from per-request data when a minute carries :class:`Exceedance` counts: the same
    count e-process on "slower than the baseline's previous-minute quantile" counts, per level,
    averaged over the levels for rollback. From per-minute percentiles otherwise: a sequential
    sign test on ``canary P_L > (1 + latency_margin) x baseline P_L`` over minutes with enough
    requests for the percentile to mean something (approximately valid only: each minute gives
    one bit, so it is slow).

Decision, in this order
    1. no minute with traffic on both sides: hold (``NO_DATA``): never a pass;
    2. any guarded metric's e-process has reached ``K / alpha`` at some minute of the stage
       (K = guarded metrics with data: Bonferroni over e-values): rollback;
    3. the stage minimums (minutes with data, canary requests) are not met: hold;
    4. the canary failed more than half its requests: hold, whatever the baseline did;
    5. every metric is cleared (its clearing e-value is now at least ``1 / clear_alpha``; the
       error rate only after ``min_error_events`` events): promote; otherwise hold.

Minutes with zero traffic on either side, or with more errors than requests (the two counts come
from separate metrics that can disagree for a minute), carry no data: they are skipped and
counted in the evidence. Negative or non-numeric values are a bad input (``InvalidInput``).

The evidence is plain JSON data (finite floats rounded to 6 digits); the decision is computed
from those rounded figures by :func:`decision_from_evidence`, so the recorded evidence always
reproduces the decision.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from shared.errors import InvalidInput
from shared.judge.evalues import CLEAR_GRID, ROLLBACK_GRID, RatioProcess, SignProcess, log_mean_exp
from shared.judge.types import Decision, Exceedance, JudgeSettings, Minute, Verdict

# ------------------------------------------------------------------------- reason constants
# (CamelCase like the engine's own reasons; NO_DATA is the engine's "NoData" too)
ERROR_RATE_REGRESSION = "ErrorRateRegression"
LATENCY_REGRESSION = "LatencyRegression"
CLEARED = "Cleared"
NO_DATA = "NoData"
INSUFFICIENT_DATA = "InsufficientData"
ACCUMULATING = "Accumulating"
LATENCY_ACCUMULATING = "LatencyAccumulating"
ERROR_RATE_CEILING = "ErrorRateCeiling"

REASONS: tuple[str, ...] = (
    ERROR_RATE_REGRESSION,
    LATENCY_REGRESSION,
    CLEARED,
    NO_DATA,
    INSUFFICIENT_DATA,
    ACCUMULATING,
    LATENCY_ACCUMULATING,
    ERROR_RATE_CEILING,
)

# A canary failing more than this share of its requests is never promoted.
MAX_PROMOTION_ERROR_RATE = 0.5
# A per-minute percentile P_L is compared only when both sides had at least this many
# requests above it (n x (1 - L)); below that it is mostly noise.
MIN_TAIL_REQUESTS = 5
# Per-minute percentile fields of :class:`Minute`, by quantile level.
AGGREGATE_FIELDS: dict[float, tuple[str, str]] = {
    0.5: ("canary_p50", "baseline_p50"),
    0.9: ("canary_p90", "baseline_p90"),
    0.99: ("canary_p99", "baseline_p99"),
}
SOURCE_REQUESTS = "requests"
SOURCE_AGGREGATES = "aggregates"

_DIGITS = 6
_EPS = 1e-9


def _r(value: float) -> float:
    return round(value, _DIGITS)


class _Level:
    """One latency level's rollback and clearing processes for one data source."""

    __slots__ = ("clear", "clear_minutes", "up", "up_minutes")

    def __init__(self, up: RatioProcess | SignProcess, clear: RatioProcess | SignProcess) -> None:
        self.up = up
        self.clear = clear
        self.up_minutes = 0
        self.clear_minutes = 0


class _Latency:
    """Latency evidence from one source (per-request exceedances or per-minute percentiles)."""

    __slots__ = ("levels", "peak_log_e", "peak_minute", "source")

    def __init__(self, source: str, levels: dict[float, _Level]) -> None:
        self.source = source
        self.levels = levels
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

    def evidence(self, clear_threshold: float) -> dict[str, Any]:
        levels: dict[str, Any] = {}
        for level, lv in sorted(self.levels.items()):
            clear_log_e = _r(lv.clear.log_e)
            levels[_level_key(level)] = {
                "log_e": _r(lv.up.log_e),
                "peak_log_e": _r(lv.up.peak_log_e),
                "minutes": lv.up_minutes,
                "clear_log_e": clear_log_e,
                "clear_minutes": lv.clear_minutes,
                "cleared": lv.clear_minutes > 0 and clear_log_e >= clear_threshold,
            }
        return {
            "source": self.source,
            "log_e": _r(self.log_e) if self.levels else 0.0,
            "peak_log_e": _r(self.peak_log_e),
            "peak_minute": self.peak_minute,
            "levels": levels,
        }


def _level_key(level: float) -> str:
    return f"{level:g}"


class StageJudge:
    """Incremental judge of one stage: :meth:`add` each closed minute, oldest first, then
    :meth:`verdict`. ``judge_stage`` is ``add`` over all minutes plus one ``verdict``."""

    def __init__(self, settings: JudgeSettings) -> None:
        self.settings = settings
        self.minutes = 0
        self.minutes_with_data = 0
        self.minutes_no_traffic = 0
        self.minutes_inconsistent = 0
        self.canary_requests = 0
        self.canary_errors = 0
        self.baseline_requests = 0
        self.baseline_errors = 0
        self.errors_up = RatioProcess(settings.tolerance, ROLLBACK_GRID)
        self.errors_clear = RatioProcess(settings.clear_margin, CLEAR_GRID)
        levels = sorted(set(settings.latency_levels))
        self.requests = _Latency(
            SOURCE_REQUESTS,
            {
                lv: _Level(RatioProcess(1.0, ROLLBACK_GRID), RatioProcess(1.0, CLEAR_GRID))
                for lv in levels
            },
        )
        self.aggregates = _Latency(
            SOURCE_AGGREGATES,
            {
                lv: _Level(SignProcess(), SignProcess())
                for lv in levels
                if _aggregate_level(lv) is not None
            },
        )

    # ------------------------------------------------------------------------------ input
    def add(self, minute: Minute) -> None:
        """Add the next closed minute of the stage (raises InvalidInput on a malformed one)."""
        index = self.minutes
        n, x, m, y = _counts(minute, index)
        self.minutes += 1
        if x > n or y > m:
            self.minutes_inconsistent += 1
            return
        if n == 0 or m == 0:
            self.minutes_no_traffic += 1
            return
        self.minutes_with_data += 1
        self.canary_requests += n
        self.canary_errors += x
        self.baseline_requests += m
        self.baseline_errors += y
        self.errors_up.add(n, x, m, y, index)
        self.errors_clear.add(n, x, m, y, index)
        if not self.settings.guard_latency:
            return
        self._add_exceedances(minute, index)
        self._add_percentiles(minute, n, m, index)
        self.requests.update_peak(index)
        self.aggregates.update_peak(index)

    def _add_exceedances(self, minute: Minute, index: int) -> None:
        margin = self.settings.latency_margin
        for j, e in enumerate(minute.exceedances):
            _check_exceedance(e, index, j)
            level = _match_level(e.level, self.requests.levels)
            if level is None or e.canary_total == 0 or e.baseline_total == 0:
                continue
            if e.canary_slow > e.canary_total or e.baseline_slow > e.baseline_total:
                continue  # inconsistent counts: no data
            lv = self.requests.levels[level]
            assert isinstance(lv.up, RatioProcess) and isinstance(lv.clear, RatioProcess)
            canary_threshold = (
                e.threshold_ms if e.canary_threshold_ms is None else e.canary_threshold_ms
            )
            applied = canary_threshold / e.threshold_ms - 1.0
            counts = (e.canary_total, e.canary_slow, e.baseline_total, e.baseline_slow)
            # Counts made with a larger margin than the policy's still show "slower than the
            # margin"; counts made with a smaller one still show "within the margin".
            if applied >= margin - _EPS:
                lv.up.add(*counts, index)
                lv.up_minutes += 1
            if applied <= margin + _EPS:
                lv.clear.add(*counts, index)
                lv.clear_minutes += 1

    def _add_percentiles(self, minute: Minute, n: int, m: int, index: int) -> None:
        factor = 1.0 + self.settings.latency_margin
        for level, lv in self.aggregates.levels.items():
            names = _aggregate_level(level)
            assert names is not None
            canary = _percentile(minute, names[0], index)
            baseline = _percentile(minute, names[1], index)
            if canary is None or baseline is None:
                continue
            tail = 1.0 - level
            if n * tail < MIN_TAIL_REQUESTS or m * tail < MIN_TAIL_REQUESTS:
                continue
            assert isinstance(lv.up, SignProcess) and isinstance(lv.clear, SignProcess)
            lv.up.add(canary > factor * baseline, index)
            lv.clear.add(canary < factor * baseline, index)
            lv.up_minutes += 1
            lv.clear_minutes += 1

    # ----------------------------------------------------------------------------- output
    def _rollback_latency(self) -> _Latency | None:
        if not self.settings.guard_latency:
            return None
        if self.requests.has_rollback_data:
            return self.requests
        if self.aggregates.has_rollback_data:
            return self.aggregates
        return None

    def _clear_latency(self) -> _Latency | None:
        if not self.settings.guard_latency:
            return None
        if self.requests.has_clear_data:
            return self.requests
        if self.aggregates.has_clear_data:
            return self.aggregates
        return None

    def evidence(self) -> dict[str, Any]:
        s = self.settings
        rollback_latency = self._rollback_latency()
        clear_latency = self._clear_latency()
        latency_in_play = rollback_latency is not None or clear_latency is not None
        guarded = 1 + (rollback_latency is not None)
        clear_threshold = _r(math.log(1.0 / s.clear_alpha))
        up, clear = self.errors_up, self.errors_clear
        estimate = (
            (self.canary_errors / self.canary_requests)
            / (self.baseline_errors / self.baseline_requests)
            if self.canary_requests and self.baseline_requests and self.baseline_errors
            else None
        )
        evidence: dict[str, Any] = {
            "minutes": self.minutes,
            "minutes_with_data": self.minutes_with_data,
            "minutes_no_traffic": self.minutes_no_traffic,
            "minutes_inconsistent": self.minutes_inconsistent,
            "canary_requests": self.canary_requests,
            "canary_errors": self.canary_errors,
            "baseline_requests": self.baseline_requests,
            "baseline_errors": self.baseline_errors,
            "metrics_guarded": guarded,
            "alpha": s.alpha,
            "clear_alpha": s.clear_alpha,
            "rollback_threshold_log_e": _r(math.log(guarded / s.alpha)),
            "clear_threshold_log_e": clear_threshold,
            "min_minutes": s.min_minutes,
            "min_requests": s.min_requests,
            "min_error_events": s.min_error_events,
            "max_promotion_error_rate": MAX_PROMOTION_ERROR_RATE,
            "error_rate": {
                "tolerance": s.tolerance,
                "log_e": _r(up.log_e),
                "peak_log_e": _r(up.peak_log_e),
                "peak_minute": up.peak_minute,
                "clear_margin": s.clear_margin,
                "clear_log_e": _r(clear.log_e),
                "error_events": clear.events,
                "ratio_observed": None if estimate is None else _r(estimate),
            },
            "latency": None,
        }
        if latency_in_play:
            evidence["latency"] = {
                "margin": s.latency_margin,
                "rollback": None
                if rollback_latency is None
                else rollback_latency.evidence(clear_threshold),
                "clear": None if clear_latency is None else clear_latency.evidence(clear_threshold),
            }
        return evidence

    def verdict(self) -> Verdict:
        evidence = self.evidence()
        decision, reason = decision_from_evidence(evidence)
        return Verdict(decision=decision, reason=reason, evidence=evidence)


def decision_from_evidence(evidence: Mapping[str, Any]) -> tuple[Decision, str]:
    """The decision and reason the recorded evidence implies (the judge decides with this)."""
    if evidence["minutes_with_data"] == 0:
        return "hold", NO_DATA
    up_threshold = evidence["rollback_threshold_log_e"]
    errors = evidence["error_rate"]
    if errors["peak_log_e"] >= up_threshold:
        return "rollback", ERROR_RATE_REGRESSION
    latency = evidence["latency"]
    rollback_latency = None if latency is None else latency["rollback"]
    if rollback_latency is not None and rollback_latency["peak_log_e"] >= up_threshold:
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
    clear_threshold = evidence["clear_threshold_log_e"]
    if not (
        errors["error_events"] > 0
        and errors["error_events"] >= evidence["min_error_events"]
        and errors["clear_log_e"] >= clear_threshold
    ):
        return "hold", ACCUMULATING
    if latency is not None:
        cleared = latency["clear"] is not None and all(
            level["cleared"] for level in latency["clear"]["levels"].values()
        )
        if not cleared:
            return "hold", LATENCY_ACCUMULATING
    return "promote", CLEARED


def judge_stage(minutes: Sequence[Minute], settings: JudgeSettings) -> Verdict:
    """The verdict on a stage from its closed minutes so far (oldest first)."""
    stage = StageJudge(settings)
    for minute in minutes:
        stage.add(minute)
    return stage.verdict()


def judge_series(minutes: Sequence[Minute], settings: JudgeSettings) -> list[Verdict]:
    """The verdict after each minute, as if the judge were asked once a minute (replay)."""
    stage = StageJudge(settings)
    out: list[Verdict] = []
    for minute in minutes:
        stage.add(minute)
        out.append(stage.verdict())
    return out


class SequentialJudge:
    """The Judge port: the sequential judge above."""

    def judge_stage(self, minutes: Sequence[Minute], settings: JudgeSettings) -> Verdict:
        return judge_stage(minutes, settings)


# ---------------------------------------------------------------------------- validation
def _count(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{where} must be a whole number, got {value!r}")
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise InvalidInput(f"{where} must be a whole number, got {value!r}")
    if value < 0:
        raise InvalidInput(f"{where} must be >= 0, got {value!r}")
    return int(value)


def _counts(minute: Minute, index: int) -> tuple[int, int, int, int]:
    if not isinstance(minute, Minute):
        raise InvalidInput(f"minutes[{index}] must be a Minute, got {type(minute).__name__}")
    return (
        _count(minute.canary_requests, f"minutes[{index}].canary_requests"),
        _count(minute.canary_errors, f"minutes[{index}].canary_errors"),
        _count(minute.baseline_requests, f"minutes[{index}].baseline_requests"),
        _count(minute.baseline_errors, f"minutes[{index}].baseline_errors"),
    )


def _percentile(minute: Minute, name: str, index: int) -> float | None:
    value = getattr(minute, name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"minutes[{index}].{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise InvalidInput(f"minutes[{index}].{name} must be finite and >= 0, got {value!r}")
    return float(value)


def _check_exceedance(e: Exceedance, index: int, j: int) -> None:
    where = f"minutes[{index}].exceedances[{j}]"
    if not isinstance(e, Exceedance):
        raise InvalidInput(f"{where} must be an Exceedance, got {type(e).__name__}")
    for name in ("canary_slow", "canary_total", "baseline_slow", "baseline_total"):
        _count(getattr(e, name), f"{where}.{name}")
    for name in ("level", "threshold_ms", "canary_threshold_ms"):
        value = getattr(e, name)
        if value is None and name == "canary_threshold_ms":
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value <= 0
        ):
            raise InvalidInput(f"{where}.{name} must be a finite number > 0, got {value!r}")
    if e.level >= 1:
        raise InvalidInput(f"{where}.level must be below 1, got {e.level!r}")


def _match_level(level: float, levels: Mapping[float, Any]) -> float | None:
    for known in levels:
        if abs(known - level) < _EPS:
            return known
    return None


def _aggregate_level(level: float) -> tuple[str, str] | None:
    for known, names in AGGREGATE_FIELDS.items():
        if abs(known - level) < _EPS:
            return names
    return None
