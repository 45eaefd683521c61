"""The EndpointControl contract, fakes and emulator: reads, creates, logs, scaling, outages."""

from __future__ import annotations

import uuid

import pytest

from shared.effects import CreateDeployment
from shared.errors import AzureBusy, AzureRuleViolation, NotFound, TransientUpstreamError
from tests.integration.endpoints_world import BROKEN, GOOD, NEW, World, create

pytestmark = pytest.mark.integration


# ------------------------------------------------------------------ the contract


def test_unknown_endpoint_is_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        world.control.get_endpoint("ep-" + uuid.uuid4().hex[:8])


def test_endpoint_reports_traffic_mirror_and_deployments(world: World, ep: str) -> None:
    info = world.control.get_endpoint(ep)
    assert info.name == ep
    assert info.live_traffic() == {"blue": 100}
    assert info.live_mirror() == {}
    blue = info.deployments["blue"]
    assert (blue.provisioning_state, blue.model, blue.instance_count) == (
        "Succeeded",
        GOOD.asset_id,
        1,
    )


def test_created_deployment_provisions_with_the_new_model_at_zero_traffic(
    world: World, ep: str
) -> None:
    info = create(world, ep, "fraud-v2")
    dep = info.deployments["fraud-v2"]
    assert (dep.provisioning_state, dep.model, dep.instance_count) == ("Succeeded", NEW.asset_id, 1)
    assert info.traffic.get("fraud-v2", 0) == 0
    assert info.live_traffic() == {"blue": 100}


def test_instance_count_override_is_applied(world: World, ep: str) -> None:
    info = create(world, ep, "fraud-v2", instance_count=2)
    assert info.deployments["fraud-v2"].instance_count == 2


def test_create_is_idempotent_for_the_same_model(world: World, ep: str) -> None:
    """Asking again for a deployment that has the model changes nothing."""
    create(world, ep, "fraud-v2")
    world.control.create_deployment(ep, CreateDeployment("fraud-v2", "blue", NEW))
    assert world.control.get_endpoint(ep).deployments["fraud-v2"].provisioning_state == "Succeeded"


def test_right_after_its_create_a_deployment_may_be_missing_and_asking_again_is_busy(
    world: World, ep: str
) -> None:
    """Azure answers 404 for a new deployment for a while (azure-dev issue 4037) and 409 to a
    second create while the first one runs: AzureBusy, transient, nothing changed."""
    world.control.create_deployment(ep, CreateDeployment("fraud-v2", "blue", NEW))
    assert "fraud-v2" not in world.control.get_endpoint(ep).deployments
    with pytest.raises(AzureBusy):
        world.control.create_deployment(ep, CreateDeployment("fraud-v2", "blue", NEW))
    info = world.settle(ep, "fraud-v2")
    dep = info.deployments["fraud-v2"]
    assert (dep.provisioning_state, dep.model) == ("Succeeded", NEW.asset_id)


def test_create_from_an_unknown_source_is_not_found(world: World, ep: str) -> None:
    with pytest.raises(NotFound):
        world.control.create_deployment(ep, CreateDeployment("fraud-v2", "nosuch", NEW))
    assert "fraud-v2" not in world.control.get_endpoint(ep).deployments


def test_invalid_deployment_name_is_refused_and_creates_nothing(world: World, ep: str) -> None:
    with pytest.raises(AzureRuleViolation):
        world.control.create_deployment(ep, CreateDeployment("2-bad_name", "blue", NEW))
    assert set(world.control.get_endpoint(ep).deployments) == {"blue"}


def test_failed_provisioning_is_reported_with_logs(world: World, ep: str) -> None:
    info = create(world, ep, "fraud-v3", model=BROKEN)
    assert info.deployments["fraud-v3"].provisioning_state == "Failed"
    logs = world.control.get_logs(ep, "fraud-v3", lines=50)
    assert logs.strip()
    assert len(logs.splitlines()) <= 50


def test_failed_provisioning_reports_azures_error_code_for_the_crashed_container(
    world: World, ep: str
) -> None:
    create(world, ep, "fraud-v3", model=BROKEN)
    error = world.control.provisioning_error(ep, "fraud-v3")
    assert error is not None
    # ResourceNotReady: the scoring container crashed (how-to-troubleshoot-online-endpoints)
    assert error.code == "ResourceNotReady"
    assert "crashed" in error.message


def test_a_deployment_that_provisioned_has_no_error(world: World, ep: str) -> None:
    create(world, ep, "fraud-v2", model=NEW)
    assert world.control.provisioning_error(ep, "fraud-v2") is None
    assert world.control.provisioning_error(ep, "blue") is None


def test_the_error_of_an_unknown_deployment_is_not_found(world: World, ep: str) -> None:
    with pytest.raises(NotFound):
        world.control.provisioning_error(ep, "nosuch")


def test_logs_of_an_unknown_deployment_are_not_found(world: World, ep: str) -> None:
    with pytest.raises(NotFound):
        world.control.get_logs(ep, "nosuch")


def test_an_outage_is_a_transient_upstream_error(world: World, ep: str) -> None:
    with world.outage(), pytest.raises(TransientUpstreamError):
        world.control.get_endpoint(ep)
    assert world.control.get_endpoint(ep).live_traffic() == {"blue": 100}


# ------------------------------------------------------------------ scaling


def test_scaling_sets_the_instance_count_updating_then_succeeded_and_traffic_stays(
    world: World, ep: str
) -> None:
    """A scale is a create-or-update with the new count: the count reads back at once, the
    deployment Updating until the instances run (then Succeeded), serving all along."""
    create(world, ep, "fraud-v2")
    world.control.scale_deployment(ep, "fraud-v2", 3)
    dep = world.control.get_endpoint(ep).deployments["fraud-v2"]
    assert dep.instance_count == 3 and dep.provisioning_state in ("Updating", "Succeeded")
    info = world.settle(ep, "fraud-v2")
    dep = info.deployments["fraud-v2"]
    assert (dep.provisioning_state, dep.instance_count, dep.model) == ("Succeeded", 3, NEW.asset_id)
    assert info.live_traffic() == {"blue": 100}


def test_scaling_to_the_count_it_has_changes_nothing(world: World, ep: str) -> None:
    create(world, ep, "fraud-v2")
    world.control.scale_deployment(ep, "fraud-v2", 1)
    dep = world.control.get_endpoint(ep).deployments["fraud-v2"]
    assert (dep.provisioning_state, dep.instance_count) == ("Succeeded", 1)


def test_scaling_an_unknown_deployment_is_not_found(world: World, ep: str) -> None:
    with pytest.raises(NotFound):
        world.control.scale_deployment(ep, "nope", 2)
