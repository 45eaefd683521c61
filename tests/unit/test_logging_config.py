"""Logging is quiet by default: host.json keeps the Functions host's own categories at Warning
(functions' and the app's logs at Information, every decision record unsampled), and the Azure
SDK's per-request HTTP logging is at WARNING once the engine is built."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from shared.bootstrap import HTTP_LOGGING_POLICY, build_engine, quiet_sdk_logging
from shared.settings import Settings
from tests.unit.test_settings_granularity import env

ROOT = Path(__file__).resolve().parents[2]


def test_host_json_keeps_host_categories_at_warning_and_function_logs_at_information() -> None:
    logging_cfg = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))["logging"]
    levels = logging_cfg["logLevel"]
    assert levels["default"] == "Warning"
    assert levels["Function"] == "Information"  # Function.<name> and Function.<name>.User
    assert levels["Host.Results"] == "Information"
    excluded = logging_cfg["applicationInsights"]["samplingSettings"]["excludedTypes"]
    assert "Trace" in excluded.split(";")  # decision records are never sampled away


def test_building_the_engine_quiets_azure_sdk_http_logging(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    logger = logging.getLogger(HTTP_LOGGING_POLICY)
    monkeypatch.setattr(logger, "level", logging.NOTSET)
    build_engine(Settings.from_env(env()))
    assert logger.level == logging.WARNING
    assert not logger.isEnabledFor(logging.INFO)


def test_a_level_set_on_purpose_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    logger = logging.getLogger(HTTP_LOGGING_POLICY)
    monkeypatch.setattr(logger, "level", logging.DEBUG)
    quiet_sdk_logging()
    assert logger.level == logging.DEBUG
