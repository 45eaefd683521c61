"""Raw ARM requests to the emulator's workspace (requests, not azure-ai-ml) for the ARM tests."""

from __future__ import annotations

from typing import Any

import requests

from emulator.connection import Connection
from emulator.testing import workspace_path

DEPLOYMENT_API = "2023-04-01-preview"  # what azure-ai-ml 1.35 sends for deployments


def arm_url(conn: Connection, path: str, api: str | None = DEPLOYMENT_API) -> str:
    base = f"{conn.arm_url.rstrip('/')}{workspace_path(conn)}{path}"
    return base if api is None else f"{base}?api-version={api}"


def arm(
    conn: Connection, method: str, path: str, body: Any = None, api: str | None = DEPLOYMENT_API
) -> requests.Response:
    return requests.request(
        method,
        arm_url(conn, path, api),
        json=body,
        headers={"Authorization": "Bearer test"},
        verify=conn.cert_path,
        timeout=30,
    )
