"""Small, pure formatting helpers: durations, percentages, times and bars."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

TERMINAL = ("Succeeded", "RolledBack", "Failed", "Superseded", "Aborted")
FULL, EMPTY = "█", "░"


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def clock(value: Any) -> str:
    """``10:42:07`` (UTC) of an ISO time, or ``-``."""
    t = parse_time(value)
    return "-" if t is None else t.astimezone(UTC).strftime("%H:%M:%S")


def stamp(value: Any) -> str:
    """``2026-12-02 10:42 UTC`` of an ISO time, or ``-``."""
    t = parse_time(value)
    return "-" if t is None else t.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def short(value: Any) -> str:
    """``12-02 10:42`` (UTC) of an ISO time, or ``-``."""
    t = parse_time(value)
    return "-" if t is None else t.astimezone(UTC).strftime("%m-%d %H:%M")


def duration(seconds: float | None) -> str:
    """``45s``, ``4m 10s``, ``2h 05m``, ``3d 4h``; ``-`` for None (or what is no number)."""
    if not isinstance(seconds, int | float) or not math.isfinite(seconds):
        return "-"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def since(value: Any, now: datetime) -> float | None:
    t = parse_time(value)
    return None if t is None else (now - t).total_seconds()


def until(value: Any, now: datetime) -> float | None:
    t = parse_time(value)
    return None if t is None else max(0.0, (t - now).total_seconds())


def number(value: Any, unit: str | None) -> str:
    """``0.31 %``, ``212 ms``, ``-`` when there is no value."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "-"
    if not isinstance(unit, str):
        unit = None
    if unit == "ms":
        return f"{value:.0f} ms"
    if unit == "%":
        return f"{value:.2f} %"
    return f"{value:g}{' ' + unit if unit else ''}"


def bar(progress: Any, width: int = 12) -> str:
    """A bar filled ``progress`` of the way (0..1, clamped); empty when unknown."""
    if not isinstance(progress, int | float) or isinstance(progress, bool):
        return EMPTY * width
    filled = round(max(0.0, min(1.0, float(progress))) * width)
    return FULL * filled + EMPTY * (width - filled)


def progress_pct(progress: Any) -> str:
    if not isinstance(progress, int | float) or isinstance(progress, bool):
        return "  -"
    return f"{max(0.0, min(1.0, float(progress))) * 100:3.0f} %"


def split(traffic: Any) -> str:
    """``blue 75 % / green 25 %`` of a ``{deployment: percent}`` map."""
    if not isinstance(traffic, dict) or not traffic:
        return "-"
    return " / ".join(f"{dep} {pct} %" for dep, pct in traffic.items())


def ended(view: dict[str, Any]) -> bool:
    return view.get("phase") in TERMINAL


def metric_name(metric: Any) -> str:
    names = {
        "error_rate": "error rate",
        "latency_p50": "latency p50",
        "latency_p90": "latency p90",
        "latency_p95": "latency p95",
        "latency_p99": "latency p99",
        "guardrail_error_rate": "guardrail errors",
        "guardrail_latency": "guardrail latency",
    }
    return names.get(str(metric), str(metric))
