"""AUTOCANARY_RETENTION: how long history is kept before the timer deletes it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.bootstrap import build_engine
from shared.errors import ConfigurationError
from shared.settings import Settings
from tests.unit.test_settings_granularity import env


def test_retention_defaults_to_ninety_days() -> None:
    assert Settings.from_env(env()).retention_seconds == 90 * 86400


@pytest.mark.parametrize(("value", "days"), [("30d", 30), ("36h", 1.5), ("400d", 400)])
def test_retention_takes_a_duration(value: str, days: float) -> None:
    assert Settings.from_env(env(AUTOCANARY_RETENTION=value)).retention_seconds == days * 86400


@pytest.mark.parametrize("value", ["12h", "0d", "-5d", "forever", "90"])
def test_retention_under_a_day_or_not_a_duration_is_refused(value: str) -> None:
    with pytest.raises(ConfigurationError, match="AUTOCANARY_RETENTION"):
        Settings.from_env(env(AUTOCANARY_RETENTION=value))


def test_the_engine_is_built_with_the_retention() -> None:
    settings = Settings.from_env(env(AUTOCANARY_RETENTION="7d"))
    assert build_engine(settings).retention == timedelta(days=7)
