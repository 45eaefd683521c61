"""Encoding HTTP responses: JSON bodies, and errors mapped to statuses in one place
(:func:`shared.errors.http_status`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import azure.functions as func

from shared.errors import AutocanaryError, error_body, http_status

log = logging.getLogger("autocanary")


def json_response(body: Any, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, default=str, sort_keys=True),
        status_code=status,
        mimetype="application/json",
        charset="utf-8",
    )


def error_response(error: BaseException) -> func.HttpResponse:
    if not isinstance(error, AutocanaryError):
        log.exception("unhandled error", exc_info=error)
    return json_response(error_body(error), http_status(error))


def guarded(fn: Callable[[], func.HttpResponse]) -> func.HttpResponse:
    """Run a handler body; any error becomes its JSON error response."""
    try:
        return fn()
    except Exception as exc:
        return error_response(exc)
