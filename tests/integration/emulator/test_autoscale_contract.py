"""One contract for AutoscaleControl, run against FakeAutoscale and against MonitorAutoscale
(azure-mgmt-monitor) on the local emulator, so the fake stays honest."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from emulator.connection import Connection
from emulator.testing import app_settings, create_endpoint, make_deployment, set_traffic
from shared.azure import retry
from shared.fakes.autoscale import FakeAutoscale
from shared.ports import AutoscaleControl

pytestmark = pytest.mark.integration

FAST = retry.RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, budget=1.0)


@dataclass
class World:
    name: str
    control: AutoscaleControl
    endpoint: str
    # the owners' own setting on "blue" (or the deployment and name given): (minimum,
    # maximum, default)
    add_source: Callable[..., None]
    raw: Callable[[str], Any] | None = None  # the stored setting, as the SDK reads it


@pytest.fixture(scope="module")
def emulator_endpoint(emulator: Connection, ml: Any, assets: dict[str, str]) -> str:
    """One endpoint with "blue" (live) and "green" (0 %) for the whole module."""
    name = "as-" + uuid.uuid4().hex[:8]
    create_endpoint(ml, name)
    for dep in ("blue", "green"):
        ml.online_deployments.begin_create_or_update(
            make_deployment(name, dep, assets["good"], instance_count=2)
        ).result()
    set_traffic(ml, name, {"blue": 100})
    return name


def _emulator_world(conn: Connection, endpoint: str) -> World:
    from azure.mgmt.monitor.models import (
        AutoscaleProfile,
        AutoscaleSettingResource,
        MetricTrigger,
        ScaleAction,
        ScaleCapacity,
        ScaleRule,
        ScaleRuleMetricDimension,
    )

    from shared.azure.autoscale import MonitorAutoscale
    from shared.azure.credentials import build_credential

    settings = app_settings(conn)
    control = MonitorAutoscale(settings, build_credential(settings), retry_policy=FAST)
    client = control._monitor()
    rg = conn.resource_group
    for s in list(client.autoscale_settings.list_by_resource_group(rg)):
        client.autoscale_settings.delete(rg, s.name)  # each test starts with none
    blue = control.deployment_id(endpoint, "blue")
    endpoint_id = blue.rsplit("/deployments/", 1)[0]

    def add_source(
        capacity: tuple[int, int, int], deployment: str = "blue", name: str | None = None
    ) -> None:
        lo, hi, default = (str(c) for c in capacity)
        target = control.deployment_id(endpoint, deployment)
        cpu = MetricTrigger(  # the deployment's own metric (how-to-autoscale-endpoints)
            metric_name="CpuUtilizationPercentage",
            metric_resource_uri=blue,
            time_grain="PT1M",
            statistic="Average",
            time_window="PT5M",
            time_aggregation="Average",
            operator="GreaterThan",
            threshold=70,
        )
        latency = MetricTrigger(  # the endpoint's, filtered on the deployment dimension
            metric_name="RequestLatency",
            metric_resource_uri=endpoint_id,
            time_grain="PT1M",
            statistic="Average",
            time_window="PT5M",
            time_aggregation="Average",
            operator="GreaterThan",
            threshold=300,
            dimensions=[
                ScaleRuleMetricDimension(
                    dimension_name="deployment", operator="Equals", values=["blue"]
                )
            ],
        )
        up = ScaleAction(direction="Increase", type="ChangeCount", value="1", cooldown="PT5M")
        resource = AutoscaleSettingResource(
            location=conn.location,
            profiles=[
                AutoscaleProfile(
                    name="default",
                    capacity=ScaleCapacity(minimum=lo, maximum=hi, default=default),
                    rules=[
                        ScaleRule(metric_trigger=cpu, scale_action=up),
                        ScaleRule(metric_trigger=latency, scale_action=up),
                    ],
                )
            ],
            enabled=True,
            target_resource_uri=target,
        )
        client.autoscale_settings.create_or_update(
            rg, name or f"{endpoint}-{deployment}-owners", resource
        )

    def raw(name: str) -> Any:
        return client.autoscale_settings.get(rg, name)

    return World("emulator", control, endpoint, add_source, raw)


def _fake_world() -> World:
    fake = FakeAutoscale()

    def add_source(
        capacity: tuple[int, int, int], deployment: str = "blue", name: str | None = None
    ) -> None:
        fake.add("ep", deployment, capacity, name)

    return World("fake", fake, "ep", add_source)


@pytest.fixture(params=["fake", "emulator"])
def world(request: pytest.FixtureRequest) -> World:
    if request.param == "fake":
        return _fake_world()
    conn = request.getfixturevalue("emulator")
    return _emulator_world(conn, request.getfixturevalue("emulator_endpoint"))


def test_a_deployment_without_a_setting_has_none(world: World) -> None:
    assert world.control.settings_for(world.endpoint, "blue") == []


def test_copying_from_a_deployment_without_a_setting_writes_nothing(world: World) -> None:
    assert world.control.copy_to(world.endpoint, "blue", "green") is None
    assert world.control.settings_for(world.endpoint, "green") == []


def test_a_copy_keeps_the_capacity_and_targets_the_new_deployment(world: World) -> None:
    world.add_source((2, 6, 3))
    copy = world.control.copy_to(world.endpoint, "blue", "green")
    assert copy is not None and copy.deployment == "green"
    assert copy.capacities == ((2, 6, 3),) and copy.enabled
    (seen,) = world.control.settings_for(world.endpoint, "green")
    assert seen.capacities == ((2, 6, 3),)
    (source,) = world.control.settings_for(world.endpoint, "blue")
    assert source.name != seen.name  # the owners' setting stays as it was


def test_copying_again_updates_the_same_setting(world: World) -> None:
    world.add_source((1, 4, 1))
    first = world.control.copy_to(world.endpoint, "blue", "green")
    again = world.control.copy_to(world.endpoint, "blue", "green")
    assert first is not None and again is not None and first.name == again.name
    assert len(world.control.settings_for(world.endpoint, "green")) == 1


def test_a_setting_already_on_the_target_is_updated_in_place_never_doubled(
    world: World,
) -> None:
    """Azure takes one setting per resource and refuses to retarget one: a copy already on
    the target under the earlier name form is the one updated."""
    world.add_source((1, 4, 1))
    world.add_source((1, 2, 1), "green", f"{world.endpoint}-green-autoscale")
    copy = world.control.copy_to(world.endpoint, "blue", "green")
    assert copy is not None and copy.name == f"{world.endpoint}-green-autoscale"
    (seen,) = world.control.settings_for(world.endpoint, "green")
    assert seen.capacities == ((1, 4, 1),)


def test_a_setting_the_owners_put_on_the_target_is_kept_and_no_second_one_is_written(
    world: World,
) -> None:
    """Not one of ours (its name says so): it keeps its capacity, and it is the target's
    setting the copy answers with. No second setting is put on the resource (Azure takes one
    per resource; a refused PUT would hold the watch window for ever)."""
    world.add_source((1, 4, 1))
    world.add_source((3, 9, 3), "green", f"{world.endpoint}-green-by-owners")
    got = world.control.copy_to(world.endpoint, "blue", "green")
    assert got is not None and got.name == f"{world.endpoint}-green-by-owners"
    (only,) = world.control.settings_for(world.endpoint, "green")
    assert only.name == f"{world.endpoint}-green-by-owners" and only.capacities == ((3, 9, 3),)


def test_delete_removes_the_targets_settings_only_and_twice_is_nothing(world: World) -> None:
    world.add_source((1, 4, 1))
    world.control.copy_to(world.endpoint, "blue", "green")
    assert world.control.delete_for(world.endpoint, "green") == 1
    assert world.control.settings_for(world.endpoint, "green") == []
    assert len(world.control.settings_for(world.endpoint, "blue")) == 1
    assert world.control.delete_for(world.endpoint, "green") == 0


def test_a_delete_of_copies_only_leaves_the_owners_own_setting(world: World) -> None:
    """For a deployment that stays (a rollback keeping the canary): only autocanary's copy
    goes, never a setting the owners put on it."""
    world.add_source((1, 4, 1))
    world.control.copy_to(world.endpoint, "blue", "green")
    assert world.control.delete_for(world.endpoint, "green", copies_only=True) == 1
    world.add_source((3, 9, 3), "green", f"{world.endpoint}-green-by-owners")
    assert world.control.delete_for(world.endpoint, "green", copies_only=True) == 0
    (kept,) = world.control.settings_for(world.endpoint, "green")
    assert kept.name == f"{world.endpoint}-green-by-owners"


def test_rules_on_the_source_deployments_metrics_read_the_targets(
    emulator: Connection, emulator_endpoint: str
) -> None:
    world = _emulator_world(emulator, emulator_endpoint)
    assert world.raw is not None
    world.add_source((1, 4, 1))
    copy = world.control.copy_to(world.endpoint, "blue", "green")
    assert copy is not None
    stored = world.raw(copy.name)
    green = str(stored.target_resource_uri)
    assert green.endswith(f"/onlineEndpoints/{world.endpoint}/deployments/green")
    cpu, latency = (rule.metric_trigger for rule in stored.profiles[0].rules)
    assert cpu.metric_resource_uri == green
    assert latency.metric_resource_uri.endswith(f"/onlineEndpoints/{world.endpoint}")
    assert latency.dimensions[0].values == ["green"]
