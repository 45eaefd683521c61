"""The policy's ``notify`` rule key: parsed, validated, stored with the rollout, and carried by
placements of ignored models."""

from __future__ import annotations

import pytest

from shared.errors import PolicyError
from shared.policy import load_policy_text, policy_from_dict

POLICY = """
rules:
  - name: fraud
    match: {model: "fraud*"}
    endpoint: fraud
    allow_tag_overrides: [watch_window]
    notify: {teams: RISK_TEAMS_URL, slack: RISK_SLACK_URL}
  - name: rest
    match: {model: "*"}
    endpoint: general
"""


def test_rule_notify_names_app_settings_per_channel() -> None:
    rule = load_policy_text(POLICY).rules[0]
    assert rule.policy.notify == (("slack", "RISK_SLACK_URL"), ("teams", "RISK_TEAMS_URL"))
    assert load_policy_text(POLICY).rules[1].policy.notify == ()


def test_notify_survives_the_stored_policy_round_trip() -> None:
    policy = load_policy_text(POLICY).rules[0].policy
    stored = policy.to_dict()
    assert stored["notify"] == {"slack": "RISK_SLACK_URL", "teams": "RISK_TEAMS_URL"}
    assert policy_from_dict(stored) == policy


def test_policy_without_notify_stores_no_notify_key() -> None:
    assert "notify" not in load_policy_text(POLICY).rules[1].policy.to_dict()


@pytest.mark.parametrize(
    ("notify", "field"),
    [
        ("{email: X}", "rules[0].notify.email"),
        ("{teams: 'https://example.webhook.office.com/x'}", "rules[0].notify.teams"),
        ("{teams: 3}", "rules[0].notify.teams"),
        ("[teams]", "rules[0].notify"),
        ("{}", "rules[0].notify"),
    ],
)
def test_invalid_notify_is_refused_naming_the_field(notify: str, field: str) -> None:
    text = f"rules:\n  - {{name: a, endpoint: abc, notify: {notify}}}\n"
    with pytest.raises(PolicyError) as err:
        load_policy_text(text)
    assert err.value.field == field


def test_notify_in_defaults_is_refused_as_a_rule_key() -> None:
    with pytest.raises(PolicyError) as err:
        load_policy_text("defaults: {notify: {teams: X}}\nrules: [{name: a, endpoint: abc}]\n")
    assert err.value.field == "defaults.notify"


def test_tags_cannot_override_notify() -> None:
    with pytest.raises(PolicyError):
        load_policy_text("rules: [{name: a, endpoint: abc, allow_tag_overrides: [notify]}]\n")


def test_ignored_placements_carry_the_matching_rules_channels() -> None:
    policies = load_policy_text(POLICY)
    refused = policies.place("fraud", {"autocanary.stages": "5,100"})
    assert refused.policy is None and refused.reason == "InvalidTagOverride"
    assert refused.notify == (("slack", "RISK_SLACK_URL"), ("teams", "RISK_TEAMS_URL"))
    opted = policies.place("fraud", {"autocanary": "skip"})
    assert opted.reason == "OptedOutByTag" and opted.notify == refused.notify
    assert policies.place("ranker", {"autocanary": "skip"}).notify == ()


def test_tag_override_keeps_the_rules_channels() -> None:
    placed = load_policy_text(POLICY).place("fraud", {"autocanary.watch_window": "1h"})
    assert placed.policy is not None and placed.policy.notify == (
        ("slack", "RISK_SLACK_URL"),
        ("teams", "RISK_TEAMS_URL"),
    )
