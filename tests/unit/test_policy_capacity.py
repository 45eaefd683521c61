"""Policy keys ``capacity`` and ``headroom``: defaults, validation, round trip, tag form."""

from __future__ import annotations

import pytest

from shared.errors import PolicyError
from shared.policy import RolloutPolicy, load_policy_text, policy_from_dict

RULES = "rules:\n  - name: r\n    match: {model: '*'}\n    endpoint: fraud\n"


def _policy(defaults: str) -> RolloutPolicy:
    return load_policy_text(f"defaults:\n{defaults}{RULES}").rules[0].policy


def test_capacity_defaults_to_follow_traffic_with_headroom_1_5() -> None:
    p = _policy("  watch_window: 1m\n")
    assert (p.capacity, p.headroom) == ("follow_traffic", 1.5)


def test_capacity_and_headroom_are_read_and_survive_the_stored_round_trip() -> None:
    p = _policy("  capacity: full\n  headroom: 2\n")
    assert (p.capacity, p.headroom) == ("full", 2.0)
    assert policy_from_dict(p.to_dict()) == p


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("capacity: half", "defaults.capacity"),
        ("headroom: 0.5", "defaults.headroom"),
        ("headroom: 11", "defaults.headroom"),
        ("headroom: true", "defaults.headroom"),
        ("headroom: lots", "defaults.headroom"),
    ],
)
def test_a_bad_capacity_or_headroom_is_refused_naming_the_field(line: str, field: str) -> None:
    with pytest.raises(PolicyError) as err:
        _policy(f"  {line}\n")
    assert err.value.field == field


def test_headroom_can_be_a_tag_override_when_the_rule_allows_it() -> None:
    ps = load_policy_text(
        "rules:\n  - name: r\n    match: {model: '*'}\n    endpoint: fraud\n"
        "    allow_tag_overrides: [headroom, capacity]\n"
    )
    placed = ps.place("m", {"autocanary.headroom": "1.2", "autocanary.capacity": "full"})
    assert placed.policy is not None
    assert (placed.policy.headroom, placed.policy.capacity) == (1.2, "full")
