"""Validators for scenario values: each error names the field (``scenario.x.y: ...``). Pure."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from shared.errors import InvalidInput, PolicyError
from shared.policy import parse_duration


def bad(where: str, message: str) -> InvalidInput:
    return InvalidInput(f"{where}: {message}", code="invalid_scenario", details={"field": where})


def _model_key(value: str) -> str:
    """``azureml:fraud:2`` and ``fraud:2`` name the same version; deployment names stay."""
    return value[len("azureml:") :] if value.startswith("azureml:") else value


def _counts(m: Mapping[str, Any], key: str, where: str) -> dict[str, int] | None:
    if key not in m:
        return None
    return {
        str(k): _count(v, f"{where}.{key}.{k}")
        for k, v in _mapping(m[key], f"{where}.{key}").items()
    }


def _mapping(raw: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise bad(where, "must be an object")
    return raw


def _unknown(raw: Mapping[str, Any], known: set[str], where: str) -> None:
    extra = sorted(set(raw) - known)
    if extra:
        raise bad(f"{where}.{extra[0]}", f"unknown field (known: {', '.join(sorted(known))})")


_COMPOUND = re.compile(r"^\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+(?:\.\d+)?)s)?\s*$")


def _duration(raw: Any, where: str) -> float:
    """A policy duration (``90s``, ``5m``, ``1.5h``), or a compound one (``1h30m``, ``4m30s``)."""
    if isinstance(raw, str) and (m := _COMPOUND.match(raw)) and any(m.groups()):
        h, mins, secs = m.groups()
        return int(h or 0) * 3600.0 + int(mins or 0) * 60.0 + float(secs or 0)
    try:
        return parse_duration(raw, where)
    except PolicyError as exc:
        raise bad(where, f"must be a duration like 90s, 5m, 2h (got {raw!r})") from exc


def _number(
    raw: Any,
    where: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise bad(where, f"must be a number, got {raw!r}")
    v = float(raw)
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise bad(where, f"must be {'>' if lo_open else '>='} {lo:g}, got {v:g}")
    if hi is not None and v > hi:
        raise bad(where, f"must be <= {hi:g}, got {v:g}")
    return v


def _count(raw: Any, where: str) -> int:
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise bad(where, f"must be a whole number >= 0, got {raw!r}")
    return raw


def _percents(raw: Any, where: str) -> dict[str, int]:
    m = _mapping(raw, where)
    out: dict[str, int] = {}
    for k, v in m.items():
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 100:
            raise bad(f"{where}.{k}", f"must be a whole percent 0-100, got {v!r}")
        out[str(k)] = v
    return out


def _windows(raw: Any, where: str) -> tuple[tuple[float, float], ...]:
    if not isinstance(raw, list):
        raise bad(where, 'must be a list of ["start", "end"] pairs')
    out: list[tuple[float, float]] = []
    for i, pair in enumerate(raw):
        p = f"{where}[{i}]"
        if not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2:
            raise bad(p, 'must be a ["start", "end"] pair like ["10m", "20m"]')
        a, b = _duration(pair[0], f"{p}[0]"), _duration(pair[1], f"{p}[1]")
        if b <= a:
            raise bad(f"{p}[1]", "must be after the start")
        out.append((a, b))
    return tuple(out)
