"""Figures out of recorded evidence for :mod:`shared.explain`: canary vs baseline, thresholds,
progress toward them. Pure; every reader tolerates missing keys (older records).

Judge evidence (``shared.judge.judge.StageJudge.evidence``): counts of the stage's settled
minutes, the error-rate e-process (``log_e``, ``peak_log_e``, ``clear_log_e``) and its
thresholds (``rollback_threshold_log_e`` = log(K / alpha), ``clear_threshold_log_e`` =
log(1 / clear_alpha)), per latency level the same. A rollback fires when a ``peak_log_e``
plus the evidence carried from the rollout's earlier judged phases (``carried_log_e``,
:mod:`shared.carry`) reaches the rollback threshold, a stage clears when ``clear_log_e``
reaches the clear one, so progress is the ratio of the two (0..1). Guardrail evidence
(``shared.guardrails``): the limit and the minutes over it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, timedelta
from typing import Any

from shared import reasons as R
from shared.guardrails import window as guard_window
from shared.model import Rollout, iso, parse_time
from shared.series import expand

# Decisions that follow the one that explains a rollout (they say how it proceeds).
FOLLOW_UPS = frozenset(
    {
        R.ENDED,
        R.TRAFFIC_RESTORED,
        R.CANARY_DELETING,
        R.ROLLING_BACK,
        R.TRAFFIC_PENDING,
        R.EFFECT_FAILED,
    }
)
_LEVEL_METRIC = {"0.5": "latency_p50", "0.9": "latency_p90", "0.95": "latency_p95"}
_LEVEL_METRIC["0.99"] = "latency_p99"
_LEVEL_INDEX = {"latency_p50": 2, "latency_p90": 3, "latency_p95": 4, "latency_p99": 5}
STEP = timedelta(seconds=60)


def sub(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """``raw[key]`` when it is a mapping, else an empty one (evidence of older records)."""
    value = raw.get(key)
    return value if isinstance(value, Mapping) else {}


def pct(value: float | None) -> str:
    """A percent value with 2 decimals: ``2.4`` -> ``"2.40 %"``."""
    return "n/a" if value is None else f"{value:.2f} %"


def hhmm(value: str | None) -> str:
    t = parse_time(value) if value else None
    return "an unknown time" if t is None else t.astimezone(UTC).strftime("%H:%M UTC")


def _rate(errors: int, requests: int) -> float | None:
    return round(100.0 * min(errors, requests) / requests, 4) if requests > 0 else None


def _num(raw: Any) -> float | None:
    return float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None


def _progress(value: Any, threshold: Any) -> float:
    v, t = _num(value), _num(threshold)
    if v is None or t is None or t <= 0:
        return 0.0
    return round(max(0.0, min(1.0, v / t)), 4)


def _minutes_used(minutes: Mapping[str, Any]) -> list[str]:
    first = parse_time(minutes.get("first_settled"))
    last = parse_time(minutes.get("last_settled"))
    count = int(minutes.get("minutes_settled") or 0)
    if first is None or last is None or count <= 0:
        return []
    out: list[str] = []
    t = first
    while t <= last and len(out) < count:
        out.append(iso(t) or "")
        t += STEP
    return out


def error_why(ev: Mapping[str, Any]) -> dict[str, Any] | None:
    """Canary vs baseline error rate, the threshold and since when, from judge evidence."""
    judge = ev.get("judge")
    if not isinstance(judge, Mapping) or "canary_requests" not in judge:
        return None
    er = sub(judge, "error_rate")
    cn, ce = int(judge.get("canary_requests") or 0), int(judge.get("canary_errors") or 0)
    bn, be = int(judge.get("baseline_requests") or 0), int(judge.get("baseline_errors") or 0)
    base_rate = _rate(be, bn)
    minutes = sub(ev, "minutes")
    used = _minutes_used(minutes)
    rollback = ev.get("verdict") == "rollback"
    threshold: dict[str, Any]
    if rollback or ev.get("verdict") is None:
        ratio = _num(er.get("tolerance")) or 1.0
        threshold = {
            "value": None if base_rate is None else round(base_rate * ratio, 4),
            "unit": "%",
            "kind": "rollback",
            "log_e": _with_carried(er.get("peak_log_e"), er),
            "log_e_threshold": _num(judge.get("rollback_threshold_log_e")),
        }
    else:
        margin = _num(er.get("clear_margin")) or 1.0
        absolute = 100.0 * (_num(er.get("clear_abs_margin")) or 0.0)
        threshold = {
            "value": None
            if base_rate is None
            else round(max(base_rate * margin, base_rate + absolute), 4),
            "unit": "%",
            "kind": "clear",
            "log_e": _num(er.get("clear_log_e")),
            "log_e_threshold": _num(judge.get("clear_threshold_log_e")),
        }
    since = None
    peak = er.get("peak_minute")
    first = parse_time(minutes.get("first_settled"))
    if rollback and isinstance(peak, int) and first is not None:
        since = iso(first + STEP * peak)
    metric = "error_rate"
    if ev.get("verdict_reason") == R.LATENCY_REGRESSION:
        metric = _latency_metric(judge) or "latency_p99"
    return {
        "metric": metric,
        "label": "error rate",
        "canary": {"value": _rate(ce, cn), "unit": "%", "errors": ce, "requests": cn},
        "baseline": {"value": base_rate, "unit": "%", "errors": be, "requests": bn},
        "threshold": threshold,
        "since": since,
        "minutes_used": used,
    }


def _latency_metric(judge: Mapping[str, Any]) -> str | None:
    """The latency level with the strongest rollback evidence."""
    lat = judge.get("latency")
    rb = lat.get("rollback") if isinstance(lat, Mapping) else None
    levels = rb.get("levels") if isinstance(rb, Mapping) else None
    if not isinstance(levels, Mapping) or not levels:
        return None
    best = max(levels, key=lambda k: _num((levels[k] or {}).get("peak_log_e")) or 0.0)
    return _LEVEL_METRIC.get(str(best))


def guardrail_why(ev: Mapping[str, Any]) -> dict[str, Any] | None:
    """The canary's value over an absolute guardrail, from guardrail evidence."""
    g = ev.get("guardrail")
    if not isinstance(g, Mapping) or "limit" not in g:
        return None
    key = str(g.get("guardrail") or "")
    is_rate = key == "error_rate"
    scale, unit = (100.0, "%") if is_rate else (1.0, "ms")
    minutes = [m for m in g.get("minutes") or () if isinstance(m, Mapping)]
    last = _num(minutes[-1].get("value")) if minutes else None
    label = "error rate" if is_rate else f"{key.split('_')[0].upper()} latency"
    return {
        "metric": "guardrail_error_rate" if is_rate else "guardrail_latency",
        "label": label,
        "canary": {"value": None if last is None else round(last * scale, 4), "unit": unit},
        "baseline": {"value": None, "unit": unit},
        "threshold": {
            "value": round(float(g["limit"]) * scale, 4),
            "unit": unit,
            "kind": "guardrail",
            "guardrail": key,
            "for_s": _num(g.get("for_s")),
        },
        "since": minutes[0].get("start") if minutes else None,
        "minutes_used": [str(m.get("start")) for m in minutes if m.get("start")],
    }


