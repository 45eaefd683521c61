"""The ``smoke`` and ``compare`` policy keys: checks of the new deployment's answers. Pure.

``smoke: {requests: N, sample: FILE | data_collection, latency_ms: X}``: after provisioning
Succeeded and before any mirrored or live traffic, N requests go straight to the new
deployment (the ``azureml-model-deployment`` header); every one must answer 200 within
``latency_ms``. ``sample`` names a JSON lines file (one request body a line) or
``data_collection`` (recent ``model_inputs`` of the live deployment).

``compare: {flip_rate: 0.02, psi: 0.2, mean_abs_diff: x, samples: 500, on_fail: rollback|hold,
sample: data_collection | FILE}``: during the shadow, a sample of recent real inputs is scored
on both deployments and their answers judged for agreement (shared.judge.agreement).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from shared.errors import PolicyError

DATA_COLLECTION = "data_collection"
OnFail = Literal["rollback", "hold"]


@dataclass(frozen=True)
class SmokePolicy:
    requests: int = 10
    sample: str = DATA_COLLECTION
    latency_ms: float = 1000.0

    def to_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "sample": self.sample, "latency_ms": self.latency_ms}


@dataclass(frozen=True)
class ComparePolicy:
    flip_rate: float | None = 0.02
    psi: float | None = 0.2
    mean_abs_diff: float | None = None
    samples: int = 500
    on_fail: OnFail = "rollback"
    sample: str = DATA_COLLECTION

    def to_dict(self) -> dict[str, Any]:
        return {
            "flip_rate": self.flip_rate,
            "psi": self.psi,
            "mean_abs_diff": self.mean_abs_diff,
            "samples": self.samples,
            "on_fail": self.on_fail,
            "sample": self.sample,
        }


def _object(raw: Any, where: str, example: str) -> Mapping[str, Any]:
    if isinstance(raw, str):  # tag form: a JSON object
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise PolicyError(where, "must be a JSON object") from exc
    if not isinstance(raw, Mapping):
        raise PolicyError(where, f"must be a mapping like {example}")
    return raw


def _count(value: Any, where: str, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= hi:
        raise PolicyError(where, f"must be a whole number 1-{hi}, got {value!r}")
    return value


def _positive(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise PolicyError(where, f"must be a number > 0, got {value!r}")
    return float(value)


def _sample(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PolicyError(where, f"must be '{DATA_COLLECTION}' or a JSON lines file's path")
    return value.strip()


def parse_smoke(raw: Any, where: str) -> SmokePolicy | None:
    if raw in (None, False):
        return None
    m = _object(raw, where, "{requests: 20, sample: data_collection, latency_ms: 500}")
    bad = sorted(set(m) - {"requests", "sample", "latency_ms"})
    if bad:
        raise PolicyError(f"{where}.{bad[0]}", "unknown field")
    if "latency_ms" not in m:
        raise PolicyError(f"{where}.latency_ms", "is required (the bound every answer must meet)")
    return SmokePolicy(
        requests=_count(m.get("requests", 10), f"{where}.requests", 1000),
        sample=_sample(m.get("sample", DATA_COLLECTION), f"{where}.sample"),
        latency_ms=_positive(m["latency_ms"], f"{where}.latency_ms"),
    )


def parse_compare(raw: Any, where: str) -> ComparePolicy | None:
    if raw in (None, False):
        return None
    m = _object(raw, where, "{flip_rate: 0.02, psi: 0.2, samples: 500}")
    known = {"flip_rate", "psi", "mean_abs_diff", "samples", "on_fail", "sample"}
    bad = sorted(set(m) - known)
    if bad:
        raise PolicyError(f"{where}.{bad[0]}", "unknown field")
    bounds: dict[str, float | None] = {}
    for key in ("flip_rate", "psi", "mean_abs_diff"):
        value = m.get(key, ComparePolicy.__dataclass_fields__[key].default)
        bounds[key] = None if value is None else _positive(value, f"{where}.{key}")
    if bounds["flip_rate"] is not None and bounds["flip_rate"] >= 1:
        raise PolicyError(f"{where}.flip_rate", "must be a rate below 1")
    if all(v is None for v in bounds.values()):
        raise PolicyError(where, "must bound flip_rate, psi or mean_abs_diff")
    on_fail = m.get("on_fail", "rollback")
    if on_fail not in ("rollback", "hold"):
        raise PolicyError(f"{where}.on_fail", "must be 'rollback' or 'hold'")
    return ComparePolicy(
        flip_rate=bounds["flip_rate"],
        psi=bounds["psi"],
        mean_abs_diff=bounds["mean_abs_diff"],
        samples=_count(m.get("samples", 500), f"{where}.samples", 10000),
        on_fail=on_fail,
        sample=_sample(m.get("sample", DATA_COLLECTION), f"{where}.sample"),
    )
