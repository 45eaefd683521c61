"""Input checks of the judge: malformed minutes are a bad input (``InvalidInput``). Pure."""

from __future__ import annotations

import math

from shared.errors import InvalidInput
from shared.judge.types import Exceedance, Minute


def count(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{where} must be a whole number, got {value!r}")
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise InvalidInput(f"{where} must be a whole number, got {value!r}")
    if value < 0:
        raise InvalidInput(f"{where} must be >= 0, got {value!r}")
    return int(value)


def counts(minute: Minute, index: int) -> tuple[int, int, int, int]:
    if not isinstance(minute, Minute):
        raise InvalidInput(f"minutes[{index}] must be a Minute, got {type(minute).__name__}")
    return (
        count(minute.canary_requests, f"minutes[{index}].canary_requests"),
        count(minute.canary_errors, f"minutes[{index}].canary_errors"),
        count(minute.baseline_requests, f"minutes[{index}].baseline_requests"),
        count(minute.baseline_errors, f"minutes[{index}].baseline_errors"),
    )


def percentile(minute: Minute, name: str, index: int) -> float | None:
    value = getattr(minute, name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"minutes[{index}].{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise InvalidInput(f"minutes[{index}].{name} must be finite and >= 0, got {value!r}")
    return float(value)


def check_exceedance(e: Exceedance, index: int, j: int) -> None:
    where = f"minutes[{index}].exceedances[{j}]"
    if not isinstance(e, Exceedance):
        raise InvalidInput(f"{where} must be an Exceedance, got {type(e).__name__}")
    for name in ("canary_slow", "canary_total", "baseline_slow", "baseline_total"):
        count(getattr(e, name), f"{where}.{name}")
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
