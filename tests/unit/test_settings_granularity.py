"""AUTOCANARY_METRICS_GRANULARITY_SECONDS: the metric minute's length, for the local emulator."""

from __future__ import annotations

import pytest

from shared.errors import ConfigurationError
from shared.settings import Settings

POLICY = "rules:\n  - {name: all, match: {model: '*'}, endpoint: scoring}\n"


def env(**extra: str) -> dict[str, str]:
    base = {
        "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000",
        "AZURE_RESOURCE_GROUP": "rg",
        "AZUREML_WORKSPACE_NAME": "ws",
        "AUTOCANARY_POLICY": POLICY,
        "AUTOCANARY_METRICS_ENDPOINT": "https://127.0.0.1:9/",
        "AzureWebJobsStorage": "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=a2V5;",
    }
    return {**base, **extra}


def test_granularity_defaults_to_one_minute() -> None:
    assert Settings.from_env(env()).metrics_granularity_seconds == 60.0


def test_short_granularity_is_taken_with_the_emulator() -> None:
    settings = Settings.from_env(
        env(
            AUTOCANARY_ARM_ENDPOINT="https://127.0.0.1:9/",
            AUTOCANARY_METRICS_GRANULARITY_SECONDS="2.5",
        )
    )
    assert settings.metrics_granularity_seconds == 2.5


def test_short_granularity_is_refused_against_azure() -> None:
    with pytest.raises(ConfigurationError, match="only for the local emulator"):
        Settings.from_env(env(AUTOCANARY_METRICS_GRANULARITY_SECONDS="2"))


@pytest.mark.parametrize("value", ["0", "0.1", "61", "abc", "nan"])
def test_granularity_out_of_range_is_refused(value: str) -> None:
    with pytest.raises(ConfigurationError, match=r"from 0\.5 to 60"):
        Settings.from_env(
            env(
                AUTOCANARY_ARM_ENDPOINT="https://127.0.0.1:9/",
                AUTOCANARY_METRICS_GRANULARITY_SECONDS=value,
            )
        )
