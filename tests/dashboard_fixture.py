"""Documents shaped as the operator API contract says, for the dashboard's tests and
screenshot: fraud-scoring's rollout of fraud:7 rolled back by the judge (its detail, decisions
and per-minute series in full), churn-scoring's active rollout, and an ignored model event.

``fixture_documents()`` maps an API path (no ``/api/`` prefix, no query) to its document.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

# An API path (no /api prefix, no query) -> its JSON document, or None for a 404.
Documents = Callable[[str], Any]

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
ENDPOINT = "fraud-scoring"
ROLLOUT_ID = "r-20260301-fraud-7"
CANARY, BASELINE = "fraud-v7", "fraud-v6"
#: (minute offset, phase, stage, reason, traffic split, mirror)
PHASES: list[tuple[int, str, int, str, dict[str, int], dict[str, int]]] = [
    (0, "Pending", -1, "RolloutStarted", {BASELINE: 100}, {}),
    (1, "Provisioning", -1, "DeploymentRequested", {BASELINE: 100}, {}),
    (5, "Shadowing", -1, "ShadowStarted", {BASELINE: 100}, {CANARY: 20}),
    (15, "Canary", 0, "ShadowComplete", {BASELINE: 90, CANARY: 10}, {}),
    (27, "Canary", 1, "JudgePromoted", {BASELINE: 75, CANARY: 25}, {}),
    (42, "RollingBack", 1, "JudgeRollback", {BASELINE: 100}, {}),
    (43, "RolledBack", 1, "RolloutEnded", {BASELINE: 100}, {}),
]
BAD_FROM = 36  # the canary's error rate rises from this minute
CAUSE = (
    "Rolled back: canary error rate 2.40 % vs baseline 0.30 % (48/2000 vs 6/2000 requests), "
    "over the rollback threshold since 10:38 UTC"
)


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _at(minute: float) -> str:
    return _iso(T0 + timedelta(minutes=minute))


def _split_at(minute: int) -> tuple[dict[str, int], dict[str, int]]:
    split, mirror = PHASES[0][4], PHASES[0][5]
    for start, _phase, _stage, _reason, s, m in PHASES:
        if start <= minute:
            split, mirror = s, m
    return split, mirror


def _side(requests: int, rate_pct: float, p50: float, wiggle: float) -> dict[str, Any]:
    errors = round(requests * rate_pct / 100)
    return {
        "requests": requests,
        "errors": errors,
        "error_rate_pct": round(100 * errors / requests, 3) if requests else None,
        "p50_ms": round(p50 + 3 * wiggle, 1) if requests else None,
        "p95_ms": round(p50 * 2.1 + 9 * wiggle, 1) if requests else None,
        "p99_ms": round(p50 * 3.2 + 15 * wiggle, 1) if requests else None,
    }


def fixture_minutes() -> list[dict[str, Any]]:
    """One minute per row from the shadow's start to the rollback, 2000 requests a minute."""
    minutes = []
    for m in range(5, 42):
        split, mirror = _split_at(m)
        canary_share = split.get(CANARY, 0) or mirror.get(CANARY, 0)
        total = 2000
        wiggle = math.sin(m * 1.7)
        canary_rate = 0.3 + 0.1 * wiggle if m < BAD_FROM else 2.4 + 0.2 * wiggle
        minutes.append(
            {
                "t": _at(m),
                "canary": _side(total * canary_share // 100, canary_rate, 56.0, wiggle),
                "baseline": _side(
                    total * split.get(BASELINE, 0) // 100, 0.3 + 0.05 * wiggle, 54.0, -wiggle
                ),
            }
        )
    return minutes


def fixture_series() -> dict[str, Any]:
    return {
        "minutes": fixture_minutes(),
        "thresholds": {
            "error_rate_rollback_pct": 1.2,
            "guardrail_error_rate_pct": 5.0,
            "guardrail_p95_ms": 250.0,
        },
        "traffic": [{"t": _at(start), "split": s, "mirror": m} for start, *_x, s, m in PHASES],
        "phases": [
            {"t": _at(start), "phase": phase, "stage": stage, "reason": reason}
            for start, phase, stage, reason, _s, _m in PHASES
        ],
    }


def _why() -> dict[str, Any]:
    return {
        "reason": "JudgeRollback",
        "phase": "RolledBack",
        "actor": "engine",
        "at": _at(42),
        "message": "canary error rate regressed (e-value 212 >= 100)",
        "metric": "error_rate",
        "canary": {"value": 2.4, "unit": "%", "errors": 48, "requests": 2000},
        "baseline": {"value": 0.3, "unit": "%", "errors": 6, "requests": 2000},
        "threshold": {"value": 1.2, "unit": "%", "kind": "rollback"},
        "since": _at(BAD_FROM + 2),
        "minutes_used": [_at(m) for m in range(27, 42)],
    }


def fixture_view(**overrides: Any) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": ROLLOUT_ID,
        "endpoint": ENDPOINT,
        "model": "fraud",
        "version": "7",
        "phase": "RolledBack",
        "stage": 1,
        "weight": None,
        "paused": False,
        "pause_reason": None,
        "reason": "RolloutEnded",
        "message": "rolled back; canary fraud-v7 deleted",
        "baseline": BASELINE,
        "canary": CANARY,
        "created_at": _at(0),
        "updated_at": _at(43),
        "cause": CAUSE,
        "why": _why(),
        "stage_timing": {
            "index": 1,
            "count": 3,
            "weight": 25,
            "name": "stage 2",
            "started_at": _at(27),
            "deadline": _at(57),
            "time_in_stage_s": 900.0,
            "time_left_s": None,
        },
        "traffic": {
            "wanted": {BASELINE: 100},
            "wanted_mirror": {},
            "live": None,
            "live_mirror": None,
            "in_sync": None,
        },
        "allowed_actions": ["retry"],
        "outcome": "RolledBack",
        "ended_at": _at(43),
    }
    view.update(overrides)
    return view


