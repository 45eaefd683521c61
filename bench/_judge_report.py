"""The benchmark's figures and report: each rule's row (rollback rate with a Wilson interval,
times to detect and to clear, the ratio to savvi's in the same cell), the markdown tables, and
the issue's goals per cell, met or not (see ``bench.judge``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bench._judge_oracle import beyond, beyond_wald
from bench._judge_paired import GOAL_FIGURES, shown
from bench._judge_sim import IntArray, Series

OURS = "ours"
SAVVI = "savvi (Lindon-Malek 2022)"
SAVVI_UNSETTLED = f"{SAVVI}, on unsettled minutes"
SAVVI_LATENCY = f"{SAVVI}, judging latency too, from per-request data"
PER_REQUEST = f"{OURS}, latency from per-request data"


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval for a proportion k / n."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def peer_row(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The savvi row the cell's ratios and goals compare with."""
    return next((r for r in rows if r.get("peer")), None)


def summarise(
    rule: str,
    s: Series,
    rollback: IntArray,
    cleared: IntArray | None = None,
    *,
    peer: bool = False,
) -> dict[str, Any]:
    fired = rollback >= 0
    k, n = int(fired.sum()), len(rollback)
    lo, hi = wilson(k, n)
    minutes = rollback[fired] + 1  # the rollback comes after minute index t's data
    all_minutes = np.where(fired, rollback + 1, s.minutes + 1)
    # canary errors served up to and including the deciding minute (all of them if never)
    cum = np.cumsum(s.x, axis=1)
    last = np.where(fired, rollback, s.minutes - 1)
    served = cum[np.arange(n), last]
    row: dict[str, Any] = {
        "rule": rule,
        "rollouts": n,
        "rollback_rate": k / n,
        "rollback_ci95": [round(lo, 4), round(hi, 4)],
        "median_minutes": float(np.median(minutes)) if k else None,
        "p90_minutes": float(np.percentile(minutes, 90)) if k else None,
        # over every rollout, a rollout never rolled back counting as after the horizon: the
        # time to detect that compares rules with different detection rates (the figures
        # above are over the detected ones only)
        "median_minutes_all": _censored(np.median(all_minutes), s.minutes),
        "p90_minutes_all": _censored(np.percentile(all_minutes, 90), s.minutes),
        "median_canary_errors_served": float(np.median(served)),
    }
    if peer:
        row["peer"] = True
    if cleared is not None:
        ok = cleared >= 0
        row["cleared_rate"] = float(ok.mean())
        # never cleared counts as "after the horizon" so the median is over every rollout
        times = np.where(ok, cleared + 1, s.minutes + 1)
        row["median_minutes_to_clear"] = _censored(np.median(times), s.minutes)
    return row


def _censored(value: float, horizon: int) -> float | None:
    """A time over every rollout; None when it falls after the horizon (never)."""
    return float(value) if value <= horizon else None


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 3)


def add_ratios(rows: list[dict[str, Any]], good: bool) -> None:
    """Each row's figures over savvi's in the same cell (None where undefined)."""
    peer = peer_row(rows)
    for row in rows:
        if peer is None:
            row["vs_savvi"] = None
            continue
        row["vs_savvi"] = {
            "rollback_rate": _ratio(row["rollback_rate"], peer["rollback_rate"]),
            "median_minutes": None
            if good
            else _ratio(row["median_minutes_all"], peer["median_minutes_all"]),
            "p90_minutes": None
            if good
            else _ratio(row["p90_minutes_all"], peer["p90_minutes_all"]),
            "median_minutes_to_clear": _ratio(
                row.get("median_minutes_to_clear"), peer.get("median_minutes_to_clear")
            ),
        }


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None:
        return "-"
    if pct:
        return f"{100 * v:.1f} %"
    return f"{v:g}"


def _never(v: float | None) -> str:
    return "never" if v is None else f"{v:g}"


def markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "| scenario; truth | rule | rollback (95 % CI) | median / p90 min to detect: when "
        "detected; over all (never: after the horizon) | "
        "canary errors served (median) | cleared: median min (rate) | vs savvi: rollback, "
        "median / p90 detect, clear |",
        "|---|---|---|---|---|---|---|",
    ]
    for cell in results:
        for row in cell["rows"]:
            lo, hi = row["rollback_ci95"]
            rate = f"{_fmt(row['rollback_rate'], True)} ({100 * lo:.1f}-{100 * hi:.1f})"
            times = (
                f"{_fmt(row['median_minutes'])} / {_fmt(row['p90_minutes'])}; "
                f"{_never(row['median_minutes_all'])} / {_never(row['p90_minutes_all'])}"
            )
            clear = "-"
            if "cleared_rate" in row:
                clear = (
                    f"{_fmt(row['median_minutes_to_clear'])} ({_fmt(row['cleared_rate'], True)})"
                )
            vs = row.get("vs_savvi") or {}
            ratio = (
                f"{_fmt(vs.get('rollback_rate'))}, {_fmt(vs.get('median_minutes'))} / "
                f"{_fmt(vs.get('p90_minutes'))}, {_fmt(vs.get('median_minutes_to_clear'))}"
            )
            lines.append(
                f"| {cell['cell']} | {row['rule']} | {rate} | {times} | "
                f"{row['median_canary_errors_served']:g} | {clear} | {ratio} |"
            )
    return "\n".join(lines)


