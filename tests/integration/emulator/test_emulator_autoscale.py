"""The emulator's Microsoft.Insights/autoscalesettings over ARM, as autoscale_API.json
(2022-10-01) shapes it: create 201 then update 200, get, list by resource group and by
subscription, delete 200 then 204, and the spec's rules on the body; then the autoscale job
applying a setting to its deployment (emulator.autoscale_engine)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import requests

from emulator.connection import Connection
from emulator.testing import admin_request, create_endpoint, make_deployment, workspace_path

pytestmark = pytest.mark.integration

API = "2022-10-01"


@pytest.fixture(scope="module")
def target(emulator: Connection, ml: Any, assets: dict[str, str]) -> str:
    """The ARM id of a deployment to target."""
    name = "asr-" + uuid.uuid4().hex[:8]
    create_endpoint(ml, name)
    ml.online_deployments.begin_create_or_update(
        make_deployment(name, "blue", assets["good"])
    ).result()
    return (
        f"/subscriptions/{emulator.subscription}/resourceGroups/{emulator.resource_group}"
        f"/providers/Microsoft.MachineLearningServices/workspaces/{emulator.workspace}"
        f"/onlineEndpoints/{name}/deployments/blue"
    )


def _url(conn: Connection, name: str | None = None, group: str = "resourcegroups") -> str:
    base = (
        f"{conn.arm_url}subscriptions/{conn.subscription}/{group}/{conn.resource_group}"
        "/providers/Microsoft.Insights/autoscalesettings"
    )
    return base + (f"/{name}" if name else "")


def _call(conn: Connection, method: str, url: str, body: Any = None, api: str = API) -> Any:
    return requests.request(
        method,
        url,
        params={"api-version": api},
        json=body,
        headers={"Authorization": "Bearer test"},
        verify=conn.cert_path,
        timeout=10,
    )


def _body(conn: Connection, target: str, **props: Any) -> dict[str, Any]:
    profile = {
        "name": "default",
        "capacity": {"minimum": "1", "maximum": "4", "default": "2"},
        "rules": [],
    }
    return {
        "location": conn.location,
        "properties": {"profiles": [profile], "targetResourceUri": target, **props},
    }


def test_create_then_update_then_get_and_both_lists(emulator: Connection, target: str) -> None:
    name = "as-" + uuid.uuid4().hex[:6]
    made = _call(emulator, "PUT", _url(emulator, name), _body(emulator, target))
    assert made.status_code == 201
    body = made.json()
    assert body["type"] == "Microsoft.Insights/autoscaleSettings" and body["name"] == name
    props = body["properties"]
    assert props["enabled"] is True  # the spec's default
    assert props["targetResourceUri"] == target
    assert props["profiles"][0]["capacity"] == {"minimum": "1", "maximum": "4", "default": "2"}
    again = _call(emulator, "PUT", _url(emulator, name), _body(emulator, target, enabled=False))
    assert again.status_code == 200 and again.json()["properties"]["enabled"] is False
    # ARM paths are case-insensitive: the SDK says resourcegroups, others resourceGroups
    got = _call(emulator, "GET", _url(emulator, name, group="resourceGroups"))
    assert got.status_code == 200 and got.json()["properties"]["enabled"] is False
    by_group = _call(emulator, "GET", _url(emulator)).json()["value"]
    by_sub = _call(
        emulator,
        "GET",
        f"{emulator.arm_url}subscriptions/{emulator.subscription}/providers/"
        "Microsoft.Insights/autoscalesettings",
    ).json()["value"]
    assert name in {s["name"] for s in by_group} and name in {s["name"] for s in by_sub}


def test_delete_answers_200_then_204_and_get_404(emulator: Connection, target: str) -> None:
    name = "as-" + uuid.uuid4().hex[:6]
    _call(emulator, "PUT", _url(emulator, name), _body(emulator, target))
    assert _call(emulator, "DELETE", _url(emulator, name)).status_code == 200
    assert _call(emulator, "DELETE", _url(emulator, name)).status_code == 204
    missing = _call(emulator, "GET", _url(emulator, name))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ResourceNotFound"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"location": None}, "location"),
        ({"profiles": None}, "properties.profiles"),
        (
            {"capacity": {"minimum": "3", "maximum": "2", "default": "2"}},
            "properties.profiles[0].capacity",
        ),
        (
            {"capacity": {"minimum": "1", "maximum": "2", "default": "5"}},
            "properties.profiles[0].capacity.default",
        ),
        (
            {"capacity": {"minimum": "one", "maximum": "2", "default": "1"}},
            "properties.profiles[0].capacity.minimum",
        ),
        (
            {
                "profiles": [
                    {
                        "name": f"p{i}",
                        "capacity": {"minimum": "1", "maximum": "1", "default": "1"},
                        "rules": [],
                    }
                    for i in range(21)
                ]
            },
            "properties.profiles",
        ),
    ],
)
def test_a_body_the_spec_refuses_is_400_naming_the_field(
    emulator: Connection, target: str, change: dict[str, Any], field: str
) -> None:
    body = _body(emulator, target)
    if "location" in change:
        body.pop("location")
    elif "profiles" in change:
        body["properties"]["profiles"] = change["profiles"]
    else:
        body["properties"]["profiles"][0]["capacity"] = change["capacity"]
    answer = _call(emulator, "PUT", _url(emulator, "as-bad"), body)
    assert answer.status_code == 400
    assert answer.json()["error"]["message"].startswith(field + ":")


def test_a_target_that_is_no_deployment_of_the_workspace_is_refused(
    emulator: Connection, target: str
) -> None:
    gone = target.rsplit("/", 1)[0] + "/nope"
    answer = _call(emulator, "PUT", _url(emulator, "as-gone"), _body(emulator, gone))
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "TargetResourceNotFound"


def test_an_api_version_autoscale_settings_do_not_have_is_refused(emulator: Connection) -> None:
    answer = _call(emulator, "GET", _url(emulator), api="2023-01-01")
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "NoRegisteredProviderFound"


def test_a_rule_the_spec_refuses_is_400_naming_its_field(emulator: Connection, target: str) -> None:
    body = _body(emulator, target)
    body["properties"]["profiles"][0]["rules"] = [
        {
            "metricTrigger": {"metricName": "RequestsPerMinute", "metricResourceUri": target},
            "scaleAction": {"direction": "Increase", "type": "ChangeCount", "cooldown": "PT5M"},
        }
    ]
    answer = _call(emulator, "PUT", _url(emulator, "as-bad-rule"), body)
    assert answer.status_code == 400
    assert answer.json()["error"]["message"].startswith(
        "properties.profiles[0].rules[0].metricTrigger.timeGrain:"
    )


def _deployment(ml: Any, endpoint: str, name: str = "blue") -> Any:
    return ml.online_deployments.get(name=name, endpoint_name=endpoint)


def _scaled_endpoint(ml: Any, assets: dict[str, str], instances: int) -> str:
    name = "ase-" + uuid.uuid4().hex[:8]
    create_endpoint(ml, name)
    ml.online_deployments.begin_create_or_update(
        make_deployment(name, "blue", assets["good"], instance_count=instances)
    ).result()
    return name


def _rule(
    target: str,
    metric: str,
    statistic: str,
    aggregation: str,
    op: str,
    threshold: float,
    direction: str,
) -> dict[str, Any]:
    """A ScaleRule of the spec on the deployment's own metric (one instance at a time)."""
    return {
        "metricTrigger": {
            "metricName": metric,
            "metricResourceUri": target,
            "timeGrain": "PT1M",
            "statistic": statistic,
            "timeWindow": "PT5M",
            "timeAggregation": aggregation,
            "operator": op,
            "threshold": threshold,
        },
        "scaleAction": {"direction": direction, "type": "ChangeCount", "cooldown": "PT1M"},
    }