def _state(rollback: float, clear: float, measurable: bool = True) -> str:
    if not measurable:
        return "not_measurable"
    if rollback >= 1.0:
        return "rollback"
    if clear >= 1.0:
        return "clear"
    return "hold"


def judge_readings(
    ev: Mapping[str, Any], series: Sequence[Mapping[str, Any]] = ()
) -> list[dict[str, Any]]:
    """One reading per judged metric (error rate, each latency level) from judge evidence."""
    judge = ev.get("judge")
    if not isinstance(judge, Mapping) or "canary_requests" not in judge:
        return [
            {
                "metric": "error_rate",
                "canary": None,
                "baseline": None,
                "unit": "%",
                "rollback_progress": 0.0,
                "clear_progress": 0.0,
                "state": "no_data",
            }
        ]
    up = judge.get("rollback_threshold_log_e")
    down = judge.get("clear_threshold_log_e")
    er = sub(judge, "error_rate")
    rb = _progress(_with_carried(er.get("peak_log_e"), er), up)
    cl = _progress(er.get("clear_log_e"), down)
    with_data = int(judge.get("minutes_with_data") or 0) > 0
    out = [
        {
            "metric": "error_rate",
            "canary": _rate(int(judge.get("canary_errors") or 0), int(judge["canary_requests"])),
            "baseline": _rate(
                int(judge.get("baseline_errors") or 0), int(judge.get("baseline_requests") or 0)
            ),
            "unit": "%",
            "rollback_progress": rb,
            "clear_progress": cl,
            "state": _state(rb, cl) if with_data else "no_data",
        }
    ]
    lat = judge.get("latency")
    if not isinstance(lat, Mapping):
        return out
    rollback = sub(lat, "rollback")
    clear = sub(lat, "clear")
    rb_levels = sub(rollback, "levels")
    cl_levels = sub(clear, "levels")
    for key in sorted(set(rb_levels) | set(cl_levels), key=lambda k: float(k)):
        metric = _LEVEL_METRIC.get(str(key))
        if metric is None:
            continue
        r_lv, c_lv = rb_levels.get(key) or {}, cl_levels.get(key) or {}
        rb = _progress(_with_carried(r_lv.get("peak_log_e"), lat), up)
        cl = _progress(c_lv.get("clear_log_e"), down)
        canary, baseline = latest_latency(series, metric)
        measurable = bool(c_lv.get("measurable", r_lv.get("measurable", True)))
        out.append(
            {
                "metric": metric,
                "canary": canary,
                "baseline": baseline,
                "unit": "ms",
                "rollback_progress": rb,
                "clear_progress": cl,
                "state": _state(rb, cl, measurable) if with_data else "no_data",
            }
        )
    return out


