"""Decoding the operator API's bodies: actions and manual starts."""

from __future__ import annotations

from typing import Any

import pytest

from shared.errors import InvalidInput
from shared.operator_requests import action_request, start_request


def test_an_action_without_actor_takes_the_default_actor() -> None:
    assert action_request({"reason": " why "}, "ana@contoso.com").actor == "ana@contoso.com"
    assert action_request({"reason": "why"}).actor == "operator"
    assert action_request({"reason": "why", "actor": " bob "}, "ana").actor == "bob"


def test_a_start_is_decoded_with_its_defaults() -> None:
    body = start_request({"model": "fraud", "version": 7, "reason": "event lost"})
    assert (body.model, body.version, body.reason, body.actor) == (
        "fraud",
        "7",
        "event lost",
        "operator",
    )
    assert (body.endpoint, body.allow_downgrade, body.tags, body.full) == (None, False, {}, False)


def test_a_start_keeps_endpoint_tags_and_flags() -> None:
    body = start_request(
        {
            "model": "fraud",
            "version": "8",
            "reason": "back",
            "endpoint": "fraud-scoring",
            "tags": {"team": "risk", "n": 3},
            "allow_downgrade": True,
            "full": True,
        },
        "ana",
    )
    assert body.endpoint == "fraud-scoring" and body.tags == {"team": "risk", "n": "3"}
    assert body.allow_downgrade and body.full and body.actor == "ana"


@pytest.mark.parametrize(
    ("payload", "names"),
    [
        ({"version": "1", "reason": "x"}, "model"),
        ({"model": "fraud", "reason": "x"}, "version"),
        ({"model": "fraud", "version": "1"}, "reason"),
        ({"model": "fraud", "version": "1", "reason": "x", "extra": 1}, "extra"),
        (
            {"model": "fraud", "version": "1", "reason": "x", "allow_downgrade": "yes"},
            "allow_downgrade",
        ),
        ({"model": "fraud", "version": "1", "reason": "x", "endpoint": "a/b"}, "endpoint"),
        ({"model": "fraud", "version": "1", "reason": "x", "tags": ["a"]}, "Tags"),
        ({"model": "fr/aud", "version": "1", "reason": "x"}, "model name"),
        ({"model": "fraud", "version": "1:2", "reason": "x"}, "version"),
        ({"model": "fraud", "version": "1", "reason": "x", "actor": "alert:p99"}, "reserved"),
        ([], "JSON object"),
    ],
)
def test_a_bad_start_is_refused_naming_the_field(payload: Any, names: str) -> None:
    with pytest.raises(InvalidInput) as err:
        start_request(payload)
    assert names in err.value.message


@pytest.mark.parametrize(
    "payload",
    [
        {"model": "", "version": "1", "reason": "x"},
        {"model": "fraud", "version": "", "reason": "x"},
        {"model": "fraud", "version": True, "reason": "x"},
        {"model": "fraud", "version": -1, "reason": "x"},
    ],
)
def test_a_bad_start_speaks_of_the_request_not_of_an_event(payload: Any) -> None:
    with pytest.raises(InvalidInput) as err:
        start_request(payload)
    assert "event" not in err.value.message and "ModelVersion" not in err.value.message


@pytest.mark.parametrize("reason", ["two\nlines", "tab\there", "nul\x00", "sep\u2028arator"])
def test_a_reason_must_be_one_line_of_printable_text(reason: str) -> None:
    with pytest.raises(InvalidInput, match="one line of printable"):
        action_request({"reason": reason, "actor": "ana"})


def test_a_reason_with_brackets_and_unicode_is_kept_as_written() -> None:
    assert action_request({"reason": " p99 [/] über 500 ms "}).reason == "p99 [/] über 500 ms"
