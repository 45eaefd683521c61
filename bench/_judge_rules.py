"""Decision rules compared by the judge benchmark. Each returns, per rollout, the minute index
at which it rolls back (-1: never); ``ours`` also the minute the first stage was cleared.

The comparison rules look at the whole rollout (as they are usually run); ours is reset at every
stage, as the engine runs it. In late scenarios (``Series.seen``) every rule reads the newest
minute as first seen (partly ingested) and the older ones final; ours may instead wait for
settled minutes (``settle``), as the engine does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from bench._judge_sim import LEVELS, FloatArray, IntArray, Series
from shared.carry import fold
from shared.judge import Carried, Exceedance, JudgeSettings, Minute, StageJudge, Verdict

_lgamma = np.vectorize(math.lgamma, otypes=[np.float64])
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _first(fired: np.ndarray) -> IntArray:
    """Index of the first True per row, -1 when none."""
    any_ = fired.any(axis=1)
    out: IntArray = np.where(any_, fired.argmax(axis=1), -1).astype(np.int64)
    return out


# --------------------------------------------------------------------------- naive threshold
def naive_error(s: Series, threshold: float = 0.01) -> IntArray:
    """Roll back on the first minute whose canary error rate is above ``threshold``."""
    n, x = (s.n, s.x) if s.seen is None else (s.seen[0], s.seen[1])
    rate = np.where(n > 0, x / np.maximum(n, 1), 0.0)
    return _first(rate > threshold)


def _as_seen(s: Series) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Cumulative (n, x, m, y) per tick as read then: final minutes plus the newest as seen."""
    out = []
    for j, v in enumerate((s.n, s.x, s.m, s.y)):
        cum = np.cumsum(v, axis=1)
        if s.seen is not None:
            cum = cum - v + s.seen[j]
        out.append(cum)
    return out[0], out[1], out[2], out[3]


def naive_latency(s: Series, level: float = 0.9, factor: float = 1.1) -> IntArray:
    """Roll back on the first minute whose canary P90 is above 1.1 x the baseline's."""
    c, b = s.canary_pct[level], s.baseline_pct[level]
    return _first(np.nan_to_num(c > factor * b, nan=0.0).astype(bool))


# -------------------------------------------------------------- exact binomial, every minute
def binomial_every_minute(s: Series, alpha: float = 0.01, terms: int = 400) -> IntArray:
    """Exact one-sided conditional binomial test on the cumulative counts, re-run each minute:
    P(Bin(K, rho) >= X) < alpha with X, K and rho pooled over the rollout so far."""
    cn, cx, cm, cy = _as_seen(s)
    ck = cx + cy
    rho = cn / np.maximum(cn + cm, 1)
    fired = np.zeros(cx.shape, dtype=bool)
    for t in range(cx.shape[1]):
        X, K, p = cx[:, t], ck[:, t], np.clip(rho[:, t], 1e-12, 1 - 1e-12)
        cand = (K > 0) & (K * p < X)  # otherwise the p-value is at least about 1/2
        if not cand.any():
            continue
        Xc, Kc, pc = X[cand].astype(np.float64), K[cand].astype(np.float64), p[cand]
        log_pmf = (
            _lgamma(Kc + 1)
            - _lgamma(Xc + 1)
            - _lgamma(Kc - Xc + 1)
            + Xc * np.log(pc)
            + (Kc - Xc) * np.log1p(-pc)
        )
        j = Xc[:, None] + np.arange(terms)[None, :]
        ratio = np.where(
            j < Kc[:, None], (Kc[:, None] - j) / (j + 1) * (pc / (1 - pc))[:, None], 0.0
        )
        steps = np.concatenate([np.ones((len(Xc), 1)), np.cumprod(ratio, axis=1)[:, :-1]], axis=1)
        tail = np.exp(log_pmf) * steps.sum(axis=1)
        hit = np.zeros(len(X), dtype=bool)
        hit[cand] = tail < alpha
        fired[:, t] = hit
    return _first(fired)


