"""Helpers for the emulator integration tests (stock SDK clients over HTTPS)."""

from __future__ import annotations

from typing import Any

import requests

from emulator.connection import Connection
from emulator.testing import (  # noqa: F401  (re-exported for the emulator tests)
    admin_request,
    create_endpoint,
    make_deployment,
    set_traffic,
)


class Scorer:
    """POSTs to an endpoint's scoring URI with its key, over HTTPS."""

    def __init__(self, conn: Connection, ml: Any, endpoint: str) -> None:
        self.url = conn.scoring_uri(endpoint)
        self.key = ml.online_endpoints.get_keys(endpoint).primary_key
        self.session = requests.Session()
        self.cert = conn.cert_path

    def score(
        self, rows: list[list[float]] | None = None, key: str | None = None, **headers: str
    ) -> requests.Response:
        hdrs = {"Authorization": f"Bearer {self.key if key is None else key}"}
        hdrs.update({k.replace("_", "-"): v for k, v in headers.items()})
        body = {"data": rows if rows is not None else [[1.0, 2.0, 3.0]]}
        # verify per request: a Session's verify loses to REQUESTS_CA_BUNDLE in the environment.
        return self.session.post(self.url, json=body, headers=hdrs, timeout=30, verify=self.cert)


def record_counts(conn: Connection, endpoint: str) -> dict[tuple[str, bool, int], int]:
    """(deployment, mirrored, status) -> number of recorded requests of ``endpoint``."""
    rows = admin_request(conn, "GET", "records/summary")["rows"]
    return {
        (r["deployment"], r["mirrored"], r["status_code"]): r["count"]
        for r in rows
        if r["endpoint"] == endpoint
    }
