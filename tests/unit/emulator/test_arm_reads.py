"""The emulator's ARM reads as Azure's: a read bucket per principal (header and 429) and
OnlineEndpoints_List paged by ``count`` and ``$skip``."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request

from emulator.arm_model import ReadBucket
from emulator.arm_routes import page_of
from emulator.errors import ArmError


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_bucket_counts_down_refuses_when_empty_and_refills_at_its_rate() -> None:
    clock = Clock()
    bucket = ReadBucket(3, 25.0, clock)
    assert [bucket.take()[:2] for _ in range(3)] == [(True, 2), (True, 1), (True, 0)]
    allowed, left, wait = bucket.take()
    assert (allowed, left) == (False, 0) and wait == pytest.approx(0.04)
    clock.t += 0.04
    assert bucket.take()[0] is True
    clock.t += 100
    assert bucket.take()[1] == 2  # never above its size
    assert bucket.reads == 5


def _request(query: str) -> object:
    return make_mocked_request("GET", "/x/onlineEndpoints?api-version=2024-01-01" + query)


def test_a_page_holds_count_items_and_links_the_next_with_the_same_query() -> None:
    items = list(range(5))
    first = page_of(_request("&count=2"), items)  # type: ignore[arg-type]
    assert first["value"] == [0, 1]
    assert "api-version=2024-01-01" in first["nextLink"]
    assert "count=2" in first["nextLink"] and "$skip=2" in first["nextLink"]
    last = page_of(_request("&count=2&$skip=4"), items)  # type: ignore[arg-type]
    assert last == {"value": [4]}


def test_without_count_a_page_holds_the_default_page_size() -> None:
    body = page_of(_request(""), list(range(150)))  # type: ignore[arg-type]
    assert len(body["value"]) == 100 and "nextLink" in body


def test_a_bad_count_is_a_bad_request() -> None:
    with pytest.raises(ArmError):
        page_of(_request("&count=0"), [1])  # type: ignore[arg-type]
