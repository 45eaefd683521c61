"""Notification app settings: the two app-wide webhooks, the public URL, and the settings a
policy rule's ``notify`` names."""

from __future__ import annotations

import pytest

from shared.bootstrap import build_engine
from shared.errors import ConfigurationError
from shared.settings import Settings
from tests.unit.test_settings_granularity import env

TEAM_POLICY = """
rules:
  - name: fraud
    match: {model: "fraud*"}
    endpoint: fraud-scoring
    notify: {slack: RISK_SLACK_URL}
"""
TEAMS = "https://example.webhook.office.com/workflows/abc"
SLACK = "https://hooks.slack.com/services/T0/B0/xyz"


def test_no_webhook_means_no_notifications() -> None:
    settings = Settings.from_env(env())
    assert settings.webhooks == {}
    assert build_engine(settings).notifications is None


def test_app_wide_webhooks_are_read_and_kept_out_of_repr() -> None:
    settings = Settings.from_env(
        env(AUTOCANARY_TEAMS_WEBHOOK_URL=TEAMS, AUTOCANARY_SLACK_WEBHOOK_URL=SLACK)
    )
    assert settings.webhooks == {
        "AUTOCANARY_TEAMS_WEBHOOK_URL": TEAMS,
        "AUTOCANARY_SLACK_WEBHOOK_URL": SLACK,
    }
    assert TEAMS not in repr(settings) and SLACK not in repr(settings)
    engine = build_engine(settings)
    assert engine.notifications is not None
    assert [c.kind for c in engine.notifications.channels.defaults] == ["teams", "slack"]


def test_plain_http_webhook_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="AUTOCANARY_SLACK_WEBHOOK_URL"):
        Settings.from_env(env(AUTOCANARY_SLACK_WEBHOOK_URL="http://hooks.slack.com/x"))


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost.example.net/hook",
        "http://127.0.0.1.nip.io/hook",
        "http://localhost@evil.example.net/hook",
        "https:///no-host",
    ],
)
def test_a_webhook_that_only_looks_local_is_refused(url: str) -> None:
    """The host is parsed, never matched as a prefix: these name other machines."""
    with pytest.raises(ConfigurationError, match="AUTOCANARY_SLACK_WEBHOOK_URL"):
        Settings.from_env(env(AUTOCANARY_SLACK_WEBHOOK_URL=url))


def test_plain_http_to_this_machine_is_taken_for_local_runs() -> None:
    loopback = Settings.from_env(env(AUTOCANARY_SLACK_WEBHOOK_URL="http://127.0.0.1:9/hook"))
    assert loopback.webhooks == {"AUTOCANARY_SLACK_WEBHOOK_URL": "http://127.0.0.1:9/hook"}
    with pytest.raises(ConfigurationError, match="AUTOCANARY_PUBLIC_URL"):
        Settings.from_env(env(AUTOCANARY_PUBLIC_URL="http://canary.example.com"))


def test_setting_named_by_a_rule_must_be_set() -> None:
    with pytest.raises(ConfigurationError) as err:
        Settings.from_env(env(AUTOCANARY_POLICY=TEAM_POLICY))
    assert "RISK_SLACK_URL (named by rule 'fraud' notify) is not set" in err.value.message


def test_setting_named_by_a_rule_is_resolved() -> None:
    settings = Settings.from_env(env(AUTOCANARY_POLICY=TEAM_POLICY, RISK_SLACK_URL=SLACK))
    assert settings.webhooks == {"RISK_SLACK_URL": SLACK}
    engine = build_engine(settings)
    assert engine.notifications is not None
    book = engine.notifications.channels
    assert book.defaults == () and book.named == {"RISK_SLACK_URL": SLACK}


def test_public_url_defaults_to_the_app_service_hostname() -> None:
    settings = Settings.from_env(env(WEBSITE_HOSTNAME="ac-app.azurewebsites.net"))
    assert settings.public_url == "https://ac-app.azurewebsites.net"
    explicit = Settings.from_env(env(AUTOCANARY_PUBLIC_URL="https://canary.example.com/"))
    assert explicit.public_url == "https://canary.example.com"
    assert Settings.from_env(env()).public_url is None
