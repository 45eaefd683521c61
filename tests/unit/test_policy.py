"""Rollout policy: parsing, validation errors that name the field, matching and tag overrides."""

from __future__ import annotations

import pytest

from shared.errors import PolicyError
from shared.policy import load_policy_text, parse_duration, policy_from_dict
from shared.reasons import INVALID_TAG_OVERRIDE, MATCHED, NO_MATCHING_RULE, OPTED_OUT

POLICY = """
defaults:
  shadow: {percent: 20, duration: 10m}
  stages:
    - {weight: 10, min_duration: 5m, max_duration: 30m, min_requests: 500}
    - {weight: 50, min_duration: 5m}
    - {weight: 100}
  judge: {alpha: 0.01, clear_margin: 2}
  watch_window: 30m
rules:
  - name: fraud
    match: {model: "fraud-*", tags: {team: risk}}
    endpoint: fraud-scoring
    on_newer_version: supersede
    allow_tag_overrides: [stages, watch_window]
  - name: everything-else
    match: {model: "*"}
    endpoint: general
    on_deadline: rollback
"""


def test_first_matching_rule_places_the_model_over_the_defaults() -> None:
    p = load_policy_text(POLICY).place("fraud-gbm", {"team": "risk"})
    assert p.reason == MATCHED and p.policy is not None
    assert p.policy.endpoint == "fraud-scoring"
    assert p.policy.on_newer_version == "supersede"
    assert p.policy.shadow_percent == 20 and p.policy.shadow_duration == 600
    assert [s.weight for s in p.policy.stages] == [10, 50, 100]
    assert p.policy.stages[0].min_requests == 500


def test_model_matching_no_rule_is_placed_nowhere_with_the_reason() -> None:
    pol = load_policy_text(POLICY.replace('model: "*"', 'model: "churn-*"'))
    assert pol.place("ranker", {}).reason == NO_MATCHING_RULE


def test_opt_out_tag_skips_the_model() -> None:
    placed = load_policy_text(POLICY).place("fraud-gbm", {"team": "risk", "autocanary": "skip"})
    assert placed.policy is None and placed.reason == OPTED_OUT


def test_allowed_tag_override_changes_the_policy() -> None:
    tags = {"team": "risk", "autocanary.stages": "5,20,100", "autocanary.watch_window": "1h"}
    p = load_policy_text(POLICY).place("fraud-gbm", tags).policy
    assert p is not None and [s.weight for s in p.stages] == [5, 20, 100]
    assert p.watch_window == 3600


def test_tag_override_the_rule_does_not_allow_is_refused() -> None:
    tags = {"team": "risk", "autocanary.on_deadline": "hold"}
    placed = load_policy_text(POLICY).place("fraud-gbm", tags)
    assert placed.policy is None and placed.reason == INVALID_TAG_OVERRIDE


def test_invalid_tag_override_value_is_refused_with_the_field() -> None:
    tags = {"team": "risk", "autocanary.stages": "50,10,100"}
    placed = load_policy_text(POLICY).place("fraud-gbm", tags)
    assert placed.policy is None and "stages" in placed.detail


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ("rules: []", "rules"),
        ("rules: [{endpoint: x}]", "rules[0].endpoint"),
        ("rules: [{endpoint: ok-ep, stages: [{weight: 10}]}]", "rules[0].stages[0].weight"),
        ("rules: [{endpoint: ok-ep, shadow: {percent: 60}}]", "rules[0].shadow.percent"),
        ("rules: [{endpoint: ok-ep, judge: {alpha: 2}}]", "rules[0].judge.alpha"),
        ("rules: [{endpoint: ok-ep, judge: {bogus: 1}}]", "rules[0].judge.bogus"),
        ("rules: [{endpoint: ok-ep, watch_window: soon}]", "rules[0].watch_window"),
        ("rules: [{endpoint: ok-ep, colour: red}]", "rules[0].colour"),
        ("rules: [{endpoint: ok-ep, on_deadline: panic}]", "rules[0].on_deadline"),
        (
            "defaults: {stages: [{weight: 50}, {weight: 20}, {weight: 100}]}\n"
            "rules: [{endpoint: a-b}]",
            "defaults.stages[1].weight",
        ),
        ("rules: [{endpoint: ok-ep, name: a}, {endpoint: ok-ep, name: a}]", "rules[1].name"),
        ("colour: red", "colour"),
        ("defaults: {endpoint: ok-ep}\nrules: [{endpoint: a-b}]", "defaults.endpoint"),
        ("defaults: {rule: r}\nrules: [{endpoint: a-b}]", "defaults.rule"),
        ("defaults: {match: {model: '*'}}\nrules: [{endpoint: a-b}]", "defaults.match"),
        ("[unclosed", "<file>"),
        ("rules: [{endpoint: ok-ep, match: {tags: {owner: [a]}}}]", "rules[0].match.tags.owner"),
    ],
)
def test_invalid_policy_names_the_field(bad: str, field: str) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy_text(bad)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (90, 90.0),
        ("90s", 90.0),
        ("5m", 300.0),
        ("1.5h", 5400.0),
        ("1d", 86400.0),
        (" 5 m ", 300.0),
        ("5\tm", 300.0),
    ],
)
def test_durations_parse_to_seconds(text: object, seconds: float) -> None:
    assert parse_duration(text, "x") == seconds