# ----------------------------------------------------------------- Kayenta-like Mann-Whitney
def mann_whitney_fired(
    canary: FloatArray,
    baseline: FloatArray,
    confidence: float = 0.98,
    tolerance: float = 0.25,
    min_points: int = 5,
) -> npt.NDArray[np.bool_]:
    """Mann-Whitney U on the per-minute series so far (canary vs baseline), re-run each
    minute: roll back when the canary is higher at ``confidence`` (two-sided, as Kayenta) and
    its mean is more than ``tolerance`` above the baseline's."""
    r, t_max = canary.shape
    u = np.zeros(r)
    fired = np.zeros((r, t_max), dtype=bool)
    z_crit = _z_for(1.0 - (1.0 - confidence) / 2.0)
    for t in range(t_max):
        c_new, b_new = canary[:, t : t + 1], baseline[:, t : t + 1]
        # pairs (c_new, b_0..t) and (c_0..t-1, b_new)
        b_all, c_old = baseline[:, : t + 1], canary[:, :t]
        u += ((c_new > b_all) + 0.5 * (c_new == b_all)).sum(axis=1)
        u += ((c_old > b_new) + 0.5 * (c_old == b_new)).sum(axis=1)
        npts = t + 1
        if npts < min_points:
            continue
        mean_u = npts * npts / 2.0
        sd = math.sqrt(npts * npts * (2 * npts + 1) / 12.0)
        z = (u - mean_u - 0.5) / sd
        ratio = canary[:, :npts].mean(axis=1) > (1 + tolerance) * baseline[:, :npts].mean(axis=1)
        fired[:, t] = (z > z_crit) & ratio
    return fired


def mann_whitney(canary: FloatArray, baseline: FloatArray) -> IntArray:
    """The first minute the Kayenta-like test fires (-1: never)."""
    return _first(mann_whitney_fired(canary, baseline))


