"""ClockedEndpoints: provisioning and deletion follow the clock; Azure's rules as elsewhere."""

from __future__ import annotations

import pytest

from shared.clock import FakeClock
from shared.effects import CreateDeployment
from shared.errors import AzureRuleViolation, TransientUpstreamError, UpstreamError
from shared.fakes.clocked_endpoints import ClockedEndpoints
from shared.model import ModelRef

NEW = ModelRef("fraud", "2")


def world(**kw: float) -> tuple[FakeClock, ClockedEndpoints]:
    clock = FakeClock()
    eps = ClockedEndpoints(clock, provisioning_s=300, deletion_s=120, **kw)
    eps.add_endpoint("fraud", {"blue": "azureml:fraud:1"}, {"blue": 100})
    return clock, eps


def state(eps: ClockedEndpoints, name: str) -> str | None:
    dep = eps.get_endpoint("fraud").deployments.get(name)
    return None if dep is None else dep.provisioning_state


def test_a_create_is_creating_until_the_provisioning_time_has_passed() -> None:
    clock, eps = world()
    eps.create_deployment("fraud", CreateDeployment("fraud-v2", "blue", NEW))
    clock.advance(299)
    assert state(eps, "fraud-v2") == "Creating"
    clock.advance(1)
    assert state(eps, "fraud-v2") == "Succeeded"


def test_reads_alone_never_finish_a_create() -> None:
    _, eps = world()
    eps.create_deployment("fraud", CreateDeployment("fraud-v2", "blue", NEW))
    for _ in range(20):
        assert state(eps, "fraud-v2") == "Creating"


def test_a_listed_model_fails_provisioning_with_logs() -> None:
    clock, eps = world()
    eps.fail_provisioning.add("fraud:2")
    eps.create_deployment("fraud", CreateDeployment("fraud-v2", "blue", NEW))
    clock.advance(300)
    assert state(eps, "fraud-v2") == "Failed"
    assert "cannot load model azureml:fraud:2" in eps.get_logs("fraud", "fraud-v2")


def test_a_failed_deployment_created_again_with_the_same_model_provisions_anew() -> None:
    """As the adapter and FakeEndpoints: a Failed (or Canceled) deployment is put again and
    Azure provisions it anew; it is not taken as already there."""
    clock, eps = world()
    eps.fail_provisioning.add("fraud:2")
    eps.create_deployment("fraud", CreateDeployment("fraud-v2", "blue", NEW))
    clock.advance(300)
    assert state(eps, "fraud-v2") == "Failed"
    eps.fail_provisioning.clear()  # the cause went away (a quota freed, a blip)
    eps.create_deployment("fraud", CreateDeployment("fraud-v2", "blue", NEW))
    assert state(eps, "fraud-v2") == "Updating"
    clock.advance(300)
    assert state(eps, "fraud-v2") == "Succeeded"


def test_a_refused_create_raises_azures_code_and_creates_nothing() -> None:
    _, eps = world()
    eps.refuse_create["fraud:2"] = "OutOfQuota"
    with pytest.raises(UpstreamError) as info:
        eps.create_deployment("fraud", CreateDeployment("fraud-v2", "blue", NEW))
    assert info.value.code == "OutOfQuota"
    assert state(eps, "fraud-v2") is None


def test_a_deletion_takes_the_deletion_time() -> None:
    clock, eps = world()
    eps.create_deployment("fraud", CreateDeployment("fraud-v2", "blue", NEW))
    clock.advance(300)
    eps.delete_deployment("fraud", "fraud-v2")
    clock.advance(119)
    assert state(eps, "fraud-v2") == "Deleting"
    clock.advance(1)
    assert state(eps, "fraud-v2") is None


def test_splits_are_checked_by_azures_rules() -> None:
    _, eps = world()
    with pytest.raises(AzureRuleViolation):
        eps.set_traffic("fraud", {"blue": 90}, {})
    with pytest.raises(AzureRuleViolation):
        eps.delete_deployment("fraud", "blue")