@pytest.mark.parametrize(
    "text", [float("inf"), float("nan"), "3000000d", "99999999999999999999d", 10**400, "3661d"]
)
def test_durations_past_ten_years_or_not_finite_are_refused(text: object) -> None:
    with pytest.raises(PolicyError) as info:
        parse_duration(text, "watch_window")
    assert info.value.field == "watch_window"


@pytest.mark.parametrize("text", ["1" + " " * 5000 + "!", "5 mm", "m5", "", " "])
def test_a_malformed_duration_is_refused_naming_the_field(text: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_duration(text, "max_duration")
    assert info.value.field == "max_duration"


def test_policy_survives_a_round_trip_through_plain_data() -> None:
    p = load_policy_text(POLICY).place("fraud-gbm", {"team": "risk"}).policy
    assert p is not None and policy_from_dict(p.to_dict()) == p


def test_engine_settings_have_safe_defaults() -> None:
    p = load_policy_text(POLICY).place("ranker", {}).policy
    assert p is not None
    assert p.settle == 180.0
    assert p.errors == ("5xx", "424", "408", "429")
    assert not p.guardrails.active
    assert p.shadow_max_duration == 1800.0 and p.shadow_on_no_data == "hold"


def test_settle_errors_guardrails_and_shadow_limits_parse() -> None:
    text = POLICY.replace(
        "  watch_window: 30m\n",
        "  watch_window: 30m\n"
        "  settle: 2m\n"
        "  errors: [5xx, 424, 503]\n"
        "  guardrails: {p95_latency_ms: 500, error_rate: 0.01, for: 3m}\n",
    ).replace(
        "shadow: {percent: 20, duration: 10m}",
        "shadow: {percent: 20, duration: 10m, max_duration: 40m, on_no_data: continue}",
    )
    p = load_policy_text(text).place("ranker", {}).policy
    assert p is not None
    assert p.settle == 120.0 and p.errors == ("5xx", "424", "503")
    assert p.guardrails.error_rate == 0.01 and p.guardrails.latency_ms == {"p95": 500.0}
    assert p.guardrails.for_s == 180.0
    assert p.shadow_max_duration == 2400.0 and p.shadow_on_no_data == "continue"
    assert policy_from_dict(p.to_dict()) == p


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ("rules: [{endpoint: ok-ep, errors: []}]", "rules[0].errors"),
        ("rules: [{endpoint: ok-ep, errors: [5xx, teapot]}]", "rules[0].errors[1]"),
        ("rules: [{endpoint: ok-ep, errors: [600]}]", "rules[0].errors[0]"),
        ("rules: [{endpoint: ok-ep, settle: later}]", "rules[0].settle"),
        (
            "rules: [{endpoint: ok-ep, guardrails: {error_rate: 2}}]",
            "rules[0].guardrails.error_rate",
        ),
        (
            "rules: [{endpoint: ok-ep, guardrails: {p95_latency_ms: -1}}]",
            "rules[0].guardrails.p95_latency_ms",
        ),
        ("rules: [{endpoint: ok-ep, guardrails: {cpu: 90}}]", "rules[0].guardrails.cpu"),
        ("rules: [{endpoint: ok-ep, guardrails: {for: 3m}}]", "rules[0].guardrails"),
        (
            "rules: [{endpoint: ok-ep, shadow: {percent: 10, duration: 10m, max_duration: 5m}}]",
            "rules[0].shadow.max_duration",
        ),
        (
            "rules: [{endpoint: ok-ep, shadow: {percent: 10, duration: 1m, on_no_data: pass}}]",
            "rules[0].shadow.on_no_data",
        ),
    ],
)
def test_invalid_engine_settings_name_the_field(bad: str, field: str) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy_text(bad)
    assert info.value.field == field