def _words(percents: dict[str, int]) -> str:
    return ", ".join(f"{name} {pct} %" for name, pct in sorted(percents.items()))


def _decisions() -> list[dict[str, Any]]:
    out = []
    previous = PHASES[0][1]
    for seq, (start, phase, stage, reason, split, mirror) in enumerate(PHASES, start=1):
        out.append(
            {
                "seq": seq,
                "at": _at(start),
                "rollout_id": ROLLOUT_ID,
                "phase_from": previous,
                "phase_to": phase,
                "stage_from": stage,
                "stage_to": stage,
                "reason": reason,
                "message": f"traffic {_words(split)}"
                + (f", mirror {_words(mirror)}" if mirror else ""),
                "actor": "engine",
                "evidence": {},
                "effects": [],
            }
        )
        previous = phase
    return out


def fixture_readings() -> list[dict[str, Any]]:
    return [
        {
            "metric": "error_rate",
            "canary": 2.4,
            "baseline": 0.3,
            "unit": "%",
            "rollback_progress": 1.0,
            "clear_progress": 0.05,
            "state": "rollback",
        },
        {
            "metric": "latency_p95",
            "canary": 118.0,
            "baseline": 116.0,
            "unit": "ms",
            "rollback_progress": 0.1,
            "clear_progress": 0.7,
            "state": "hold",
        },
    ]


