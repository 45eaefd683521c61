"""ARM long-running operations: the operation status resources and the headers that name them.

ARM async pattern (Azure/azure-resource-manager-rpc ``async-api-reference.md``): a PUT answers
201 with ``Azure-AsyncOperation``; a DELETE or POST action answers 202 with ``Location`` and
``Azure-AsyncOperation``; the status resource reports ``InProgress``/``Succeeded``/``Failed``
(with an ``error`` when failed). Azure ML names them ``mfeOperationsStatus`` and
``mfeOperationResults`` under ``/subscriptions/{sub}/providers/Microsoft.MachineLearningServices/
locations/{location}/``.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from emulator.arm_model import PROVIDER, now_iso
from emulator.context import Identity


@dataclass
class Operation:
    id: str
    status: str = "InProgress"
    start: str = field(default_factory=now_iso)
    end: str | None = None
    error: dict[str, Any] | None = None

    def body(self, location: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": f"/providers/{PROVIDER}/locations/{location}/mfeOperationsStatus/{self.id}",
            "name": self.id,
            "status": self.status,
            "startTime": self.start,
        }
        if self.end:
            body["endTime"] = self.end
        if self.error:
            body["error"] = self.error
        return body

    def finish(self, error: dict[str, Any] | None = None, status: str = "Failed") -> None:
        """End the operation: Succeeded, or ``status`` (Failed, Canceled) with ``error``."""
        self.status = status if error else "Succeeded"
        self.error = error
        self.end = now_iso()


class Operations:
    """The operations of one emulated workspace and the background tasks behind them."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.operations: dict[str, Operation] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    def new(self) -> Operation:
        op = Operation(id=uuid.uuid4().hex)
        self.operations[op.id] = op
        return op

    def spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def cancel_all(self) -> None:
        for task in list(self.tasks):
            task.cancel()

    def headers(
        self,
        request: web.Request,
        op: Operation,
        location: bool,
        arm_base: str,
        retry_after: float,
    ) -> dict[str, str]:
        """The headers of an accepted long-running request; the status URLs carry the
        request's own api-version, as Azure's do."""
        api = request.query.get("api-version", "2025-12-01")
        base = (
            f"{arm_base}subscriptions/{self.identity.subscription}/providers/{PROVIDER}"
            f"/locations/{self.identity.location}"
        )
        headers = {
            "Azure-AsyncOperation": f"{base}/mfeOperationsStatus/{op.id}?api-version={api}",
            # The generated client reads Retry-After of the initial response as an integer;
            # the status resource carries the (possibly fractional) polling interval.
            "Retry-After": str(max(1, math.ceil(retry_after))),
            "x-ms-async-operation-timeout": "PT1H",
        }
        if location:
            headers["Location"] = f"{base}/mfeOperationResults/{op.id}?api-version={api}"
        return headers