def test_a_single_100_percent_stage_without_a_shadow_is_refused() -> None:
    """Nothing would ever be judged: the rollout would replace the live model unjudged."""
    with pytest.raises(PolicyError) as info:
        load_policy_text("rules: [{endpoint: ok-ep, stages: [{weight: 100}]}]")
    assert info.value.field == "rules[0].stages" and "judged" in info.value.message
    shadowed = load_policy_text(
        "rules: [{endpoint: ok-ep, stages: [100], shadow: {percent: 20, duration: 5m}}]"
    ).place("m", {})
    assert shadowed.policy is not None and shadowed.policy.judged_count == 1
    no_duration = "rules: [{endpoint: ok-ep, stages: [100], shadow: {percent: 20, duration: 0}}]"
    with pytest.raises(PolicyError):
        load_policy_text(no_duration)


def test_a_tag_override_to_a_single_100_percent_stage_is_refused() -> None:
    placed = load_policy_text(
        POLICY.replace("shadow: {percent: 20, duration: 10m}", "shadow: null")
    )
    out = placed.place("fraud-gbm", {"team": "risk", "autocanary.stages": "100"})
    assert out.policy is None and out.reason == INVALID_TAG_OVERRIDE and "judged" in out.detail


def test_structured_tag_overrides_are_json_objects_and_bad_json_is_refused() -> None:
    """``autocanary.guardrails`` / ``autocanary.judge`` carry a JSON object; anything else
    places the model nowhere, with the reason, and changes nothing."""
    allowed = load_policy_text(
        POLICY.replace("[stages, watch_window]", "[stages, watch_window, guardrails, judge]")
    )
    ok = allowed.place(
        "fraud-gbm",
        {
            "team": "risk",
            "autocanary.guardrails": '{"error_rate": 0.02}',
            "autocanary.judge": '{"alpha": 0.005}',
        },
    )
    assert ok.policy is not None
    assert ok.policy.guardrails.error_rate == 0.02 and ok.policy.judge.alpha == 0.005
    for key in ("autocanary.guardrails", "autocanary.judge"):
        bad = allowed.place("fraud-gbm", {"team": "risk", key: "{error_rate: 0.02"})
        assert bad.policy is None and bad.reason == INVALID_TAG_OVERRIDE
        assert "must be a JSON object" in bad.detail


@pytest.mark.parametrize(
    ("written", "sent"),
    [("true", "true"), ("yes", "yes"), ("1.10", "1.10"), ("007", "007"), ("1", "1"), ("'2'", "2")],
)
def test_a_tag_value_matches_as_written_though_yaml_reads_it_as_another_type(
    written: str, sent: str
) -> None:
    """Azure ML tags are strings: an unquoted true, 1.10 or 007 in the policy means the tag
    value written so (YAML would read True, 1.1, 7, which never match what Azure sends)."""
    p = load_policy_text(
        f"rules:\n  - name: ok\n    match: {{model: 'fraud-*', tags: {{t: {written}}}}}\n"
        "    endpoint: fraud-scoring\n"
    )
    placed = p.place("fraud-a", {"t": sent}).policy
    assert placed is not None and placed.endpoint == "fraud-scoring"
    assert p.place("fraud-a", {"t": sent + "x"}).policy is None


def test_a_quoted_tag_value_matches_the_string_azure_sends_and_a_missing_tag_never_does() -> None:
    p = load_policy_text(
        "rules:\n  - name: ok\n"
        "    match: {model: 'fraud-*', tags: {approved: 'true', owner: 'None'}}\n"
        "    endpoint: fraud-scoring\n"
        "  - name: rest\n    match: {model: '*'}\n    endpoint: general\n"
    )
    assert (
        p.place("fraud-a", {"approved": "true", "owner": "None"}).policy.endpoint == "fraud-scoring"
    )  # type: ignore[union-attr]
    # no owner tag at all: not the string "None"
    assert p.place("fraud-a", {"approved": "true"}).policy.endpoint == "general"  # type: ignore[union-attr]


def test_a_null_tag_value_matches_a_model_without_that_tag() -> None:
    p = load_policy_text(
        "rules:\n  - name: unowned\n    match: {model: '*', tags: {owner: null}}\n"
        "    endpoint: triage\n  - name: rest\n    match: {model: '*'}\n    endpoint: general\n"
    )
    assert p.place("m", {}).policy.endpoint == "triage"  # type: ignore[union-attr]
    assert p.place("m", {"owner": "ana"}).policy.endpoint == "general"  # type: ignore[union-attr]
    assert p.place("m", {"owner": "None"}).policy.endpoint == "general"  # type: ignore[union-attr]
