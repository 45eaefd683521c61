"""Stock Azure SDK clients pointed at a running emulator.

``ml_client(conn)`` builds azure-ai-ml's ``MLClient`` with ``cloud_metadata`` naming the
emulator as resource manager and ``connection_verify`` naming its certificate;
``metrics_client(conn)`` and ``logs_client(conn)`` build azure-monitor-querymetrics'
``MetricsClient`` and azure-monitor-query's ``LogsQueryClient``. All use
:class:`LocalCredential`, a static bearer token (the emulator accepts any bearer token on its
Azure APIs; HTTPS is required as in Azure). azure-ai-ml is imported only inside
:func:`ml_client` (about 2 s).
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from azure.core.credentials import AccessToken, AccessTokenInfo

from emulator.connection import Connection, load_connection

if TYPE_CHECKING:
    from azure.ai.ml import MLClient
    from azure.monitor.query import LogsQueryClient
    from azure.monitor.querymetrics import MetricsClient

CLOUD_NAME = "AutocanaryEmulator"


class LocalCredential:
    """A static token credential (``azure.core.credentials.TokenCredential``)."""

    def __init__(self, token: str = "emulator-local-token") -> None:
        self._token = token

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        return AccessTokenInfo(self._token, int(time.time()) + 3600)

    def close(self) -> None:
        return None

    def __enter__(self) -> LocalCredential:
        return self

    def __exit__(self, *args: object) -> None:
        return None


def _conn(conn: Connection | str | os.PathLike[str]) -> Connection:
    return conn if isinstance(conn, Connection) else load_connection(conn)


def ml_client(conn: Connection | str | os.PathLike[str], **kwargs: Any) -> MLClient:
    """An MLClient for the emulated workspace."""
    from azure.ai.ml import MLClient

    c = _conn(conn)
    # The first registration of a cloud name wins for the whole process, so the name carries
    # the port: several emulators can be used from one process.
    port = c.arm_url.rstrip("/").rsplit(":", 1)[-1]
    return MLClient(
        LocalCredential(),
        subscription_id=c.subscription,
        resource_group_name=c.resource_group,
        workspace_name=c.workspace,
        cloud=f"{CLOUD_NAME}{port}",
        cloud_metadata={
            "azure_portal": c.arm_url,
            "resource_manager": c.arm_url,
            "active_directory": c.arm_url,
            "aml_resource_id": c.arm_url,
            "storage_endpoint": "core.windows.net",
            "registry_discovery_endpoint": c.arm_url,
        },
        connection_verify=c.cert_path,
        **{"show_progress": False, "enable_telemetry": False, **kwargs},
    )


def metrics_client(conn: Connection | str | os.PathLike[str], **kwargs: Any) -> MetricsClient:
    """A MetricsClient whose endpoint is the emulator (``metrics:getBatch``)."""
    from azure.monitor.querymetrics import MetricsClient

    c = _conn(conn)
    return MetricsClient(
        c.metrics_url.rstrip("/"),
        LocalCredential(),
        audience=c.metrics_url.rstrip("/"),
        connection_verify=c.cert_path,
        **kwargs,
    )


def logs_client(conn: Connection | str | os.PathLike[str], **kwargs: Any) -> LogsQueryClient:
    """A LogsQueryClient whose endpoint is the emulator (``/v1/workspaces/{id}/query``)."""
    from azure.monitor.query import LogsQueryClient

    c = _conn(conn)
    return LogsQueryClient(
        LocalCredential(),
        endpoint=c.logs_url.rstrip("/") + "/v1",
        audience=c.logs_url.rstrip("/"),
        connection_verify=c.cert_path,
        **kwargs,
    )