def _wait_for(check: Any, seconds: float = 30.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def _apply(
    conn: Connection,
    ml: Any,
    assets: dict[str, str],
    start: int,
    capacity: tuple[int, int, int],
    rules: list[Any],
    settled: int,
) -> list[dict[str, Any]]:
    """A deployment on ``start`` instances under a new setting: wait until it runs ``settled``
    instances, three more runs of the job (one per 2 s API minute), and return the actions."""
    endpoint = _scaled_endpoint(ml, assets, start)
    target = _target(conn, endpoint)
    body = _body(conn, target)
    lo, hi, default = (str(c) for c in capacity)
    profile = body["properties"]["profiles"][0]
    profile["capacity"] = {"minimum": lo, "maximum": hi, "default": default}
    profile["rules"] = [r(target) for r in rules]
    assert _call(conn, "PUT", _url(conn, f"{endpoint}-as"), body).status_code == 201

    def done() -> bool:
        dep = _deployment(ml, endpoint)
        return dep.instance_count == settled and dep.provisioning_state == "Succeeded"

    assert _wait_for(done), f"never ran {settled} instances"
    time.sleep(6)
    assert _deployment(ml, endpoint).instance_count == settled  # and nothing more happened
    actions = admin_request(conn, "GET", "autoscale")["actions"]
    return [a for a in actions if a["setting"] == f"{endpoint}-as"]


def test_the_engine_raises_a_deployment_to_its_profiles_minimum(
    emulator: Connection, ml: Any, assets: dict[str, str]
) -> None:
    mine = _apply(emulator, ml, assets, 1, (3, 4, 3), [], 3)
    assert [(a["old"], a["new"]) for a in mine] == [(1, 3)] and "minimum" in mine[0]["why"]


def test_a_rule_whose_metric_has_no_data_scales_out_to_the_default_once(
    emulator: Connection, ml: Any, assets: dict[str, str]
) -> None:
    def slow(t: str) -> Any:
        return _rule(t, "RequestLatency_P99", "Average", "Average", "GreaterThan", 1000, "Increase")

    mine = _apply(emulator, ml, assets, 1, (1, 4, 2), [slow], 2)
    assert [(a["old"], a["new"]) for a in mine] == [(1, 2)] and "not available" in mine[0]["why"]


def test_no_requests_count_as_zero_so_a_scale_in_rule_on_requests_is_met(
    emulator: Connection, ml: Any, assets: dict[str, str]
) -> None:
    def idle(t: str) -> Any:
        return _rule(t, "RequestsPerMinute", "Sum", "Total", "LessThan", 10, "Decrease")

    mine = _apply(emulator, ml, assets, 3, (2, 4, 2), [idle], 2)  # in to the minimum, no lower
    assert [(a["old"], a["new"]) for a in mine] == [(3, 2)]


def test_a_disabled_setting_is_never_applied(
    emulator: Connection, ml: Any, assets: dict[str, str]
) -> None:
    endpoint = _scaled_endpoint(ml, assets, 1)
    body = _body(emulator, _target(emulator, endpoint), enabled=False)
    body["properties"]["profiles"][0]["capacity"] = {"minimum": "2", "maximum": "4", "default": "2"}
    assert _call(emulator, "PUT", _url(emulator, f"{endpoint}-as"), body).status_code == 201
    time.sleep(5)
    assert _deployment(ml, endpoint).instance_count == 1


def _target(conn: Connection, endpoint: str) -> str:
    return f"{workspace_path(conn)}/onlineEndpoints/{endpoint}/deployments/blue"


def test_a_put_that_would_change_a_settings_target_is_refused(
    emulator: Connection, ml: Any, assets: dict[str, str], target: str
) -> None:
    """A setting's target cannot change: TargetResourceIdIsImmutable (Azure says to create a
    new setting with another name), and the setting is left as it was."""
    endpoint = target.split("/onlineEndpoints/", 1)[1].split("/", 1)[0]
    ml.online_deployments.begin_create_or_update(
        make_deployment(endpoint, "green", assets["good"])
    ).result()
    green = target.rsplit("/", 1)[0] + "/green"
    assert _call(emulator, "PUT", _url(emulator, "as-move"), _body(emulator, target)).ok
    answer = _call(emulator, "PUT", _url(emulator, "as-move"), _body(emulator, green))
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "TargetResourceIdIsImmutable"
    kept = _call(emulator, "GET", _url(emulator, "as-move")).json()
    assert kept["properties"]["targetResourceUri"].lower() == target.lower()
    # the same target in another case is the same target
    assert _call(emulator, "PUT", _url(emulator, "as-move"), _body(emulator, target.upper())).ok
    assert _call(emulator, "DELETE", _url(emulator, "as-move")).ok