def latest_latency(
    series: Sequence[Mapping[str, Any]], metric: str
) -> tuple[float | None, float | None]:
    i = _LEVEL_INDEX[metric]
    for entry in reversed(series):
        c, b = list(entry.get("c") or []), list(entry.get("b") or [])
        if len(c) > i and len(b) > i and c[i] is not None and b[i] is not None:
            return _num(c[i]), _num(b[i])
    return None, None


def guardrail_readings(
    series: Sequence[Mapping[str, Any]],
    *,
    error_rate: float | None,
    latency_ms: Mapping[str, float],
    window: int,
) -> list[dict[str, Any]]:
    """A reading per active guardrail from the latest minutes with canary traffic: progress is
    the share of the window's minutes over the limit (1 = the guardrail fires)."""
    recent = [e for e in series if int((e.get("c") or [0])[0] or 0) > 0][-max(1, window) :]
    out: list[dict[str, Any]] = []
    if error_rate is not None:
        rates = [expand(e, "c")["error_rate_pct"] for e in recent]
        over = sum(1 for v in rates if v is not None and v > error_rate * 100)
        out.append(_guard("guardrail_error_rate", rates, over, window, error_rate * 100, "%"))
    for level, limit in sorted(latency_ms.items()):
        values = [expand(e, "c").get(f"{level}_ms") for e in recent]
        over = sum(1 for v in values if v is not None and v > limit)
        out.append(_guard("guardrail_latency", values, over, window, limit, "ms", level))
    return out


def _guard(
    metric: str,
    values: Sequence[Any],
    over: int,
    window: int,
    limit: float,
    unit: str,
    level: str | None = None,
) -> dict[str, Any]:
    progress = round(min(1.0, over / max(1, window)), 4)
    reading: dict[str, Any] = {
        "metric": metric,
        "canary": values[-1] if values else None,
        "baseline": None,
        "unit": unit,
        "limit": limit,
        "rollback_progress": progress,
        "clear_progress": 0.0,
        "state": "no_data" if not values else ("rollback" if progress >= 1.0 else "hold"),
    }
    if level is not None:
        reading["level"] = level
    return reading


def series_readings(r: Rollout) -> list[dict[str, Any]]:
    """Guardrail readings of rollout ``r`` from its series (none when no guardrail is set)."""
    guard = r.policy.guardrails
    if not guard.active:
        return []
    return guardrail_readings(
        r.series,
        error_rate=guard.error_rate,
        latency_ms=dict(guard.latency_ms),
        window=guard_window(guard, STEP.total_seconds()),
    )


def _with_carried(peak: Any, section: Mapping[str, Any]) -> float | None:
    """A peak log e-value with the evidence carried into the stage (0 in older records)."""
    value = _num(peak)
    if value is None:
        return None
    return round(value + (_num(section.get("carried_log_e")) or 0.0), 6)
