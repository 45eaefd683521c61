"""MLEndpointControl alone on the emulator: its retries, scaled workers, ARM reads and the pacer."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from emulator.testing import app_settings
from shared.azure import retry
from shared.errors import AutocanaryError, TransientUpstreamError
from tests.integration.endpoints_world import FAST, emulator_world

pytestmark = pytest.mark.integration


# ------------------------------------------------------------------ the adapter only


def test_adapter_is_the_only_retry_loop_and_rides_out_a_blip(emulator_conn: Any) -> None:
    """With our retries off one throttled answer fails the call (the SDK's own retry policy is
    off too); with them on, two throttled answers in a row are ridden out."""
    from emulator.testing import admin_request
    from shared.azure.credentials import build_credential
    from shared.azure.endpoints import MLEndpointControl

    world = emulator_world(emulator_conn)
    name = "ep-" + uuid.uuid4().hex[:8]
    world.make_endpoint(name)
    settings = app_settings(emulator_conn)
    single = MLEndpointControl(settings, build_credential(settings), retry_policy=retry.NO_RETRY)

    def throttle(count: int) -> None:
        fault = {"kind": "429", "rate": 1.0, "count": count, "retry_after": 0}
        admin_request(emulator_conn, "PUT", "faults/arm", fault)

    try:
        throttle(1)
        with pytest.raises(TransientUpstreamError) as info:
            single.get_endpoint(name)
        assert info.value.details["status"] == 429
        admin_request(emulator_conn, "DELETE", "faults/arm")
        throttle(2)
        assert world.control.get_endpoint(name).live_traffic() == {"blue": 100}
        assert admin_request(emulator_conn, "GET", "faults")["arm"][0]["remaining"] == 0
    finally:
        admin_request(emulator_conn, "DELETE", "faults/arm")


def test_a_scaled_deployment_runs_that_many_workers_on_the_emulator(emulator_conn: Any) -> None:
    from emulator.testing import admin_request

    world = emulator_world(emulator_conn)
    ep = "ep-" + uuid.uuid4().hex[:8]
    world.make_endpoint(ep)
    world.control.scale_deployment(ep, "blue", 2)
    world.settle(ep, "blue")
    state = admin_request(emulator_conn, "GET", "state")
    (endpoint,) = [e for e in state["endpoints"] if e["name"] == ep]
    (blue,) = [d for d in endpoint["deployments"] if d["name"] == "blue"]
    assert (blue["instance_count"], blue["ready_instances"]) == (2, 2)


def test_a_deployment_of_a_registry_model_scales_with_its_model_as_read(
    emulator_conn: Any,
) -> None:
    """The owners' deployment may run a registry's model (azureml://registries/...): a scale
    (a rollback giving it its instances back) sends it back with that model, not refused."""
    from emulator.samples import MODELS_DIR
    from emulator.testing import admin_request, create_endpoint, make_deployment, set_traffic

    world = emulator_world(emulator_conn)
    ep = "ep-" + uuid.uuid4().hex[:8]
    version = uuid.uuid4().hex[:6]
    ref = f"azureml://registries/shared-models/models/fraud/versions/{version}"
    body = {"name": "fraud", "version": version, "path": str(MODELS_DIR / "fraud-v1")}
    admin_request(emulator_conn, "POST", "models", {**body, "registry": "shared-models"})
    ml = world.control._ml()
    create_endpoint(ml, ep)
    ml.online_deployments.begin_create_or_update(make_deployment(ep, "blue", ref)).result()
    set_traffic(ml, ep, {"blue": 100})
    world.control.scale_deployment(ep, "blue", 2)
    info = world.settle(ep, "blue")
    blue = info.deployments["blue"]
    assert (blue.provisioning_state, blue.instance_count, blue.model) == ("Succeeded", 2, ref)
    assert info.live_traffic() == {"blue": 100}


class _ObservingPacer(retry.Pacer):
    """A pacer recording the reads-left header of every ARM answer it is fed."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str | None] = []

    def observe(self, headers: Any) -> None:
        self.seen.append(None if headers is None else headers.get(retry.ARM_READS_HEADER))
        super().observe(headers)


def test_an_endpoint_read_is_two_arm_reads_or_one_with_a_listing_and_feeds_the_pacer(
    emulator_conn: Any,
) -> None:
    """A read sends the endpoint GET and the deployment list; with a listing of the workspace,
    only the deployment list. Every answer carries x-ms-ratelimit-remaining-subscription-reads
    to the pacer."""
    from shared.azure.credentials import build_credential
    from shared.azure.endpoints import MLEndpointControl

    world = emulator_world(emulator_conn)
    name = "ep-" + uuid.uuid4().hex[:8]
    world.make_endpoint(name)
    settings = app_settings(emulator_conn)
    pacer = _ObservingPacer()
    fresh = MLEndpointControl(settings, build_credential(settings), retry_policy=FAST, pacer=pacer)
    fresh.get_endpoint(name)  # the client's first use may read more (the workspace)
    before = len(pacer.seen)
    assert fresh.get_endpoint(name).live_traffic() == {"blue": 100}
    assert len(pacer.seen) - before == 2
    listed = MLEndpointControl(
        settings, build_credential(settings), retry_policy=FAST, pacer=pacer, listing_ttl_s=60
    )
    listed.get_endpoint(name)
    before = len(pacer.seen)
    assert listed.get_endpoint(name).live_traffic() == {"blue": 100}
    assert len(pacer.seen) - before == 1
    assert all(value is not None and value.isdigit() for value in pacer.seen)


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (
            {
                "status": 400,
                "code": "BadRequest",
                "detail_code": "InferencingClientCreateDeploymentFailed",
                "message": "Not enough quota available for Standard_DS3_v2",
            },
            "InferencingClientCreateDeploymentFailed",
        ),
        (
            {"status": 409, "code": "MissingSubscriptionRegistration", "message": "register"},
            "MissingSubscriptionRegistration",
        ),
    ],
)
def test_a_scale_azure_refuses_for_good_is_a_permanent_error_with_azures_code(
    emulator_conn: Any, fault: dict[str, Any], code: str
) -> None:
    """Through the SDK and the adapter, from the emulator's Azure-shaped answers: a quota 400
    and a 409 for an unregistered provider are permanent (the engine pauses or refuses at
    once), never retried as a busy resource."""
    from emulator.testing import admin_request
    from shared.errors import is_permanent

    world = emulator_world(emulator_conn)
    ep = "ep-" + uuid.uuid4().hex[:8]
    world.make_endpoint(ep)
    admin_request(
        emulator_conn,
        "PUT",
        "faults/arm",
        {"kind": "error", "rate": 1.0, "methods": ["PUT"], **fault},
    )
    try:
        with pytest.raises(AutocanaryError) as info:
            world.control.scale_deployment(ep, "blue", 3)
        assert info.value.code == code and is_permanent(info.value), info.value.to_dict()
    finally:
        admin_request(emulator_conn, "DELETE", "faults/arm")


