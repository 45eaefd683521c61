"""GET /api/openapi.json: the OpenAPI 3.1 document of every HTTP route of the app.

The document is built here from plain data (:func:`document`); ``tests/unit/triggers/
test_openapi.py`` validates it with openapi-spec-validator, checks that every route the app
declares is in it, and validates real responses of every route against it.
"""

from __future__ import annotations

from typing import Any

import azure.functions as func

from handlers._http import api_call, json_response
from handlers.openapi_schemas import PHASES, SCHEMAS

bp = func.Blueprint()

VERSION = "1.0.0"
ACTIONS = ["pause", "resume", "promote", "rollback", "abort", "retry", "cancel"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": description,
    }


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


_ENDPOINT = _path_param("endpoint", "the online endpoint's name")
_ROLLOUT_ID = _path_param("rollout_id", "the rollout's id (see history)")
_LIMIT = _query("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "page size (100)")
_CONTINUATION = _query("continuation", {"type": "string"}, "the previous page's token")
_ERRORS = {"default": _json(_ref("Error"), "an error, in the one error shape")}


def _get(summary: str, ok: dict[str, Any], *params: dict[str, Any], op: str) -> dict[str, Any]:
    return {
        "get": {
            "operationId": op,
            "summary": summary,
            "parameters": list(params),
            "responses": {"200": ok, **_ERRORS},
        }
    }


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (a fresh dict each call)."""
    action_body = {
        "required": True,
        "content": {"application/json": {"schema": _ref("ActionRequest")}},
    }
    reply = {"oneOf": [_ref("ActionReply"), _ref("Detail")]}
    paths: dict[str, Any] = {
        "/rollouts": {
            **_get(
                "One page of rollouts, each with its cause",
                _json(_ref("RolloutPage"), "rollouts in the store's order"),
                _query("endpoint", {"type": "string"}, "only this endpoint"),
                _query("model", {"type": "string"}, "only this model"),
                _query("phase", {"enum": PHASES}, "only this phase"),
                _query("active", {"type": "boolean"}, "only active rollouts"),
                _LIMIT,
                _CONTINUATION,
                op="listRollouts",
            ),
            "post": {
                "operationId": "startRollout",
                "summary": "Start a version by hand (an event was lost); matched by policy",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("StartRequest")}},
                },
                "parameters": [
                    _query("full", {"type": "boolean"}, "reply with the whole detail"),
                ],
                "responses": {
                    "201": _json({"oneOf": [_ref("ActionReply"), _ref("Detail")]}, "started"),
                    "202": _json(
                        {"oneOf": [_ref("ActionReply"), _ref("Detail")]},
                        "waiting behind the active rollout, or superseding it",
                    ),
                    **_ERRORS,
                },
            },
        },
        "/rollouts/{endpoint}": _get(
            "The endpoint's current (or latest) rollout in full",
            _json(_ref("Detail"), "the rollout, its last decisions and history"),
            _ENDPOINT,
            op="getRollout",
        ),
        "/rollouts/{endpoint}/history": _get(
            "The endpoint's rollouts, past and current, oldest first",
            _json(_ref("RolloutPage"), "one page"),
            _ENDPOINT,
            _LIMIT,
            _CONTINUATION,
            op="getHistory",
        ),
        "/rollouts/{endpoint}/history/{rollout_id}": _get(
            "One rollout by id, in the detail's shape",
            _json(_ref("Detail"), "the rollout"),
            _ENDPOINT,
            _ROLLOUT_ID,
            op="getRolloutById",
        ),
        "/rollouts/{endpoint}/history/{rollout_id}/decisions": _get(
            "One page of a rollout's decisions, oldest first",
            _json(_ref("DecisionPage"), "one page"),
            _ENDPOINT,
            _ROLLOUT_ID,
            _LIMIT,
            _CONTINUATION,
            op="getDecisions",
        ),
        "/rollouts/{endpoint}/history/{rollout_id}/series": _get(
            "Per-minute canary and baseline figures, thresholds, traffic and phase changes",
            _json(_ref("Series"), "the series the judge saw"),
            _ENDPOINT,
            _ROLLOUT_ID,
            op="getSeries",
        ),
        "/rollouts/{endpoint}/{action}": {
            "post": {
                "operationId": "actOnRollout",
                "summary": "An operator action; compact reply unless full",
                "parameters": [
                    _ENDPOINT,
                    _path_param("action", "what to do"),
                    _query("full", {"type": "boolean"}, "reply with the whole detail"),
                ],
                "requestBody": action_body,
                "responses": {"200": _json(reply, "the rollout after the action"), **_ERRORS},
            }
        },
        "/events": _get(
            "Events that started no rollout, newest first, with a hint",
            _json(_ref("IgnoredEventPage"), "one page"),
            {
                "name": "ignored",
                "in": "query",
                "required": True,
                "schema": {"const": "true"},
                "description": "only ignored events are kept",
            },
            _LIMIT,
            _CONTINUATION,
            op="listIgnoredEvents",
        ),
        "/ignored-events": _get(
            "Alias of /events?ignored=true",
            _json(_ref("IgnoredEventPage"), "one page"),
            _LIMIT,
            _CONTINUATION,
            op="listIgnoredEventsAlias",
        ),
        "/health": {
            "get": {
                "operationId": "getHealth",
                "summary": "The app's own checks: its store, its policy, each rule's endpoint",
                "responses": {
                    "200": _json(_ref("Health"), "every check passed"),
                    "503": _json(_ref("Health"), "a check failed: which, why, what to do"),
                    **_ERRORS,
                },
            }
        },
        "/openapi.json": _get(
            "This document", _json({"type": "object"}, "OpenAPI 3.1"), op="getOpenApi"
        ),
        "/dashboard": {
            "get": {
                "operationId": "getDashboard",
                "summary": "The dashboard page (no key: it asks for one, for its API calls)",
                "security": [],
                "responses": {
                    "200": {
                        "description": "HTML",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    },
                    **_ERRORS,
                },
            }
        },
        "/dashboard/assets/{name}": {
            "get": {
                "operationId": "getDashboardAsset",
                "summary": "A file of the dashboard (script, style)",
                "security": [],
                "parameters": [_path_param("name", "the asset's file name")],
                "responses": {
                    "200": {"description": "the file", "content": {"*/*": {}}},
                    **_ERRORS,
                },
            }
        },
        "/alerts": {
            "post": {
                "operationId": "onAlert",
                "summary": "Azure Monitor action group webhook (common alert schema)",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "responses": {
                    "200": _json({"type": "object"}, "what each target did"),
                    **_ERRORS,
                },
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "autocanary operator API",
            "version": VERSION,
            "description": "Canary rollouts of Azure ML online endpoints: what runs, why, and "
            "the operator's actions (" + ", ".join(ACTIONS) + ").",
        },
        "servers": [{"url": "/api"}],
        "security": [{"functionKey": []}, {"functionKeyQuery": []}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "functionKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "x-functions-key",
                    "description": "one of AUTOCANARY_API_KEYS (the alerts webhook: the "
                    "Functions host's function key)",
                },
                "functionKeyQuery": {"type": "apiKey", "in": "query", "name": "code"},
            },
        },
    }


@bp.function_name("openapi_document")
@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def openapi_document(req: func.HttpRequest) -> func.HttpResponse:
    return api_call(req, lambda: json_response(document()))
