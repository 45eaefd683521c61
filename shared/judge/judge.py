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

Overdispersion
    With ``estimate_dispersion`` the rollback evidence is tempered by the canary's
    extra-binomial variation estimated from the stage (:class:`Dispersion`), so canary-only
    minute-to-minute noise does not roll a good canary back; the evidence of every minute so
    far is divided by the estimate as it stands now (quasi-likelihood), so the weight of the
    early minutes is revised with the estimate. The clearing evidence is not tempered: it
    is anytime-valid under the binomial model; the protection against a canary cleared on a
    noisy stage is the rollback test, which stays armed at every later stage and tick. Tempering
    both paid twice on plain binomial data (the estimate exceeds 1 by chance in the first
    minutes): a good canary's first stage cleared in median 5 minutes instead of 4, slower than
    savvi (bench-judge, A/A cell), while the rate at which a canary 2x worse (the clearing
    null) was cleared under lognormal sd 1.0 noise changed from 33 % to 49 %, savvi's 51 %.

Decision
    In :mod:`shared.judge.decision`, from the evidence this module records.

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

from shared.judge.decision import MAX_PROMOTION_ERROR_RATE, decision_from_evidence
from shared.judge.dispersion import Dispersion
from shared.judge.evalues import (
    CLEAR_GRID,
    ROLLBACK_GRID,
    ROLLBACK_WEIGHTS,
    MarginProcess,
    RatioProcess,
    SignProcess,
)
from shared.judge.levels import LatencySource, LevelProcesses, tail_ok
from shared.judge.types import Carried, JudgeSettings, Minute, Verdict
from shared.judge.validate import check_exceedance, counts, percentile

# The default of JudgeSettings.latency_min_tail: a per-minute percentile P_L is compared only
# when both sides had at least this many requests above it (n x (1 - L)); below that it is
# mostly noise.
MIN_TAIL_REQUESTS = 5
# Per-minute percentile fields of :class:`Minute`, by quantile level.
# Azure Monitor's online-endpoint metrics RequestLatency_P50, _P90, _P95, _P99 (learn.microsoft.
# com/azure/azure-monitor/reference/supported-metrics/microsoft-machinelearningservices-
# workspaces-onlineendpoints-metrics; read by shared.azure.metric_reading).
AGGREGATE_FIELDS: dict[float, tuple[str, str]] = {
    0.5: ("canary_p50", "baseline_p50"),
    0.9: ("canary_p90", "baseline_p90"),
    0.95: ("canary_p95", "baseline_p95"),
    0.99: ("canary_p99", "baseline_p99"),
}
SOURCE_REQUESTS = "requests"
SOURCE_AGGREGATES = "aggregates"

# The largest share of the rollback threshold one minute's evidence may carry: a rollback
# needs at least two minutes that point the same way, so one outlying minute (canary-only
# noise, a half-ingested minute) never decides alone. The cap lowers each factor, so the
# e-process stays valid. PRIOR_DF and DISPERSION_UPPER shape the overdispersion estimate
# (see Dispersion). Under canary-only lognormal noise the false rollbacks that remain come in
# the first minutes, before any estimate exists (the cap is what limits them: two minutes of a
# lognormal sd 1.0 canary look like a 4x regression). The rollback evidence of every minute
# follows the latest estimate (RatioProcess), so an estimate inflated early by chance is
# revised with all the evidence it tempered; the upward allowance (in standard errors of the
# estimate) is then a small one. Chosen on seeds other than the benchmark's (7, 1000 rollouts;
# 11, 2000): at 0.5, sd 1.0 false rollbacks 0.4 % and 0.9 %, sd 0.5 0.3 % and 1.0 %; at 2 (the
# allowance when each minute kept the estimate of its own time), 0.3 % and 0.7 %, 0.3 % and
# 0.8 %, but a 2x regression's p90 time to detect was 14 minutes instead of 13 and a 4x one's
# 4 instead of 3 (savvi 12 and 3).
MINUTE_SHARE = 0.55
PRIOR_DF = 2.0
DISPERSION_UPPER = 0.5

_DIGITS = 6
_EPS = 1e-9


def _r(value: float) -> float:
    return round(value, _DIGITS)


