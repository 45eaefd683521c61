"""Helpers for the emulator integration tests (stock SDK clients over HTTPS)."""

from __future__ import annotations

from typing import Any

import requests

from emulator.connection import Connection
from emulator.testing import admin_request


def make_deployment(
    endpoint: str,
    name: str,
    model: str,
    code: str = "azureml:score:1",
    instance_count: int = 1,
    **kwargs: Any,
) -> Any:
    from azure.ai.ml.entities import CodeConfiguration, ManagedOnlineDeployment

    return ManagedOnlineDeployment(
        name=name,
        endpoint_name=endpoint,
        model=model,
        environment="azureml://registries/azureml/environments/sklearn-1.5/versions/1",
        code_configuration=CodeConfiguration(code=code, scoring_script="score.py"),
        instance_type="Standard_DS3_v2",
        instance_count=instance_count,
        **kwargs,
    )


def create_endpoint(ml: Any, name: str, **kwargs: Any) -> Any:
    from azure.ai.ml.entities import ManagedOnlineEndpoint

    endpoint = ManagedOnlineEndpoint(name=name, auth_mode="key", **kwargs)
    return ml.online_endpoints.begin_create_or_update(endpoint).result()


def set_traffic(
    ml: Any, name: str, traffic: dict[str, int], mirror: dict[str, int] | None = None
) -> Any:
    endpoint = ml.online_endpoints.get(name)
    endpoint.traffic = traffic
    endpoint.mirror_traffic = mirror or {}
    return ml.online_endpoints.begin_create_or_update(endpoint).result()


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
