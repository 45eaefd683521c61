"""One contract for EndpointControl, run against FakeEndpoints and against MLEndpointControl on
the local emulator (stock azure-ai-ml over HTTPS), so the fake stays honest."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from emulator.testing import app_settings
from shared.azure import retry
from shared.clock import FakeClock
from shared.effects import CreateDeployment
from shared.errors import AzureBusy, AzureRuleViolation, NotFound, TransientUpstreamError
from shared.fakes.clocked_endpoints import ClockedEndpoints
from shared.fakes.endpoints import FakeEndpoints
from shared.model import ModelRef
from shared.observation import EndpointInfo
from shared.ports import EndpointControl

pytestmark = pytest.mark.integration

GOOD = ModelRef("fraud", "1")
NEW = ModelRef("fraud", "2")
BROKEN = ModelRef("fraud", "3")  # its init() fails: provisioning ends Failed
FAST = retry.RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, budget=1.0)
SETTLED = ("Succeeded", "Failed", "Canceled")


@dataclass
class World:
    """An EndpointControl and the means to set up and disturb the world behind it."""

    name: str
    control: EndpointControl
    make_endpoint: Callable[[str], None]  # an endpoint with "blue" (GOOD) at 100 %
    outage: Callable[[], Any]  # a context manager: every call fails transiently
    poll_pause: float = 0.0
    extras: dict[str, Any] = field(default_factory=dict)

    def settle(self, endpoint: str, name: str, timeout: float = 20.0) -> EndpointInfo:
        """Read the endpoint until deployment ``name`` is there and reached a final state (a
        new deployment may be missing from the reads for a while after its create, as in
        Azure)."""
        deadline = time.monotonic() + timeout
        while True:
            info = self.control.get_endpoint(endpoint)
            dep = info.deployments.get(name)
            if dep is not None and dep.provisioning_state in SETTLED:
                return info
            if dep is None and time.monotonic() > deadline:
                raise AssertionError(f"{name} not there after {timeout} s")
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} still {dep.provisioning_state} after {timeout} s")
            time.sleep(self.poll_pause)

    def gone(self, endpoint: str, name: str, timeout: float = 20.0) -> EndpointInfo:
        deadline = time.monotonic() + timeout
        while True:
            info = self.control.get_endpoint(endpoint)
            if name not in info.deployments:
                return info
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} not deleted after {timeout} s")
            time.sleep(self.poll_pause)


class _FakeOutage:
    def __init__(self, fake: FakeEndpoints | ClockedEndpoints) -> None:
        self.fake = fake

    def __enter__(self) -> None:
        self.fake.fail_next = [TransientUpstreamError("injected outage")] * 50

    def __exit__(self, *args: object) -> None:
        self.fake.fail_next = []


def _fake_world() -> World:
    # hidden_reads=1: like the emulator (and Azure), a new deployment is missing from the
    # first read after its create.
    fake = FakeEndpoints(provisioning_reads=1, hidden_reads=1)
    fake.fail_models.add(BROKEN.asset_id)

    def make_endpoint(name: str) -> None:
        fake.add_endpoint(name, {"blue": GOOD.asset_id}, {"blue": 100})

    return World("fake", fake, make_endpoint, lambda: _FakeOutage(fake))


class _SteppingClock:
    """Ten seconds pass at every look: ClockedEndpoints provisions while the world settles."""

    def __init__(self) -> None:
        self.clock = FakeClock()

    def now(self) -> datetime:
        return self.clock.advance(10)


def _clocked_world() -> World:
    fake = ClockedEndpoints(_SteppingClock(), provisioning_s=90, deletion_s=20, hidden_s=60)
    fake.fail_provisioning.add("fraud:3")

    def make_endpoint(name: str) -> None:
        fake.add_endpoint(name, {"blue": GOOD.asset_id}, {"blue": 100})

    return World("clocked", fake, make_endpoint, lambda: _FakeOutage(fake))


# ------------------------------------------------------------------ the emulator


@pytest.fixture(scope="module")
def emulator_conn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from emulator.samples import CODE_DIR, MODELS_DIR
    from emulator.testing import admin_request, running_emulator

    state = tmp_path_factory.mktemp("endpoints-contract")
    # A new deployment stays hidden until it leaves Creating (at most 5 s here), so that the
    # "missing right after create" contract does not depend on the machine's speed.
    with running_emulator(
        state,
        provisioning_delay=0.05,
        retry_after=0.05,
        extra_args=["--hidden-after-create", "5"],
    ) as conn:
        admin_request(
            conn, "POST", "codes", {"name": "score", "version": "1", "path": str(CODE_DIR)}
        )
        for model, folder in (
            (GOOD, "fraud-v1"),
            (NEW, "fraud-v2-slow"),
            (BROKEN, "fraud-v3-broken"),
        ):
            admin_request(
                conn,
                "POST",
                "models",
                {"name": model.name, "version": model.version, "path": str(MODELS_DIR / folder)},
            )
        yield conn


class _ArmOutage:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        from emulator.testing import admin_request

        admin_request(self.conn, "PUT", "faults/arm", {"kind": "500", "rate": 1.0})

    def __exit__(self, *args: object) -> None:
        from emulator.testing import admin_request

        admin_request(self.conn, "DELETE", "faults/arm")


def _emulator_world(conn: Any) -> World:
    from emulator.testing import create_endpoint, make_deployment, set_traffic
    from shared.azure.credentials import build_credential
    from shared.azure.endpoints import MLEndpointControl

    settings = app_settings(conn)
    control = MLEndpointControl(settings, build_credential(settings), retry_policy=FAST)

    def make_endpoint(name: str) -> None:
        # Set up through the same MLClient, as an operator would with the SDK or CLI.
        ml = control._ml()
        create_endpoint(ml, name)
        ml.online_deployments.begin_create_or_update(
            make_deployment(name, "blue", GOOD.asset_id)
        ).result()
        set_traffic(ml, name, {"blue": 100})

    return World("emulator", control, make_endpoint, lambda: _ArmOutage(conn), poll_pause=0.05)


@pytest.fixture(params=["fake", "clocked", "emulator"])
def world(request: pytest.FixtureRequest) -> World:
    if request.param == "fake":
        return _fake_world()
    if request.param == "clocked":
        return _clocked_world()
    return _emulator_world(request.getfixturevalue("emulator_conn"))


@pytest.fixture
def ep(world: World) -> str:
    name = "ep-" + uuid.uuid4().hex[:8]
    world.make_endpoint(name)
    return name


def _create(world: World, ep: str, name: str, model: ModelRef = NEW, **kw: Any) -> EndpointInfo:
    world.control.create_deployment(ep, CreateDeployment(name, "blue", model, **kw))
    return world.settle(ep, name)


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
    info = _create(world, ep, "fraud-v2")
    dep = info.deployments["fraud-v2"]
    assert (dep.provisioning_state, dep.model, dep.instance_count) == ("Succeeded", NEW.asset_id, 1)
    assert info.traffic.get("fraud-v2", 0) == 0
    assert info.live_traffic() == {"blue": 100}


def test_instance_count_override_is_applied(world: World, ep: str) -> None:
    info = _create(world, ep, "fraud-v2", instance_count=2)
    assert info.deployments["fraud-v2"].instance_count == 2


def test_create_is_idempotent_for_the_same_model(world: World, ep: str) -> None:
    """Asking again for a deployment that has the model changes nothing."""
    _create(world, ep, "fraud-v2")
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
    info = _create(world, ep, "fraud-v3", model=BROKEN)
    assert info.deployments["fraud-v3"].provisioning_state == "Failed"
    logs = world.control.get_logs(ep, "fraud-v3", lines=50)
    assert logs.strip()
    assert len(logs.splitlines()) <= 50


def test_logs_of_an_unknown_deployment_are_not_found(world: World, ep: str) -> None:
    with pytest.raises(NotFound):
        world.control.get_logs(ep, "nosuch")


def test_traffic_and_mirror_are_set_in_one_update(world: World, ep: str) -> None:
    _create(world, ep, "fraud-v2")
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
    _create(world, ep, "fraud-v2")
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
    _create(world, ep, "fraud-v2")
    with pytest.raises(AzureRuleViolation):
        world.control.set_traffic(ep, traffic, mirror)
    info = world.control.get_endpoint(ep)
    assert (info.live_traffic(), info.live_mirror()) == ({"blue": 100}, {})


def test_deployment_at_zero_is_deleted_and_deleting_again_is_harmless(
    world: World, ep: str
) -> None:
    _create(world, ep, "fraud-v2")
    world.control.delete_deployment(ep, "fraud-v2")
    world.control.delete_deployment(ep, "fraud-v2")
    info = world.gone(ep, "fraud-v2")
    world.control.delete_deployment(ep, "fraud-v2")
    assert info.live_traffic() == {"blue": 100}


def test_deleting_a_deployment_with_traffic_is_refused(world: World, ep: str) -> None:
    _create(world, ep, "fraud-v2")
    world.control.set_traffic(ep, {"blue": 100}, {"fraud-v2": 10})
    for name in ("blue", "fraud-v2"):
        with pytest.raises(AzureRuleViolation):
            world.control.delete_deployment(ep, name)
    assert set(world.control.get_endpoint(ep).deployments) == {"blue", "fraud-v2"}


def test_an_outage_is_a_transient_upstream_error(world: World, ep: str) -> None:
    with world.outage(), pytest.raises(TransientUpstreamError):
        world.control.get_endpoint(ep)
    assert world.control.get_endpoint(ep).live_traffic() == {"blue": 100}


# ------------------------------------------------------------------ the adapter only


def test_adapter_is_the_only_retry_loop_and_rides_out_a_blip(emulator_conn: Any) -> None:
    """With our retries off one throttled answer fails the call (the SDK's own retry policy is
    off too); with them on, two throttled answers in a row are ridden out."""
    from emulator.testing import admin_request
    from shared.azure.credentials import build_credential
    from shared.azure.endpoints import MLEndpointControl

    world = _emulator_world(emulator_conn)
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


# ------------------------------------------------------------------ scaling


def test_scaling_sets_the_instance_count_updating_then_succeeded_and_traffic_stays(
    world: World, ep: str
) -> None:
    """A scale is a create-or-update with the new count: the count reads back at once, the
    deployment Updating until the instances run (then Succeeded), serving all along."""
    _create(world, ep, "fraud-v2")
    world.control.scale_deployment(ep, "fraud-v2", 3)
    dep = world.control.get_endpoint(ep).deployments["fraud-v2"]
    assert dep.instance_count == 3 and dep.provisioning_state in ("Updating", "Succeeded")
    info = world.settle(ep, "fraud-v2")
    dep = info.deployments["fraud-v2"]
    assert (dep.provisioning_state, dep.instance_count, dep.model) == ("Succeeded", 3, NEW.asset_id)
    assert info.live_traffic() == {"blue": 100}


def test_scaling_to_the_count_it_has_changes_nothing(world: World, ep: str) -> None:
    _create(world, ep, "fraud-v2")
    world.control.scale_deployment(ep, "fraud-v2", 1)
    dep = world.control.get_endpoint(ep).deployments["fraud-v2"]
    assert (dep.provisioning_state, dep.instance_count) == ("Succeeded", 1)


def test_scaling_an_unknown_deployment_is_not_found(world: World, ep: str) -> None:
    with pytest.raises(NotFound):
        world.control.scale_deployment(ep, "nope", 2)


def test_a_scaled_deployment_runs_that_many_workers_on_the_emulator(emulator_conn: Any) -> None:
    from emulator.testing import admin_request

    world = _emulator_world(emulator_conn)
    ep = "ep-" + uuid.uuid4().hex[:8]
    world.make_endpoint(ep)
    world.control.scale_deployment(ep, "blue", 2)
    world.settle(ep, "blue")
    state = admin_request(emulator_conn, "GET", "state")
    (endpoint,) = [e for e in state["endpoints"] if e["name"] == ep]
    (blue,) = [d for d in endpoint["deployments"] if d["name"] == "blue"]
    assert (blue["instance_count"], blue["ready_instances"]) == (2, 2)


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

    world = _emulator_world(emulator_conn)
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