class StageJudge:
    """Incremental judge of one stage: :meth:`add` each closed minute, oldest first, then
    :meth:`verdict`. ``judge_stage`` is ``add`` over all minutes plus one ``verdict``."""

    def __init__(self, settings: JudgeSettings, carried: Carried | None = None) -> None:
        self.settings = settings
        self.carried = carried or Carried()
        self.minutes = 0
        self.minutes_with_data = 0
        self.minutes_no_traffic = 0
        self.minutes_inconsistent = 0
        self.canary_requests = 0
        self.canary_errors = 0
        self.baseline_requests = 0
        self.baseline_errors = 0
        self.latency_minutes = 0  # minutes with data that carried any latency figure
        self._canary_per_minute: list[int] = []
        self._baseline_per_minute: list[int] = []
        self.dispersion = Dispersion(PRIOR_DF, DISPERSION_UPPER)
        # no single minute may carry the rollback evidence alone (see MINUTE_SHARE)
        self._minute_cap = MINUTE_SHARE * math.log(1.0 / settings.alpha)
        self.errors_up = RatioProcess(
            settings.tolerance, ROLLBACK_GRID, ROLLBACK_WEIGHTS, cap=self._minute_cap
        )
        self.errors_clear = MarginProcess(settings.clear_margin, settings.clear_abs_margin)
        levels = sorted(set(settings.latency_levels))
        self.requests = LatencySource(
            SOURCE_REQUESTS,
            {
                lv: LevelProcesses(RatioProcess(1.0, ROLLBACK_GRID), RatioProcess(1.0, CLEAR_GRID))
                for lv in levels
            },
        )
        self.aggregates = LatencySource(
            SOURCE_AGGREGATES,
            {
                lv: LevelProcesses(SignProcess(), SignProcess())
                for lv in levels
                if _aggregate_level(lv) is not None
            },
            {
                lv: f"no per-minute percentile at P{100 * lv:g} (the metrics give P50, P90, "
                "P95, P99; per-request data measures any level)"
                for lv in levels
                if _aggregate_level(lv) is None
            },
        )

    # ------------------------------------------------------------------------------ input
    def add(self, minute: Minute) -> None:
        """Add the next closed minute of the stage (raises InvalidInput on a malformed one)."""
        index = self.minutes
        n, x, m, y = counts(minute, index)
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
        self._canary_per_minute.append(n)
        self._baseline_per_minute.append(m)
        temper = 1.0
        if self.settings.estimate_dispersion:
            self.dispersion.add(n, x, m, y)
            temper = self.dispersion.factor
        self.errors_up.add(n, x, m, y, index, temper)
        # the clearing evidence is never tempered (see the module docstring, Overdispersion)
        self.errors_clear.add(n, x, m, y, index)
        if not self.settings.guard_latency:
            return
        if minute.exceedances or any(
            getattr(minute, name) is not None for pair in AGGREGATE_FIELDS.values() for name in pair
        ):
            self.latency_minutes += 1
        self._add_exceedances(minute, index)
        self._add_percentiles(minute, n, m, index)
        self.requests.update_peak(index)
        self.aggregates.update_peak(index)

    def _add_exceedances(self, minute: Minute, index: int) -> None:
        margin = self.settings.latency_margin
        for j, e in enumerate(minute.exceedances):
            check_exceedance(e, index, j)
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
            counts_ = (e.canary_total, e.canary_slow, e.baseline_total, e.baseline_slow)
            # Counts made with a larger margin than the policy's still show "slower than the
            # margin"; counts made with a smaller one still show "within the margin".
            if applied >= margin - _EPS:
                lv.up.add(*counts_, index)
                lv.up_minutes += 1
            if applied <= margin + _EPS:
                lv.clear.add(*counts_, index)
                lv.clear_minutes += 1
            if tail_ok(level, e.canary_total, e.baseline_total, self.settings.latency_min_tail):
                lv.tail_minutes += 1

    def _add_percentiles(self, minute: Minute, n: int, m: int, index: int) -> None:
        factor = 1.0 + self.settings.latency_margin
        for level, lv in self.aggregates.levels.items():
            names = _aggregate_level(level)
            assert names is not None
            canary = percentile(minute, names[0], index)
            baseline = percentile(minute, names[1], index)
            if canary is None or baseline is None:
                continue
            if not tail_ok(level, n, m, self.settings.latency_min_tail):
                continue
            assert isinstance(lv.up, SignProcess) and isinstance(lv.clear, SignProcess)
            lv.up.add(canary > factor * baseline, index)
            lv.clear.add(canary < factor * baseline, index)
            lv.up_minutes += 1
            lv.clear_minutes += 1
            lv.tail_minutes += 1

    # ----------------------------------------------------------------------------- output
    def _rollback_latency(self) -> LatencySource | None:
        if not self.settings.guard_latency:
            return None
        if self.requests.has_rollback_data:
            return self.requests
        if self.aggregates.has_rollback_data:
            return self.aggregates
        return None

    def _clear_latency(self) -> LatencySource | None:
        if not self.settings.guard_latency:
            return None
        if self.requests.has_clear_data:
            return self.requests
        if self.aggregates.has_clear_data:
            return self.aggregates
        return None

    def _latency_evidence(self, clear_threshold: float) -> dict[str, Any] | None:
        s = self.settings
        if not s.guard_latency:
            return None
        per_minute = (self._canary_per_minute, self._baseline_per_minute, s.latency_min_tail)
        rollback = self._rollback_latency()
        clear = self._clear_latency()
        clear_ev = None if clear is None else clear.evidence(clear_threshold, *per_minute)
        if clear_ev is None:
            # no level ever had data: say why per level from the source the minutes would use
            source = self.aggregates if self.aggregates.levels else self.requests
            candidate = source.evidence(clear_threshold, *per_minute)
            measurable: list[str] = []
            why: str | None = (
                "no latency data in the stage's minutes (neither per-request exceedance counts "
                "nor per-minute percentiles)"
                if not self.latency_minutes
                else _join_why(candidate["levels"])
            )
        else:
            measurable = [k for k, lv in clear_ev["levels"].items() if lv["measurable"]]
            why = None if measurable else _join_why(clear_ev["levels"])
        return {
            "margin": s.latency_margin,
            "min_tail": s.latency_min_tail,
            "carried_log_e": _r(self.carried.latency),
            "levels_configured": [f"{lv:g}" for lv in sorted(set(s.latency_levels))],
            "rollback": None
            if rollback is None
            else rollback.evidence(clear_threshold, *per_minute),
            "clear": clear_ev,
            "measurable_levels": measurable,
            "why": why,
        }

    def evidence(self) -> dict[str, Any]:
        s = self.settings
        rollback_latency = self._rollback_latency()
        guarded = 1 + (rollback_latency is not None)
        clear_threshold = _r(math.log(1.0 / s.clear_alpha))
        up, clear = self.errors_up, self.errors_clear
        estimate = (
            (self.canary_errors / self.canary_requests)
            / (self.baseline_errors / self.baseline_requests)
            if self.canary_requests and self.baseline_requests and self.baseline_errors
            else None
        )
        return {
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
            "latency_guarded": s.guard_latency,
            "error_rate": {
                "tolerance": s.tolerance,
                "log_e": _r(up.log_e),
                "peak_log_e": _r(up.peak_log_e),
                "peak_minute": up.peak_minute,
                "carried_log_e": _r(self.carried.errors),
                "clear_margin": s.clear_margin,
                "clear_abs_margin": s.clear_abs_margin,
                "clear_log_e": _r(clear.log_e),
                "clear_ratio_log_e": _r(clear.ratio_log_e),
                "clear_abs_log_e": _r(clear.abs_log_e),
                "error_events": clear.events,
                "ratio_observed": None if estimate is None else _r(estimate),
                "dispersion": _r(self.dispersion.factor) if s.estimate_dispersion else 1.0,
                "dispersion_minutes": self.dispersion.minutes,
            },
            "latency": self._latency_evidence(clear_threshold),
        }

    def verdict(self) -> Verdict:
        evidence = self.evidence()
        decision, reason = decision_from_evidence(evidence)
        return Verdict(decision=decision, reason=reason, evidence=evidence)


