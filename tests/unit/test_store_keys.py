"""Table key encoding of the rollout store: reversible, collision free, never a forbidden
character, within the key length limit."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared import store_layout as su
from shared.errors import InvalidInput

FORBIDDEN = set("/\\#?")


def _allowed(key: str) -> bool:
    return not any(ch in FORBIDDEN or unicodedata.category(ch) == "Cc" for ch in key)


@given(st.text())
def test_encoded_keys_round_trip(value: str) -> None:
    assert su.decode_key(su.encode_key(value)) == value


@given(st.text())
def test_encoded_keys_hold_no_forbidden_or_control_characters(value: str) -> None:
    assert _allowed(su.encode_key(value))


@given(st.text())
def test_every_escape_in_an_encoded_key_is_followed_by_two_hex_digits(value: str) -> None:
    encoded = su.encode_key(value)
    assert encoded.count("~") == len(re.findall(r"~[0-9A-F]{2}", encoded))
    assert encoded != su.IGNORED_PARTITION


@given(st.text(), st.text())
def test_different_names_never_share_a_key(a: str, b: str) -> None:
    if a != b:
        assert su.encode_key(a) != su.encode_key(b)


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("fraud-scoring", "fraud-scoring"),
        ("a/b", "a~2Fb"),
        ("a\\b#c?d", "a~5Cb~23c~3Fd"),
        ("50%|~", "50~25~7C~7E"),
        ("tab\there\x7f\x85", "tab~09here~7F~85"),
        ("Ünïcödé", "Ünïcödé"),
    ],
)
def test_known_encodings(raw: str, encoded: str) -> None:
    assert su.encode_key(raw) == encoded


def test_keys_are_case_sensitive() -> None:
    assert su.partition_key("Ep") != su.partition_key("ep")


@pytest.mark.parametrize("bad", ["~", "~4", "~zz", "a~2g"])
def test_malformed_keys_are_refused_when_decoded(bad: str) -> None:
    with pytest.raises(InvalidInput):
        su.decode_key(bad)


def test_a_name_whose_key_exceeds_512_characters_is_refused() -> None:
    assert su.partition_key("e" * 512)
    with pytest.raises(InvalidInput, match="too long"):
        su.partition_key("e" * 513)
    with pytest.raises(InvalidInput, match="too long"):
        su.partition_key("/" * 171)  # 513 characters once escaped


@pytest.mark.parametrize("empty", ["", None, 7])
def test_empty_or_non_string_names_are_refused(empty: object) -> None:
    with pytest.raises(InvalidInput):
        su.partition_key(empty)  # type: ignore[arg-type]


def test_decision_rows_sort_by_seq() -> None:
    rows = [su.decision_row("r", seq) for seq in (10, 2, 0, su.MAX_SEQ)]
    assert sorted(rows) == [su.decision_row("r", s) for s in (0, 2, 10, su.MAX_SEQ)]


@pytest.mark.parametrize("seq", [-1, 2**31, 10**10, True, 1.5])
def test_decision_seq_out_of_range_is_refused(seq: object) -> None:
    with pytest.raises(InvalidInput):
        su.decision_row("r", seq)  # type: ignore[arg-type]


@given(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20))
def test_decision_prefix_range_holds_only_that_rollouts_rows(a: str, b: str) -> None:
    low, high = su.prefix_range(su.decision_prefix(a))
    assert low <= su.decision_row(a, 5) < high
    if a != b:
        assert not low <= su.decision_row(b, 5) < high
