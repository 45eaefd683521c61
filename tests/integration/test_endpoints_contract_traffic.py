"""The EndpointControl contract for traffic and mirror updates, refused splits and deletions."""

from __future__ import annotations

import time

import pytest

from shared.errors import AzureRuleViolation, NotFound, Superseded
from tests.integration.endpoints_world import World, create

pytestmark = pytest.mark.integration


def test_traffic_and_mirror_are_set_in_one_update(world: World, ep: str) -> None:
    create(world, ep, "fraud-v2")
    world.control.set_traffic(ep, {"blue": 100}, {"fraud-v2": 20})
    info = world.control.get_endpoint(ep)
    assert (info.live_traffic(), info.live_mirror()) == ({"blue": 100}, {"fraud-v2": 20})
    # Going live drops the mirror in the same update.
    world.control.set_traffic(ep, {"blue": 75, "fraud-v2": 25}, {})
    info = world.control.get_endpoint(ep)
    assert (info.live_traffic(), info.live_mirror()) == ({"blue": 75, "fraud-v2": 25}, {})


def test_a_ticks_listed_read_matches_a_fresh_read_and_sees_its_own_traffic_update(
    world: World, ep: str
) -> None:
    create(world, ep, "fraud-v2")
    tick = time.monotonic()
    listed = world.control.get_endpoint(ep, listed_since=tick)
    fresh = world.control.get_endpoint(ep)
    assert (listed.live_traffic(), listed.live_mirror(), sorted(listed.deployments)) == (
        fresh.live_traffic(),
        fresh.live_mirror(),
        sorted(fresh.deployments),
    )
    world.control.set_traffic(ep, {"blue": 90, "fraud-v2": 10}, {})
    again = world.control.get_endpoint(ep, listed_since=tick)  # the same tick
    assert again.live_traffic() == {"blue": 90, "fraud-v2": 10}


@pytest.mark.parametrize(
    "traffic,mirror",
    [
        ({"blue": 90}, {}),
        ({"blue": 100}, {"fraud-v2": 60}),
        ({"blue": 50, "fraud-v2": 50}, {"fraud-v2": 10}),
        ({"blue": 90, "ghost": 10}, {}),
        ({"blue": 100}, {"ghost": 10}),
    ],
    ids=["sum-not-100", "mirror-over-50", "mirror-to-live", "unknown-live", "unknown-mirror"],
)
def test_splits_azure_refuses_are_rule_violations_and_change_nothing(
    world: World, ep: str, traffic: dict[str, int], mirror: dict[str, int]
) -> None:
    create(world, ep, "fraud-v2")
    with pytest.raises(AzureRuleViolation):
        world.control.set_traffic(ep, traffic, mirror)
    info = world.control.get_endpoint(ep)
    assert (info.live_traffic(), info.live_mirror()) == ({"blue": 100}, {})


def test_deployment_at_zero_is_deleted_and_deleting_again_is_harmless(
    world: World, ep: str
) -> None:
    create(world, ep, "fraud-v2")
    world.control.delete_deployment(ep, "fraud-v2")
    world.control.delete_deployment(ep, "fraud-v2")
    info = world.gone(ep, "fraud-v2")
    world.control.delete_deployment(ep, "fraud-v2")
    assert info.live_traffic() == {"blue": 100}


def test_deleting_a_deployment_with_traffic_is_refused(world: World, ep: str) -> None:
    create(world, ep, "fraud-v2")
    world.control.set_traffic(ep, {"blue": 100}, {"fraud-v2": 10})
    for name in ("blue", "fraud-v2"):
        with pytest.raises(AzureRuleViolation):
            world.control.delete_deployment(ep, name)
    assert set(world.control.get_endpoint(ep).deployments) == {"blue", "fraud-v2"}


def test_a_split_no_longer_wanted_is_not_sent_and_changes_nothing(world: World, ep: str) -> None:
    create(world, ep, "fraud-v2")
    with pytest.raises(Superseded):
        world.control.set_traffic(ep, {"blue": 90, "fraud-v2": 10}, {}, lambda: False)
    assert world.control.get_endpoint(ep).live_traffic() == {"blue": 100}
    world.control.set_traffic(ep, {"blue": 90, "fraud-v2": 10}, {}, lambda: True)
    assert world.control.get_endpoint(ep).live_traffic() == {"blue": 90, "fraud-v2": 10}


def test_a_split_already_live_goes_through_without_the_question(world: World, ep: str) -> None:
    create(world, ep, "fraud-v2")

    def never() -> bool:
        raise AssertionError("asked though nothing would be sent")

    world.control.set_traffic(ep, {"blue": 100}, {}, never)
    assert world.control.get_endpoint(ep).live_traffic() == {"blue": 100}


def test_the_split_alone_reads_as_the_endpoint_does_fresh_and_from_a_ticks_listing(
    world: World, ep: str
) -> None:
    create(world, ep, "fraud-v2")
    world.control.set_traffic(ep, {"blue": 80, "fraud-v2": 20}, {})
    tick = time.monotonic()
    info = world.control.get_endpoint(ep)
    want = (info.live_traffic(), info.live_mirror())
    assert world.control.get_split(ep) == want
    assert world.control.get_split(ep, listed_since=tick) == want
    world.control.set_traffic(ep, {"blue": 100}, {"fraud-v2": 10})
    assert world.control.get_split(ep, listed_since=tick) == ({"blue": 100}, {"fraud-v2": 10})


def test_the_split_of_an_unknown_endpoint_is_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        world.control.get_split("no-such-endpoint")
    with pytest.raises(NotFound):
        world.control.get_split("no-such-endpoint", listed_since=time.monotonic())


def test_a_traffic_update_says_its_split_is_live_when_azure_reported_it_done(
    world: World, ep: str
) -> None:
    """The adapter waits for the update's operation (azure-core's poller) within
    ``traffic_wait_s``: True means the split reads back live at once."""
    create(world, ep, "fraud-v2")
    assert world.control.set_traffic(ep, {"blue": 90, "fraud-v2": 10}, {}) is True
    assert world.control.get_endpoint(ep).live_traffic() == {"blue": 90, "fraud-v2": 10}
    assert world.control.set_traffic(ep, {"blue": 90, "fraud-v2": 10}, {}) is True  # already