def _other_rollouts() -> list[dict[str, Any]]:
    active = fixture_view(
        id="r-20260301-churn-3",
        endpoint="churn-scoring",
        model="churn",
        version="3",
        phase="Canary",
        stage=0,
        weight=10,
        reason="JudgeHold",
        message="judging stage 1",
        baseline="churn-v2",
        canary="churn-v3",
        created_at=_at(20),
        updated_at=_at(44),
        cause="Judging: stage 1 of 3 (10 %), 1240 canary requests so far",
        why={
            "reason": "JudgeHold",
            "phase": "Canary",
            "actor": "engine",
            "at": _at(44),
            "message": "not enough evidence yet either way",
            "metric": None,
            "canary": None,
            "baseline": None,
            "threshold": None,
            "since": None,
            "minutes_used": [_at(m) for m in range(41, 44)],
        },
        stage_timing={
            "index": 0,
            "count": 3,
            "weight": 10,
            "name": "stage 1",
            "started_at": _at(40),
            "deadline": _at(70),
            "time_in_stage_s": 240.0,
            "time_left_s": 1560.0,
        },
        traffic={
            "wanted": {"churn-v2": 90, "churn-v3": 10},
            "wanted_mirror": {},
            "live": None,
            "live_mirror": None,
            "in_sync": None,
        },
        allowed_actions=["pause", "promote", "rollback", "abort"],
        outcome=None,
        ended_at=None,
    )
    old = fixture_view(
        id="r-20260228-fraud-6",
        version="6",
        phase="Succeeded",
        canary=BASELINE,
        baseline="fraud-v5",
        created_at=_iso(T0 - timedelta(days=1)),
        updated_at=_iso(T0 - timedelta(hours=22)),
        cause="Succeeded: cleared every stage; old deployment fraud-v5 deleted",
        outcome="Succeeded",
        ended_at=_iso(T0 - timedelta(hours=22)),
    )
    return [active, old]


def fixture_detail() -> dict[str, Any]:
    view = fixture_view(readings=fixture_readings(), policy={})
    history = [
        {k: v for k, v in r.items() if k not in ("why", "stage_timing")}
        for r in [fixture_view(), _other_rollouts()[1]]
    ]
    return {
        "endpoint": ENDPOINT,
        "rollout": view,
        "waiting": None,
        "decisions": _decisions(),
        "decisions_continuation": None,
        "history": history,
    }


def _active_detail(view: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """An active rollout's detail and series: a few minutes into its first stage."""
    split = {view["baseline"]: 90, view["canary"]: 10}
    detail = {
        "endpoint": view["endpoint"],
        "rollout": {**view, "readings": [], "policy": {}},
        "waiting": None,
        "decisions": [],
        "decisions_continuation": None,
        "history": [],
    }
    series = {
        "minutes": [
            {"t": _at(m), "canary": _side(200, 0.3, 50.0, 0), "baseline": _side(1800, 0.3, 50, 0)}
            for m in range(40, 44)
        ],
        "thresholds": {},
        "traffic": [{"t": _at(40), "split": split, "mirror": {}}],
        "phases": [{"t": _at(40), "phase": "Canary", "stage": 0, "reason": "StageStarted"}],
    }
    return detail, series


def fixture_ignored() -> list[dict[str, Any]]:
    return [
        {
            "event_id": "ev-credit-risk-4",
            "model": {"name": "credit-risk", "version": "4", "tags": {"team": "lending"}},
            "reason": "NoMatchingRule",
            "detail": "no rule of the policy matches model credit-risk with tags {team: lending}",
            "hint": "Add a rule for credit-risk to the policy, or tag the model as a rule expects.",
            "at": _at(31),
        }
    ]


def fixture_documents() -> Documents:
    """Three rollouts: fraud-scoring's rolled back (in full), churn-scoring's active one, and
    fraud-scoring's previous (listed only)."""
    active, old = _other_rollouts()
    rollouts = [fixture_view(), active, old]
    detail = fixture_detail()
    active_detail, active_series = _active_detail(active)
    at = f"rollouts/{active['endpoint']}"
    docs: dict[str, Any] = {
        "rollouts": {"rollouts": rollouts, "count": len(rollouts), "continuation": None},
        "events": {"events": fixture_ignored(), "count": 1, "continuation": None},
        f"rollouts/{ENDPOINT}": detail,
        f"rollouts/{ENDPOINT}/history/{ROLLOUT_ID}": detail,
        f"rollouts/{ENDPOINT}/history/{ROLLOUT_ID}/series": fixture_series(),
        at: active_detail,
        f"{at}/history/{active['id']}": active_detail,
        f"{at}/history/{active['id']}/series": active_series,
    }
    return docs.get
