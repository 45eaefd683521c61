"""Policy keys ``smoke`` and ``compare``: off by default, validated, stored round trip."""

from __future__ import annotations

import pytest

from shared.errors import PolicyError
from shared.policy import RolloutPolicy, load_policy_text, policy_from_dict
from shared.policy_checks import ComparePolicy, SmokePolicy

RULES = "rules:\n  - name: r\n    match: {model: '*'}\n    endpoint: fraud\n"


def _policy(defaults: str) -> RolloutPolicy:
    return load_policy_text(f"defaults:\n{defaults}{RULES}").rules[0].policy


def test_smoke_and_compare_are_off_by_default() -> None:
    p = _policy("  watch_window: 1m\n")
    assert p.smoke is None and p.compare is None


def test_smoke_is_read_and_survives_the_stored_round_trip() -> None:
    p = _policy("  smoke: {requests: 20, sample: samples/fraud.jsonl, latency_ms: 300}\n")
    assert p.smoke == SmokePolicy(20, "samples/fraud.jsonl", 300.0)
    assert policy_from_dict(p.to_dict()) == p


def test_compare_defaults_and_round_trip() -> None:
    p = _policy("  compare: {flip_rate: 0.05, on_fail: hold}\n")
    assert p.compare == ComparePolicy(flip_rate=0.05, psi=0.2, on_fail="hold")
    assert policy_from_dict(p.to_dict()) == p


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("smoke: {requests: 0, latency_ms: 100}", "defaults.smoke.requests"),
        ("smoke: {requests: 5}", "defaults.smoke.latency_ms"),
        ("smoke: {latency_ms: -1}", "defaults.smoke.latency_ms"),
        ("smoke: {latency_ms: 100, sample: ''}", "defaults.smoke.sample"),
        ("smoke: {latency_ms: 100, rps: 3}", "defaults.smoke.rps"),
        ("smoke: 5", "defaults.smoke"),
        ("compare: {flip_rate: 1.5}", "defaults.compare.flip_rate"),
        ("compare: {on_fail: pause}", "defaults.compare.on_fail"),
        ("compare: {samples: 0}", "defaults.compare.samples"),
        ("compare: {flip_rate: null, psi: null}", "defaults.compare"),
    ],
)
def test_invalid_smoke_or_compare_names_the_field(line: str, field: str) -> None:
    with pytest.raises(PolicyError) as err:
        _policy(f"  {line}\n")
    assert err.value.field == field
