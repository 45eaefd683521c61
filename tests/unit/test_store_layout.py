"""The rollout store's shared layout: JSON chunking and the entity size limits."""

from __future__ import annotations

import pytest

from shared import store_layout as su
from shared.errors import InvalidInput
from tests.unit.store_rows import decision


def test_large_json_is_split_into_chunks_of_at_most_32000_characters() -> None:
    payload = {"logs": "é" * 20_000 + "x" * 50_000}  # 170K characters as ASCII JSON
    props = su.json_properties("Data", payload, "test")
    chunks = [props[f"Data{i}"] for i in range(props["DataN"])]
    assert props["DataN"] == 6 and all(len(c) <= su.CHUNK_CHARS for c in chunks)
    assert all(c.isascii() for c in chunks)
    assert su.load_json(props, "Data") == payload


def test_missing_json_reads_as_none() -> None:
    assert su.load_json(su.json_properties("Data", None, "test"), "Data") is None


def test_a_missing_chunk_is_reported_as_malformed() -> None:
    props = su.json_properties("Data", {"logs": "x" * 40_000}, "test")
    del props["Data1"]
    with pytest.raises(InvalidInput, match="malformed"):
        su.load_json(props, "Data")


def test_entity_size_follows_the_table_storage_formula() -> None:
    entity = {"PartitionKey": "pk", "RowKey": "rk", "Name": "abc", "On": True, "N": 7}
    # 4 + 2*4 + (8 + 2*4 + 4 + 2*3) + (8 + 2*2 + 1) + (8 + 2*1 + 4)
    assert su.entity_bytes(entity) == 4 + 8 + 26 + 13 + 14


def test_an_entity_over_1_mib_is_refused_with_its_size() -> None:
    with pytest.raises(InvalidInput, match="too large") as info:
        su.decision_entity("ep", decision(1, logs="x" * 530_000))
    assert info.value.details["bytes"] > su.MAX_ENTITY_BYTES
