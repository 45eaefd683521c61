"""Azure-shaped error responses: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


class ArmError(Exception):
    """Raised by handlers; answered as an Azure error body with the given status."""

    def __init__(
        self, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"error": error}

    def response(self, headers: dict[str, str] | None = None) -> web.Response:
        return web.Response(
            status=self.status,
            body=json.dumps(self.body()).encode(),
            content_type="application/json",
            headers=headers,
        )


def bad_request(message: str, code: str = "BadArgument") -> ArmError:
    return ArmError(400, "UserError", message, [{"code": code, "message": message}])


def not_found(kind: str, name: str) -> ArmError:
    return ArmError(404, "ResourceNotFound", f"{kind} {name!r} was not found.")


def conflict(message: str) -> ArmError:
    return ArmError(409, "Conflict", message)


def operation_conflict(workspace: str) -> ArmError:
    """Another operation on the same endpoint is running, as Azure ML words it (quoted in
    Azure/carnegie-mop doc/troubleshooting/model_wrapper/AmlEndpoint.md: "(Conflict) Conflict
    Code: Conflict Message: Conflict Exception Details: (OperationDuplicationConflict) Conflict
    of operation, another operation on same entity is already running in workspace X.")."""
    detail = (
        "Conflict of operation, another operation on same entity is already running in "
        f"workspace {workspace}."
    )
    return ArmError(
        409, "Conflict", "Conflict", [{"code": "OperationDuplicationConflict", "message": detail}]
    )