def test_traffic_to_a_deployment_that_finished_deleting_is_kept_in_the_snapshot() -> None:
    clock, eps = world()
    eps.create_deployment("fraud", CreateDeployment("fraud-v2", "blue", NEW))
    clock.advance(300)
    eps.set_traffic("fraud", {"fraud-v2": 100}, {})
    eps.delete_deployment("fraud", "blue")
    eps.set_traffic("fraud", {"blue": 100}, {})  # Deleting still exists: Azure's rules allow it
    clock.advance(120)
    snap = eps.snapshot("fraud")
    assert "blue" not in snap.deployments
    assert snap.traffic["blue"] == 100


def test_the_change_hook_runs_before_a_change_and_before_a_state_finishes() -> None:
    clock, eps = world()
    seen: list[str] = []
    eps.before_change = lambda ep: seen.append(f"{ep}:{sorted(eps.peek(ep).traffic.items())}")
    eps.create_deployment("fraud", CreateDeployment("fraud-v2", "blue", NEW))
    clock.advance(300)
    eps.get_endpoint("fraud")
    eps.set_traffic("fraud", {"blue": 90, "fraud-v2": 10}, {})
    assert seen[-1] == "fraud:[('blue', 100), ('fraud-v2', 0)]"
    assert len(seen) == 3


def test_a_scripted_fault_fails_the_next_calls_of_that_operation_only() -> None:
    _, eps = world()
    eps.fail_calls["set_traffic"] = 1
    eps.get_endpoint("fraud")
    with pytest.raises(TransientUpstreamError):
        eps.set_traffic("fraud", {"blue": 100}, {})
    eps.set_traffic("fraud", {"blue": 100}, {})
    assert eps.fail_calls["set_traffic"] == 0


def test_a_traffic_update_that_takes_time_lands_later_and_holds_the_endpoint_meanwhile() -> None:
    """As the emulator: not landed within the call, the split before it read until it lands,
    and a create, a scale or another update of the endpoint refused as busy (409) meanwhile;
    the same update asked again is still landing."""
    from shared.errors import AzureBusy

    clock, eps = world()
    eps.traffic_s = 90
    eps.create_deployment("fraud", CreateDeployment("fraud-v2", "blue", NEW))
    clock.advance(300)
    assert eps.set_traffic("fraud", {"blue": 90, "fraud-v2": 10}, {}) is False
    assert eps.get_endpoint("fraud").live_traffic() == {"blue": 100}
    assert eps.set_traffic("fraud", {"blue": 90, "fraud-v2": 10}, {}) is False  # the same one
    with pytest.raises(AzureBusy):
        eps.set_traffic("fraud", {"blue": 50, "fraud-v2": 50}, {})
    with pytest.raises(AzureBusy):
        eps.scale_deployment("fraud", "fraud-v2", 2)
    with pytest.raises(AzureBusy):
        eps.create_deployment("fraud", CreateDeployment("fraud-v3", "blue", ModelRef("fraud", "3")))
    clock.advance(90)
    assert eps.get_endpoint("fraud").live_traffic() == {"blue": 90, "fraud-v2": 10}
    assert eps.set_traffic("fraud", {"blue": 90, "fraud-v2": 10}, {}) is True  # nothing to send


def test_a_scale_of_a_deployment_listed_to_fail_ends_failed_at_the_new_count() -> None:
    """The new instances load the model as a create's do: listed to fail (by model or name),
    the scale ends Failed at the new count, as on the emulator; otherwise it succeeds."""
    clock, eps = world()
    eps.create_deployment("fraud", CreateDeployment("fraud-v2", "blue", NEW))
    clock.advance(300)
    eps.fail_provisioning.add("fraud-v2")
    eps.scale_deployment("fraud", "fraud-v2", 3)
    clock.advance(300)
    dep = eps.get_endpoint("fraud").deployments["fraud-v2"]
    assert (dep.provisioning_state, dep.instance_count) == ("Failed", 3)
    eps.fail_provisioning.clear()
    eps.scale_deployment("fraud", "fraud-v2", 2)
    clock.advance(300)
    assert state(eps, "fraud-v2") == "Succeeded"
