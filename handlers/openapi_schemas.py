"""The JSON Schemas (OpenAPI 3.1 ``components.schemas``) of the operator API's bodies.

OpenAPI 3.1 schemas are JSON Schema 2020-12 (spec.openapis.org/oas/v3.1.0#schema-object), so a
nullable value is ``"type": [..., "null"]``. Objects allow more properties than they list:
fields are only ever added (never renamed), so a client written against this document keeps
working.
"""

from __future__ import annotations

from typing import Any


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(*types: str) -> dict[str, Any]:
    return {"type": [*types, "null"]}


_TIME = {"type": "string", "format": "date-time"}
_TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
_SPLIT = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}
_SPLIT_OR_NULL = {"type": ["object", "null"], "additionalProperties": {"type": "integer"}}
_TOKEN = {**_nullable("string"), "description": "opaque; pass back as ?continuation="}
_METRICS = [
    "error_rate",
    "latency_p50",
    "latency_p90",
    "latency_p95",
    "latency_p99",
    "guardrail_error_rate",
    "guardrail_latency",
]
PHASES = [
    "Pending",
    "Provisioning",
    "Shadowing",
    "Canary",
    "Promoting",
    "Watching",
    "Succeeded",
    "RollingBack",
    "RolledBack",
    "Failed",
    "Superseded",
    "Aborted",
]


def _obj(required: str, props: dict[str, Any]) -> dict[str, Any]:
    """An object schema; ``required`` names the required properties, space-separated."""
    return {"type": "object", "required": required.split(), "properties": props}


def _side() -> dict[str, Any]:
    return _obj(
        "value unit",
        {
            "value": _nullable("number"),
            "unit": {"type": "string"},
            "errors": {"type": "integer"},
            "requests": {"type": "integer"},
        },
    )


def _minute_side() -> dict[str, Any]:
    return _obj(
        "requests errors error_rate_pct",
        {
            "requests": {"type": "integer"},
            "errors": {"type": "integer"},
            "error_rate_pct": _nullable("number"),
            "p50_ms": _nullable("number"),
            "p90_ms": _nullable("number"),
            "p95_ms": _nullable("number"),
            "p99_ms": _nullable("number"),
        },
    )