def _z_for(p: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(p)


def _rates(n: IntArray, x: IntArray) -> FloatArray:
    out: FloatArray = np.where(n > 0, x / np.maximum(n, 1), 0.0)
    return out


def kayenta_error(s: Series) -> IntArray:
    c, b = _rates(s.n, s.x), _rates(s.m, s.y)
    if s.seen is None:
        return mann_whitney(c, b)
    # the newest minute as first seen: re-run the test on each tick's view
    fired = np.zeros(c.shape, dtype=bool)
    seen_c, seen_b = _rates(s.seen[0], s.seen[1]), _rates(s.seen[2], s.seen[3])
    for t in range(c.shape[1]):
        vc, vb = c[:, : t + 1].copy(), b[:, : t + 1].copy()
        vc[:, t], vb[:, t] = seen_c[:, t], seen_b[:, t]
        fired[:, t] = mann_whitney_fired(vc, vb)[:, t]
    return _first(fired)


def kayenta_latency(s: Series, level: float = 0.5) -> IntArray:
    return mann_whitney(np.nan_to_num(s.canary_pct[level]), np.nan_to_num(s.baseline_pct[level]))


# ---------------------------------------------------------------------------------- ours
@dataclass(frozen=True)
class OursResult:
    rollback: IntArray  # minute index of the rollback, -1: none
    reason: list[str]
    cleared: IntArray  # minute index at which the first stage was first promotable, -1: never


class _Outcomes:
    """Each rollout's rollback and first clear of the first stage, as the verdicts come."""

    def __init__(self, rollouts: int) -> None:
        self.rollback = np.full(rollouts, -1, dtype=np.int64)
        self.cleared = np.full(rollouts, -1, dtype=np.int64)
        self.reasons = [""] * rollouts

    def note(self, r: int, t: int, verdict: Verdict, first_stage: bool) -> bool:
        """Record minute ``t``'s verdict on rollout ``r``; True once it rolled back."""
        if verdict.decision == "rollback":
            self.rollback[r], self.reasons[r] = t, verdict.reason
            return True
        if verdict.decision == "promote" and self.cleared[r] < 0 and first_stage:
            self.cleared[r] = t
        return False

    def result(self) -> OursResult:
        return OursResult(rollback=self.rollback, reason=self.reasons, cleared=self.cleared)


def ours(s: Series, settings: JudgeSettings, latency: str = "none", settle: int = 0) -> OursResult:
    """The product's judge, asked every minute, afresh at every stage at the cell's alpha, as
    savvi is (the engine also splits alpha over the stages and carries the rollback evidence
    from one to the next: :func:`ours_carried`).

    ``latency``: "none" (counts only), "requests" (exceedance counts) or "aggregates"
    (per-minute P50/P90/P99). ``settle``: the judge reads only minutes at least this many
    minutes old (final by then), so each decision comes ``settle`` minutes after its data; in
    a late scenario with ``settle`` 0 it reads the newest minute as first seen."""
    if s.seen is not None and settle == 0:
        return _ours_unsettled(s, settings)
    res = _ours(s, settings, latency)
    if settle == 0:
        return res
    return OursResult(
        rollback=settled(res.rollback, settle, s.minutes),
        reason=res.reason,
        cleared=settled(res.cleared, settle, s.minutes),
    )


def ours_carried(s: Series, settings: JudgeSettings) -> OursResult:
    """The product's judge as the engine runs it on a staged rollout: each stage at
    alpha / S (S: the stages), the rollback evidence carried from one stage into the next
    (:func:`shared.carry.fold`: every stage starts a chain). Error counts only."""
    stages = int(s.stage.max()) + 1
    per_stage = replace(settings, alpha=settings.alpha / stages)
    n, x, m, y = s.n.tolist(), s.x.tolist(), s.m.tolist(), s.y.tolist()
    stage = s.stage.tolist()
    out = _Outcomes(s.rollouts)
    for r in range(s.rollouts):
        log_b = 0.0
        judge = StageJudge(per_stage)
        current = stage[0]
        for t in range(s.minutes):
            if stage[t] != current:
                current = stage[t]
                log_b = fold(log_b, judge.errors_up.log_e, new_component=True)
                judge = StageJudge(per_stage, Carried(errors=log_b))
            judge.add(Minute(n[r][t], x[r][t], m[r][t], y[r][t]))
            if out.note(r, t, judge.verdict(), current == stage[0]):
                break
    return out.result()


def settled(at: IntArray, settle: int, minutes: int) -> IntArray:
    """Decision minutes of a rule that reads each minute only ``settle`` minutes after it
    closes (final by then): each comes ``settle`` minutes later, or after the horizon (-1)."""
    out: IntArray = np.where((at >= 0) & (at + settle < minutes), at + settle, -1)
    return out


def _ours_unsettled(s: Series, settings: JudgeSettings) -> OursResult:
    import copy

    assert s.seen is not None
    n, x, m, y = s.n.tolist(), s.x.tolist(), s.m.tolist(), s.y.tolist()
    sn, sx, sm, sy = (v.tolist() for v in s.seen)
    stage = s.stage.tolist()
    out = _Outcomes(s.rollouts)
    for r in range(s.rollouts):
        judge = StageJudge(settings)
        current = stage[0]
        for t in range(s.minutes):
            if stage[t] != current:
                current = stage[t]
                judge = StageJudge(settings)
            view = copy.deepcopy(judge)
            view.add(Minute(sn[r][t], sx[r][t], sm[r][t], sy[r][t]))
            verdict = view.verdict()
            judge.add(Minute(n[r][t], x[r][t], m[r][t], y[r][t]))
            if out.note(r, t, verdict, current == stage[0]):
                break
    return out.result()


def _ours(s: Series, settings: JudgeSettings, latency: str) -> OursResult:
    r_count, t_count = s.rollouts, s.minutes
    n, x, m, y = s.n.tolist(), s.x.tolist(), s.m.tolist(), s.y.tolist()
    stage = s.stage.tolist()
    pct: dict[str, list[list[float]]] = {}
    if latency == "aggregates":
        for level, side in ((0.5, "p50"), (0.9, "p90"), (0.99, "p99")):
            pct[f"canary_{side}"] = s.canary_pct[level].tolist()
            pct[f"baseline_{side}"] = s.baseline_pct[level].tolist()
    exc: list[tuple[float, list[list[float]], list[list[float]], list[list[int]], list[list[int]]]]
    exc = []
    if latency == "requests":
        for level in LEVELS:
            thr, cthr, cs, bs = s.exceedances[level]
            exc.append((level, thr.tolist(), cthr.tolist(), cs.tolist(), bs.tolist()))
    out = _Outcomes(r_count)
    for r in range(r_count):
        judge = StageJudge(settings)
        current = stage[0]
        for t in range(t_count):
            if stage[t] != current:
                current = stage[t]
                judge = StageJudge(settings)
            extra: dict[str, object] = {}
            if pct:
                extra = {k: (None if math.isnan(v[r][t]) else v[r][t]) for k, v in pct.items()}
            if exc:
                extra["exceedances"] = tuple(
                    Exceedance(
                        level=level,
                        threshold_ms=thr[r][t],
                        canary_slow=cs[r][t],
                        canary_total=n[r][t],
                        baseline_slow=bs[r][t],
                        baseline_total=m[r][t],
                        canary_threshold_ms=cthr[r][t],
                    )
                    for level, thr, cthr, cs, bs in exc
                    if not math.isnan(thr[r][t])
                )
            judge.add(Minute(n[r][t], x[r][t], m[r][t], y[r][t], **extra))  # type: ignore[arg-type]
            if out.note(r, t, judge.verdict(), current == stage[0]):
                break
    return out.result()