def headline(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    for row in rows:
        if (
            row["rule"] == OURS
            or row["rule"].startswith(f"{OURS}, settled")
            or (row["rule"].startswith(f"{OURS}, latency from P50"))
        ):
            return row
    return None


def goals(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's goals per cell, from the figures: ours (the default judge; settled minutes in
    the late cell; percentiles in latency cells) against savvi in the same run."""
    out = []
    for cell in results:
        if not cell.get("goals", True):
            continue
        rows = cell["rows"]
        us = headline(rows)
        peer = peer_row(rows)
        if us is None or peer is None:
            continue
        checks: dict[str, bool | None] = {}
        if cell["good"]:
            checks["false rollbacks <= savvi's"] = us["rollback_rate"] <= peer["rollback_rate"]
            checks["false rollbacks <= 1 %"] = us["rollback_rate"] <= 0.01
            ours_clear, peer_clear = (
                us.get("median_minutes_to_clear"),
                peer.get("median_minutes_to_clear"),
            )
            checks["cleared no later than savvi"] = (
                None
                if peer_clear is None and ours_clear is None
                else (ours_clear is not None and (peer_clear is None or ours_clear <= peer_clear))
            )
            if cell.get("zero_errors"):
                checks["0-error canary cleared in median <= 6 min"] = (
                    ours_clear is not None and ours_clear <= 6
                )
        else:
            checks["detection >= savvi's"] = us["rollback_rate"] >= peer["rollback_rate"]
            for key, label in (("median_minutes_all", "median"), ("p90_minutes_all", "p90")):
                a, b = us[key], peer[key]
                checks[f"time to detect ({label}) <= savvi's"] = _no_later(a, b)
            if "matched" in cell:
                checks.update(_matched_checks(us, rows))
        sureness = _sureness(checks, us.get("vs_savvi_paired") or {})
        entry = {"cell": cell["cell"], "rule": us["rule"], "checks": checks, "paired": sureness}
        if "ceiling" in cell:
            entry["out_of_reach"] = _out_of_reach(checks, beyond(cell["ceiling"], peer))
        if "wald" in cell:
            entry["beyond_wald"] = _out_of_reach(checks, beyond_wald(cell["wald"], peer))
        out.append(entry)
        both = next((r for r in rows if r.get("latency_peer")), None)
        per_request = next((r for r in rows if r["rule"] == PER_REQUEST), None)
        if cell["good"] and both is not None and per_request is not None:
            # like with like: both judge latency from the same per-request counts
            checks = {
                "false rollbacks <= savvi's": per_request["rollback_rate"] <= both["rollback_rate"],
                "cleared no later than savvi": _no_later(
                    per_request.get("median_minutes_to_clear"), both.get("median_minutes_to_clear")
                ),
            }
            paired = per_request.get("vs_savvi_latency_paired") or {}
            out.append(
                {
                    "cell": f"{cell['cell']} (both judging latency from per-request data)",
                    "rule": PER_REQUEST,
                    "checks": checks,
                    "paired": _sureness(checks, paired),
                }
            )
    return out


def _out_of_reach(checks: dict[str, bool | None], figures: dict[str, bool]) -> dict[str, bool]:
    """Per detection goal against savvi (a bad cell's): whether savvi's figure lies beyond the
    ceiling, out of reach of any rule with no more false rollbacks than the goal allows."""
    return {
        goal: figures[GOAL_FIGURES[goal][0]]
        for goal in checks
        if goal in GOAL_FIGURES and GOAL_FIGURES[goal][0] in figures
    }


def _sureness(
    checks: dict[str, bool | None], paired: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for goal, met in checks.items():
        verdict = shown(goal, paired)
        if met is None or verdict is None:
            continue
        key, _ = GOAL_FIGURES[goal]
        out[goal] = {"figure": key, **paired[key], "shown": verdict}
    return out


def _no_later(a: float | None, b: float | None) -> bool | None:
    """Time ``a`` is no later than ``b`` (None: never); undefined when both are never."""
    return None if a is None and b is None else (a is not None and (b is None or a <= b))


def _matched_checks(us: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, bool | None]:
    """The detection goals against savvi held to our false-rollback rate (undefined where no
    alpha holds it there: see the good cell's row)."""
    matched = next((r for r in rows if r.get("matched")), None)
    suffix = "savvi's at our false-rollback rate"
    if matched is None:
        return {f"detection >= {suffix}": None}
    out: dict[str, bool | None] = {
        f"detection >= {suffix}": us["rollback_rate"] >= matched["rollback_rate"]
    }
    for key, label in (("median_minutes_all", "median"), ("p90_minutes_all", "p90")):
        out[f"time to detect ({label}) <= {suffix}"] = _no_later(us[key], matched[key])
    return out


def goals_markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| scenario; truth | goal | met | ours - savvi (paired 95 % CI) "
        "| shown by these rollouts | savvi's figure within reach at <= 1 % false rollbacks |",
        "|---|---|---|---|---|---|",
    ]
    for g in rows:
        for goal, met in g["checks"].items():
            p = g.get("paired", {}).get(goal)
            diff, verdict = ("-", "-") if p is None else (_difference(p), p["shown"])
            within = _within(
                g.get("out_of_reach", {}).get(goal), g.get("beyond_wald", {}).get(goal)
            )
            lines.append(
                f"| {g['cell']} | {goal} | {'-' if met is None else 'yes' if met else 'NO'} | "
                f"{diff} | {verdict} | {within} |"
            )
    return "\n".join(lines)


def _within(beyond_ceiling: bool | None, beyond_wald: bool | None) -> str:
    """The reach column: beyond the ceiling (no rule within the budget), or within it but
    better than Wald's test knowing the law (a rule valid at any horizon that knows everything
    does not get there)."""
    if beyond_ceiling is None:
        return "-"
    if beyond_ceiling:
        return "NO: beyond the ceiling"
    return "yes, but beyond Wald's test knowing the law" if beyond_wald else "yes"


def ceilings_markdown(results: list[dict[str, Any]]) -> str:
    """Each ceiling (``bench._judge_oracle``) beside ours and savvi in its cell."""
    lines = [
        "| scenario; truth | ceiling at alpha: detected by the horizon; median / p90 min at "
        "least | Wald's test knowing the law, at exactly alpha: detected; median / p90 min "
        "| ours | savvi (its false rollbacks in the good cell) |",
        "|---|---|---|---|---|",
    ]
    good = {c["cell"].split(";")[0]: c for c in results if c["good"]}
    for cell in results:
        c = cell.get("ceiling")
        us, peer = headline(cell["rows"]), peer_row(cell["rows"])
        if c is None or us is None or peer is None:
            continue
        null = good.get(cell["cell"].split(";")[0])
        null_peer = None if null is None else peer_row(null["rows"])
        fr = "-" if null_peer is None else _fmt(null_peer["rollback_rate"], True)
        lines.append(
            f"| {cell['cell']} | {_fmt(c['detected_by_horizon'], True)}; "
            f"{_never(c['median_minutes_at_least'])} / {_never(c['p90_minutes_at_least'])} | "
            f"{_wald(cell.get('wald'))} | {_detected(us)} | {_detected(peer)} ({fr}) |"
        )
    return "\n".join(lines)


def _wald(w: dict[str, Any] | None) -> str:
    if w is None:
        return "-"
    return (
        f"{_fmt(w['detected_by_horizon'], True)}; {_never(w['median_minutes_all'])} / "
        f"{_never(w['p90_minutes_all'])}"
    )


def _detected(row: dict[str, Any]) -> str:
    return (
        f"{_fmt(row['rollback_rate'], True)}; {_never(row['median_minutes_all'])} / "
        f"{_never(row['p90_minutes_all'])}"
    )


def _difference(p: dict[str, Any]) -> str:
    lo, hi = p["ci95"]
    if p["figure"] == "rollback_rate":
        return f"{100 * p['value']:+.1f} pp ({100 * lo:+.1f} to {100 * hi:+.1f})"
    return f"{round(p['value'], 1):+g} min ({round(lo, 1):+g} to {round(hi, 1):+g})"