def test_a_deployment_azure_canceled_is_provisioned_anew_when_created_again(
    emulator_conn: Any,
) -> None:
    """The adapter skips a create whose deployment already holds the model, unless that
    deployment ended Canceled or Failed: then the PUT goes out and Azure provisions it again
    (the engine asks once more after an OperationCanceled)."""
    from emulator.testing import admin_request
    from tests.integration.endpoints_world import NEW, create

    world = emulator_world(emulator_conn)
    ep = "ep-" + uuid.uuid4().hex[:8]
    world.make_endpoint(ep)
    canceled = {"message": "another operation took over", "state": "Canceled"}
    admin_request(emulator_conn, "PUT", f"faults/provisioning/{ep}/green", canceled)
    assert create(world, ep, "green").deployments["green"].provisioning_state == "Canceled"
    info = create(world, ep, "green", model=NEW)
    assert info.deployments["green"].provisioning_state == "Succeeded"


@pytest.mark.parametrize(
    ("fault", "transient", "code"),
    [
        # another operation took over: retrying may go through (how-to-troubleshoot-online-
        # endpoints, OperationCanceled)
        ({"state": "Canceled"}, True, "OperationCanceled"),
        ({"state": "Failed", "code": "InternalServerError"}, True, "InternalServerError"),
        ({"state": "Failed", "code": "BadArgument"}, False, "BadArgument"),
    ],
)
def test_a_traffic_update_whose_operation_ends_badly_is_an_error_and_the_split_stays(
    emulator_conn: Any, fault: dict[str, str], transient: bool, code: str
) -> None:
    """The update is accepted (201) and its operation then ends Canceled or Failed: the
    adapter waits for it (azure-core's poller), reports Azure's code, transient or not as
    the code says, and the endpoint keeps the split it had."""
    from emulator.testing import admin_request
    from shared.azure.credentials import build_credential
    from shared.azure.endpoints import MLEndpointControl
    from shared.errors import is_permanent
    from tests.integration.endpoints_world import create

    world = emulator_world(emulator_conn)
    ep = "ep-" + uuid.uuid4().hex[:8]
    world.make_endpoint(ep)
    create(world, ep, "green")
    settings = app_settings(emulator_conn)
    control = MLEndpointControl(settings, build_credential(settings), retry_policy=retry.NO_RETRY)
    admin_request(
        emulator_conn, "PUT", f"faults/provisioning/{ep}", {"message": "it ended", **fault}
    )
    try:
        with pytest.raises(AutocanaryError) as info:
            control.set_traffic(ep, {"blue": 90, "green": 10}, {})
    finally:
        admin_request(emulator_conn, "DELETE", f"faults/provisioning/{ep}")
    assert code in info.value.details.get("azure_codes", []), info.value.to_dict()
    assert isinstance(info.value, TransientUpstreamError) is transient
    assert is_permanent(info.value) is not transient
    assert control.get_split(ep) == ({"blue": 100}, {})
    # the next update goes through
    assert control.set_traffic(ep, {"blue": 90, "green": 10}, {})
    assert control.get_split(ep)[0] == {"blue": 90, "green": 10}


def test_a_create_that_fails_for_want_of_quota_reads_back_azures_code_and_words(
    emulator_conn: Any,
) -> None:
    """The code an operator needs (OutOfQuota: delete unused deployments or ask for quota,
    how-to-troubleshoot-online-endpoints) comes from the operation the deployment names."""
    from emulator.testing import admin_request
    from tests.integration.endpoints_world import create

    world = emulator_world(emulator_conn)
    ep = "ep-" + uuid.uuid4().hex[:8]
    world.make_endpoint(ep)
    said = "Not enough quota available for Standard_DS3_v2 in SubscriptionId s"
    fault = {"message": said, "state": "Failed", "code": "OutOfQuota"}
    admin_request(emulator_conn, "PUT", f"faults/provisioning/{ep}/green", fault)
    assert create(world, ep, "green").deployments["green"].provisioning_state == "Failed"
    error = world.control.provisioning_error(ep, "green")
    assert error is not None and (error.code, error.message) == ("OutOfQuota", said)