SCHEMAS: dict[str, Any] = {
    "Error": _obj(
        "error",
        {
            "error": _obj(
                "code message hint",
                {
                    "code": {"type": "string", "description": "stable, snake_case"},
                    "message": {"type": "string"},
                    "hint": {"type": "string", "description": "what to do, one sentence"},
                    "details": {"type": "object"},
                },
            )
        },
    ),
    "Why": _obj(
        "reason phase actor at message metric canary baseline threshold since minutes_used",
        {
            "reason": {"type": "string", "description": "a reason constant"},
            "phase": {"enum": PHASES},
            "actor": {"type": "string"},
            "at": _TIME_OR_NULL,
            "message": {"type": "string"},
            "metric": {"enum": [*_METRICS, None]},
            "canary": _side(),
            "baseline": _side(),
            "threshold": _obj(
                "value unit kind",
                {
                    "value": _nullable("number"),
                    "unit": {"type": "string"},
                    "kind": {"enum": ["rollback", "clear", "guardrail", None]},
                },
            ),
            "since": _TIME_OR_NULL,
            "minutes_used": {"type": "array", "items": {"type": "string"}},
        },
    ),
    "StageTiming": _obj(
        "index count weight name started_at deadline time_in_stage_s time_left_s",
        {
            "index": {"type": "integer", "minimum": -1, "description": "-1 before live"},
            "count": {"type": "integer"},
            "weight": {"type": "integer"},
            "name": {"type": "string", "examples": ["shadow", "stage 1", "watch"]},
            "started_at": _TIME_OR_NULL,
            "deadline": _TIME_OR_NULL,
            "time_in_stage_s": _nullable("number"),
            "time_left_s": _nullable("number"),
        },
    ),
    "Traffic": _obj(
        "wanted wanted_mirror live live_mirror in_sync",
        {
            "wanted": _SPLIT,
            "wanted_mirror": _SPLIT,
            "live": {**_SPLIT_OR_NULL, "description": "read from Azure in a detail only"},
            "live_mirror": _SPLIT_OR_NULL,
            "in_sync": _nullable("boolean"),
        },
    ),
    "Reading": _obj(
        "metric canary baseline unit rollback_progress clear_progress state",
        {
            "metric": {"enum": _METRICS},
            "canary": _nullable("number"),
            "baseline": _nullable("number"),
            "unit": {"enum": ["%", "ms"]},
            "rollback_progress": {"type": "number", "minimum": 0, "maximum": 1},
            "clear_progress": {"type": "number", "minimum": 0, "maximum": 1},
            "state": {"enum": ["clear", "rollback", "hold", "not_measurable", "no_data"]},
        },
    ),
    "Rollout": _obj(
        "id endpoint model version phase stage weight paused pause_reason reason message "
        "baseline canary created_at updated_at cause why stage_timing traffic allowed_actions "
        "outcome ended_at",
        {
            "id": {"type": "string"},
            "endpoint": {"type": "string"},
            "model": {"type": "string"},
            "version": {"type": "string"},
            "phase": {"enum": PHASES},
            "stage": {"type": "integer", "minimum": -1},
            "weight": _nullable("integer"),
            "paused": {"type": "boolean"},
            "pause_reason": _nullable("string"),
            "reason": {"type": "string"},
            "message": {"type": "string"},
            "baseline": {"type": "string"},
            "canary": {"type": "string"},
            "created_at": _TIME,
            "updated_at": _TIME_OR_NULL,
            "cause": {"type": "string", "description": "one plain-language line"},
            "why": _ref("Why"),
            "stage_timing": _ref("StageTiming"),
            "traffic": _ref("Traffic"),
            "allowed_actions": {"type": "array", "items": {"type": "string"}},
            "outcome": {"enum": [*PHASES, None]},
            "ended_at": _TIME_OR_NULL,
        },
    ),
    "RolloutDetail": {
        "allOf": [
            _ref("Rollout"),
            _obj(
                "readings policy",
                {
                    "readings": {"type": "array", "items": _ref("Reading")},
                    "policy": {"type": "object"},
                    "evidence": {"type": "object", "description": "behind reason"},
                    "confirmed": {"type": "boolean", "description": "wanted split seen live"},
                },
            ),
        ]
    },
    "Decision": _obj(
        "seq at rollout_id phase_from phase_to stage_from stage_to reason message actor "
        "evidence effects",
        {
            "seq": {"type": "integer", "minimum": 1},
            "at": _TIME,
            "rollout_id": {"type": "string"},
            "phase_from": {"enum": PHASES},
            "phase_to": {"enum": PHASES},
            "stage_from": {"type": "integer"},
            "stage_to": {"type": "integer"},
            "reason": {"type": "string"},
            "message": {"type": "string"},
            "actor": {"type": "string"},
            "evidence": {"type": "object"},
            "effects": {"type": "array", "items": {"type": "object"}},
        },
    ),
    "Detail": _obj(
        "endpoint rollout waiting decisions decisions_continuation history",
        {
            "endpoint": {"type": "string"},
            "rollout": _ref("RolloutDetail"),
            "waiting": _nullable("object"),
            "decisions": {
                "type": "array",
                "items": _ref("Decision"),
                "description": "the last 50, newest last",
            },
            "decisions_total": {"type": "integer"},
            "decisions_continuation": _TOKEN,
            "history": {"type": "array", "items": _ref("Rollout"), "maxItems": 20},
        },
    ),
    "RolloutPage": _obj(
        "rollouts count continuation",
        {
            "endpoint": {"type": "string"},
            "rollouts": {"type": "array", "items": _ref("Rollout")},
            "count": {"type": "integer"},
            "continuation": _TOKEN,
        },
    ),
    "DecisionPage": _obj(
        "decisions count continuation",
        {
            "decisions": {"type": "array", "items": _ref("Decision")},
            "count": {"type": "integer"},
            "continuation": _TOKEN,
        },
    ),
    "Series": _obj(
        "minutes thresholds traffic phases",
        {
            "minutes": {
                "type": "array",
                "items": _obj(
                    "t canary baseline",
                    {"t": _TIME, "canary": _minute_side(), "baseline": _minute_side()},
                ),
            },
            "thresholds": {"type": "object", "additionalProperties": {"type": "number"}},
            "traffic": {
                "type": "array",
                "items": _obj("t split mirror", {"t": _TIME, "split": _SPLIT, "mirror": _SPLIT}),
            },
            "phases": {
                "type": "array",
                "items": _obj(
                    "t phase stage reason",
                    {
                        "t": _TIME,
                        "phase": {"enum": PHASES},
                        "stage": {"type": "integer"},
                        "reason": {"type": "string"},
                    },
                ),
            },
        },
    ),
    "Health": _obj(
        "status failing checks",
        {
            "status": {"enum": ["ok", "failing"]},
            "failing": {"type": "array", "items": {"type": "string"}},
            "checks": {
                "type": "array",
                "items": _obj(
                    "name ok detail hint took_ms",
                    {
                        "name": {"type": "string"},
                        "ok": {"type": "boolean"},
                        "detail": {"type": "string"},
                        "hint": _nullable("string"),
                        "took_ms": {"type": "number"},
                    },
                ),
            },
        },
    ),
    "IgnoredEventPage": _obj(
        "events count continuation",
        {
            "events": {
                "type": "array",
                "items": _obj(
                    "event_id model reason detail hint at",
                    {
                        "event_id": {"type": "string"},
                        "model": {"type": "object"},
                        "reason": {"type": "string"},
                        "detail": {"type": "string"},
                        "hint": {"type": "string"},
                        "at": _TIME,
                    },
                ),
            },
            "count": {"type": "integer"},
            "continuation": _TOKEN,
        },
    ),
    "ActionRequest": _obj(
        "reason",
        {
            "reason": {"type": "string", "minLength": 1},
            "actor": {"type": "string"},
            "full": {"type": "boolean"},
        },
    ),
    "StartRequest": _obj(
        "model version reason",
        {
            "endpoint": {"type": "string"},
            "model": {"type": "string"},
            "version": {"type": "string"},
            "reason": {"type": "string", "minLength": 1},
            "actor": {"type": "string"},
            "allow_downgrade": {"type": "boolean"},
            "tags": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    ),
    "ActionReply": _obj(
        "endpoint action rollout decision",
        {
            "endpoint": {"type": "string"},
            "action": {"type": "string"},
            "outcome": _nullable("string"),
            "rollout": {"oneOf": [_ref("Rollout"), {"type": "null"}]},
            "decision": {"oneOf": [_ref("Decision"), {"type": "null"}]},
            "waiting": _nullable("object"),
        },
    ),
}
