"""Which rollout store the settings name: an explicit setting first, then the host's storage
(a connection string, or its identity-based form's table service URI)."""

from __future__ import annotations

import pytest

from shared.errors import ConfigurationError
from shared.settings import Settings
from tests.unit.test_settings_granularity import env as app_env

CONNECTION = "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=a2V5;"
HOST_TABLE = "https://host.table.core.windows.net"


def env(**extra: str) -> dict[str, str]:
    """Every required setting but the rollout store, plus ``extra``."""
    settings = app_env(**extra)
    if "AzureWebJobsStorage" not in extra:
        del settings["AzureWebJobsStorage"]
    return settings


def test_identity_based_host_storage_names_the_table_endpoint() -> None:
    settings = Settings.from_env(
        env(
            AzureWebJobsStorage__accountName="host",
            AzureWebJobsStorage__tableServiceUri=HOST_TABLE,
        )
    )
    assert settings.table_endpoint == HOST_TABLE
    assert settings.storage_connection is None


def test_explicit_table_endpoint_wins_over_the_host_storage() -> None:
    settings = Settings.from_env(
        env(
            AUTOCANARY_TABLE_ENDPOINT="https://rollouts.table.core.windows.net",
            AzureWebJobsStorage__tableServiceUri=HOST_TABLE,
        )
    )
    assert settings.table_endpoint == "https://rollouts.table.core.windows.net"


def test_explicit_connection_wins_over_the_host_table_service_uri() -> None:
    settings = Settings.from_env(
        env(
            AUTOCANARY_STORAGE_CONNECTION=CONNECTION,
            AzureWebJobsStorage__tableServiceUri=HOST_TABLE,
        )
    )
    assert settings.storage_connection == CONNECTION
    assert not settings.table_endpoint


def test_identity_based_host_storage_without_table_uri_is_refused_naming_the_settings() -> None:
    with pytest.raises(ConfigurationError, match="AzureWebJobsStorage__tableServiceUri"):
        Settings.from_env(env(AzureWebJobsStorage__accountName="host"))


def test_plain_http_host_table_service_uri_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="must be an https:// URL"):
        Settings.from_env(env(AzureWebJobsStorage__tableServiceUri="http://host.example"))
