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


def test_plain_http_webhook_is_left_out_and_reported_never_fatal() -> None:
    """A chat setting never stops rollouts or alert rollbacks: the channel is left out, and
    the problem is reported (settings check, log, health)."""
    settings = Settings.from_env(env(AUTOCANARY_SLACK_WEBHOOK_URL="http://hooks.slack.com/x"))
    assert settings.webhooks == {}
    assert settings.notify_problems == ("AUTOCANARY_SLACK_WEBHOOK_URL must be an https:// URL",)


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
    settings = Settings.from_env(env(AUTOCANARY_SLACK_WEBHOOK_URL=url))
    assert settings.webhooks == {}
    assert "AUTOCANARY_SLACK_WEBHOOK_URL" in settings.notify_problems[0]


def test_plain_http_to_this_machine_is_taken_for_local_runs() -> None:
    loopback = Settings.from_env(env(AUTOCANARY_SLACK_WEBHOOK_URL="http://127.0.0.1:9/hook"))
    assert loopback.webhooks == {"AUTOCANARY_SLACK_WEBHOOK_URL": "http://127.0.0.1:9/hook"}
    with pytest.raises(ConfigurationError, match="AUTOCANARY_PUBLIC_URL"):
        Settings.from_env(env(AUTOCANARY_PUBLIC_URL="http://canary.example.com"))


def test_setting_named_by_a_rule_must_be_set() -> None:
    settings = Settings.from_env(env(AUTOCANARY_POLICY=TEAM_POLICY))
    assert settings.notify_problems == ("RISK_SLACK_URL (named by rule 'fraud' notify) is not set",)


def test_an_unresolved_key_vault_reference_leaves_the_channel_out_and_the_engine_running(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """App Service passes a reference it cannot resolve on as its own text: the engine still
    builds (its alert path works), health names the channel, the settings check exits 2."""
    from shared.settings import main

    ref = "@Microsoft.KeyVault(SecretUri=https://v.vault.azure.net/secrets/teams/)"
    values = env(AUTOCANARY_TEAMS_WEBHOOK_URL=ref)
    settings = Settings.from_env(values)
    assert settings.webhooks == {} and "Key Vault reference" in settings.notify_problems[0]
    engine = build_engine(settings)  # builds its clients lazily: nothing is called here
    assert engine.notifications is None
    assert engine.notify_problems == settings.notify_problems  # health names them
    with pytest.MonkeyPatch.context() as mp:
        for k, v in values.items():
            mp.setenv(k, v)
        assert main([]) == 2
    assert "AUTOCANARY_TEAMS_WEBHOOK_URL" in capsys.readouterr().err


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
