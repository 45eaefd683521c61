"""The smoke test's values and its judgement: every request answered 200 within the bound.
Pure. Only statuses and latencies are kept, never a request's or an answer's payload."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.policy_checks import SmokePolicy

# responses listed in the evidence at most (the counts cover every one)
EVIDENCE_RESPONSES = 50


@dataclass(frozen=True)
class SmokeResponse:
    """One answer of the new deployment: its HTTP status (0: no answer) and latency."""

    status: int
    latency_ms: float
    error: str = ""  # why there was no answer (timeout, connection refused), never a payload


@dataclass(frozen=True)
class SmokeResult:
    """What the smoke requests got, or why they could not be sent (``unavailable``)."""

    responses: tuple[SmokeResponse, ...] = ()
    unavailable: str | None = None


def judge_smoke(policy: SmokePolicy, result: SmokeResult) -> tuple[bool, dict[str, Any]]:
    """Whether the smoke test passed, and its evidence (statuses and latencies only)."""
    responses = result.responses
    bad = [
        i for i, r in enumerate(responses) if r.status != 200 or r.latency_ms > policy.latency_ms
    ]
    short = len(responses) < policy.requests
    latencies = [r.latency_ms for r in responses]
    evidence: dict[str, Any] = {
        "requests": policy.requests,
        "sent": len(responses),
        "ok": len(responses) - len(bad),
        "failed": len(bad),
        "latency_ms_bound": policy.latency_ms,
        "max_latency_ms": round(max(latencies), 3) if latencies else None,
        "statuses": _statuses(responses),
        "responses": [_response(r) for r in responses[:EVIDENCE_RESPONSES]],
        "failures": [_response(responses[i], i) for i in bad[:EVIDENCE_RESPONSES]],
    }
    if short:
        evidence["short_by"] = policy.requests - len(responses)
    return not bad and not short, evidence


def _statuses(responses: tuple[SmokeResponse, ...]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in responses:
        out[str(r.status)] = out.get(str(r.status), 0) + 1
    return out


def _response(r: SmokeResponse, index: int | None = None) -> Mapping[str, Any]:
    out: dict[str, Any] = {"status": r.status, "latency_ms": round(r.latency_ms, 3)}
    if index is not None:
        out["index"] = index
    if r.error:
        out["error"] = r.error[:200]
    return out
