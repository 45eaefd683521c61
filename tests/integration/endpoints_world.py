"""The worlds behind the EndpointControl contract tests: FakeEndpoints, ClockedEndpoints and
MLEndpointControl on the local emulator (stock azure-ai-ml over HTTPS), run against one contract
so the fakes stay honest; each with the means to set up and disturb it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from emulator.testing import app_settings
from shared.azure import retry
from shared.clock import FakeClock
from shared.effects import CreateDeployment
from shared.errors import TransientUpstreamError
from shared.fakes.clocked_endpoints import ClockedEndpoints
from shared.fakes.endpoints import FakeEndpoints
from shared.model import ModelRef
from shared.observation import EndpointInfo
from shared.ports import EndpointControl

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


def fake_world() -> World:
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


def clocked_world() -> World:
    fake = ClockedEndpoints(_SteppingClock(), provisioning_s=90, deletion_s=20, hidden_s=60)
    fake.fail_provisioning.add("fraud:3")

    def make_endpoint(name: str) -> None:
        fake.add_endpoint(name, {"blue": GOOD.asset_id}, {"blue": 100})

    return World("clocked", fake, make_endpoint, lambda: _FakeOutage(fake))


class _ArmOutage:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        from emulator.testing import admin_request

        admin_request(self.conn, "PUT", "faults/arm", {"kind": "500", "rate": 1.0})

    def __exit__(self, *args: object) -> None:
        from emulator.testing import admin_request

        admin_request(self.conn, "DELETE", "faults/arm")


def emulator_world(conn: Any) -> World:
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


def create(world: World, ep: str, name: str, model: ModelRef = NEW, **kw: Any) -> EndpointInfo:
    world.control.create_deployment(ep, CreateDeployment(name, "blue", model, **kw))
    return world.settle(ep, name)
