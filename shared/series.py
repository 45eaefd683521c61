"""The per-minute figures a rollout keeps for its charts: what the judge saw. Pure.

Each tick that judges a stage hands the stage's settled minutes to ``decide``; the rollout
keeps them compactly (:func:`merge`), one entry per minute, across its shadow and stages, at
most :data:`MAX_MINUTES` (the oldest go first), so the rollout row stays small (about 100
bytes a minute) and ``GET .../series`` needs no extra reads::

    {"t": "2026-01-05T09:07:00+00:00",
     "c": [requests, errors, p50, p90, p95, p99],      # canary (latencies in ms or null)
     "b": [requests, errors, p50, p90, p95, p99]}      # baseline

A minute read again (a later tick, another stage's reading of the same minute) replaces the
entry with the same ``t``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from shared.judge.types import Minute
from shared.model import iso, parse_time

# 8 hours of minutes: a shadow and stages at their default max durations fit.
MAX_MINUTES = 480
LEVELS = ("p50", "p90", "p95", "p99")


def _side(m: Minute, side: str) -> list[Any]:
    values: list[Any] = [int(getattr(m, f"{side}_requests")), int(getattr(m, f"{side}_errors"))]
    for level in LEVELS:
        v = getattr(m, f"{side}_{level}", None)
        values.append(None if v is None else round(float(v), 3))
    return values


def compact(m: Minute) -> dict[str, Any] | None:
    """One minute as a series entry (None for an undated minute)."""
    if m.start is None:
        return None
    return {"t": iso(m.start), "c": _side(m, "canary"), "b": _side(m, "baseline")}


def merge(
    series: Sequence[Mapping[str, Any]], minutes: Iterable[Minute], limit: int = MAX_MINUTES
) -> list[dict[str, Any]]:
    """``series`` with ``minutes`` added (same minute: replaced), oldest first, bounded."""
    by_t: dict[str, dict[str, Any]] = {str(e["t"]): dict(e) for e in series if e.get("t")}
    for m in minutes:
        entry = compact(m)
        if entry is not None:
            by_t[str(entry["t"])] = entry
    ordered = sorted(by_t.values(), key=lambda e: str(parse_time(e["t"])))
    return ordered[-limit:]


def expand(entry: Mapping[str, Any], side: str) -> dict[str, Any]:
    """A side (``c`` or ``b``) of an entry as named figures: requests, errors, error rate in
    percent (2 decimals kept exactly, more rounded to 4), latencies in ms."""
    raw = list(entry.get(side) or [])
    raw += [None] * (2 + len(LEVELS) - len(raw))
    requests, errors = int(raw[0] or 0), int(raw[1] or 0)
    out: dict[str, Any] = {
        "requests": requests,
        "errors": errors,
        "error_rate_pct": round(100.0 * min(errors, requests) / requests, 4) if requests else None,
    }
    for i, level in enumerate(LEVELS):
        out[f"{level}_ms"] = raw[2 + i]
    return out
