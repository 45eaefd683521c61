"""The workspace listing an endpoint read takes its split from, and FakeEndpoints counting ARM
reads by the same rules as the adapter."""

from __future__ import annotations

import pytest

from shared.azure.endpoint_listing import Listing
from shared.fakes.endpoints import FakeEndpoints


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class Counted:
    """A listing of two endpoints whose entries say how many listings were taken."""

    def __init__(self, ttl: float = 10.0) -> None:
        self.clock = Clock()
        self.taken = 0
        self.listing: Listing[int] = Listing(ttl, self.clock)

    def refresh(self) -> dict[str, int]:
        self.taken += 1
        return {"Ep-A": self.taken, "ep-b": self.taken}

    def get(self, key: str) -> int | None:
        return self.listing.get(key, self.refresh)


def test_entries_are_served_from_one_listing_within_its_ttl_case_insensitively() -> None:
    c = Counted()
    for key in ("ep-a", "EP-B", "ep-A"):
        assert c.get(key) == 1
        c.clock.t += 3
    assert c.taken == 1


def test_a_listing_older_than_its_ttl_is_taken_again() -> None:
    c = Counted()
    c.get("ep-a")
    c.clock.t += 10
    assert c.get("ep-a") == 2


def test_a_key_changed_since_the_listing_was_taken_is_listed_again_and_only_it() -> None:
    c = Counted()
    c.get("ep-a")
    c.clock.t += 1
    c.listing.changed("EP-A")
    c.clock.t += 1
    assert (c.get("ep-b"), c.taken) == (1, 1)
    assert c.get("ep-a") == 2
    assert c.get("ep-a") == 2


def test_a_key_the_listing_lacks_is_listed_again_and_then_is_none() -> None:
    c = Counted()
    c.get("ep-a")
    assert c.get("ep-new") is None
    assert c.taken == 2


def test_negative_ttl_is_refused() -> None:
    with pytest.raises(ValueError):
        Listing(-1.0)


def test_fake_counts_an_endpoint_get_and_a_deployment_list_per_read_by_default() -> None:
    fake = FakeEndpoints()
    fake.add_endpoint("ep", {"blue": "azureml:m:1"}, {"blue": 100})
    fake.get_endpoint("ep")
    fake.get_endpoint("ep")
    assert fake.arm_reads == 4


def test_fake_counts_a_deployment_list_per_read_and_a_read_per_100_listed_endpoints() -> None:
    fake = FakeEndpoints(listing_ttl_s=60.0)
    for i in range(150):
        fake.add_endpoint(f"ep{i}", {"blue": "azureml:m:1"}, {"blue": 100})
    for i in range(150):
        fake.get_endpoint(f"ep{i}")
    assert fake.arm_reads == 150 + 2


def test_fake_counts_a_new_listing_after_a_traffic_update() -> None:
    fake = FakeEndpoints(listing_ttl_s=60.0)
    fake.add_endpoint("ep", {"blue": "azureml:m:1", "green": "azureml:m:2"}, {"blue": 100})
    fake.get_endpoint("ep")
    fake.set_traffic("ep", {"blue": 90, "green": 10}, {})
    before = fake.arm_reads
    fake.get_endpoint("ep")
    assert (before, fake.arm_reads - before) == (2 + 2, 2)


def test_clocked_fake_counts_arm_reads_with_its_listing_on_the_listing_clock() -> None:
    from shared.clock import FakeClock
    from shared.fakes.clocked_endpoints import ClockedEndpoints

    seconds = Clock()
    fake = ClockedEndpoints(FakeClock(), listing_ttl_s=20.0, listing_clock=seconds)
    for i in range(3):
        fake.add_endpoint(f"ep{i}", {"blue": "azureml:m:1"}, {"blue": 100})
    for i in range(3):
        fake.get_endpoint(f"ep{i}")
    assert fake.arm_reads == 3 + 1
    seconds.t += 20
    fake.get_endpoint("ep0")
    assert fake.arm_reads == 4 + 2


def test_a_ticks_reads_share_a_listing_taken_since_the_tick_started_even_with_no_ttl() -> None:
    c = Counted(ttl=0.0)
    tick = c.clock.t
    assert [c.listing.get(k, c.refresh, since=tick) for k in ("ep-a", "ep-b")] == [1, 1]
    c.clock.t += 25  # a long tick: still its own listing
    assert c.listing.get("ep-a", c.refresh, since=tick) == 1
    assert c.taken == 1


def test_a_listing_taken_before_the_tick_started_is_not_used_by_it() -> None:
    c = Counted(ttl=0.0)
    assert c.listing.get("ep-a", c.refresh, since=c.clock.t) == 1
    c.clock.t += 60
    assert c.listing.get("ep-a", c.refresh, since=c.clock.t) == 2  # the next tick lists again


def test_reads_outside_a_tick_never_use_its_listing() -> None:
    c = Counted(ttl=0.0)
    c.listing.get("ep-a", c.refresh, since=c.clock.t)
    assert c.get("ep-a") == 2 and c.taken == 2


def test_a_key_changed_during_the_tick_is_listed_again_for_it() -> None:
    c = Counted(ttl=0.0)
    tick = c.clock.t
    c.listing.get("ep-a", c.refresh, since=tick)
    c.clock.t += 1
    c.listing.changed("ep-a")
    c.clock.t += 1
    assert c.listing.get("ep-a", c.refresh, since=tick) == 2


def test_fake_counts_one_arm_read_per_endpoint_and_one_listing_for_a_tick() -> None:
    fake = FakeEndpoints()
    for name in ("a", "b", "c"):
        fake.add_endpoint(name, {"blue": "azureml:m:1"}, {"blue": 100})
    tick = 0.0
    for name in ("a", "b", "c"):
        fake.get_endpoint(name, listed_since=tick)
    assert fake.arm_reads == 3 + 1