def _join_why(levels: Mapping[str, Any]) -> str:
    reasons = [lv["why"] for lv in levels.values() if lv.get("why")]
    return "no latency level is measurable at this traffic: " + "; ".join(reasons)


def judge_stage(
    minutes: Sequence[Minute], settings: JudgeSettings, carried: Carried | None = None
) -> Verdict:
    """The verdict on a stage from its closed minutes so far (oldest first), with the rollback
    evidence ``carried`` from the rollout's earlier judged phases."""
    stage = StageJudge(settings, carried)
    for minute in minutes:
        stage.add(minute)
    return stage.verdict()


def judge_series(
    minutes: Sequence[Minute], settings: JudgeSettings, carried: Carried | None = None
) -> list[Verdict]:
    """The verdict after each minute, as if the judge were asked once a minute (replay)."""
    stage = StageJudge(settings, carried)
    out: list[Verdict] = []
    for minute in minutes:
        stage.add(minute)
        out.append(stage.verdict())
    return out


class SequentialJudge:
    """The Judge port: the sequential judge above."""

    def judge_stage(
        self, minutes: Sequence[Minute], settings: JudgeSettings, carried: Carried | None = None
    ) -> Verdict:
        return judge_stage(minutes, settings, carried)


# ------------------------------------------------------------------------------ helpers
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
