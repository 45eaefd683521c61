"""A good version rolled out while the live deployment's autoscale setting scales it out, on
the whole local stack: the emulator's autoscale job raises the live deployment to its
profile's minimum mid-rollout (provisioning state Scaling), the app sizes the canary from the
live count as it is then, and the promoted version runs what production ran."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests
from e2e_world import AUTOSCALED, World

from emulator.client import ml_client
from shared.model import deployment_name

pytestmark = pytest.mark.e2e

API = "2022-10-01"
RAISED = 5  # the live deployment's instances once its setting is applied (it starts on 1)


def _put_setting(world: World, endpoint: str, deployment: str) -> None:
    conn = world.stack.emulator
    ws = (
        f"/subscriptions/{conn.subscription}/resourceGroups/{conn.resource_group}/providers/"
        f"Microsoft.MachineLearningServices/workspaces/{conn.workspace}"
    )
    body = {
        "location": conn.location,
        "properties": {
            "targetResourceUri": f"{ws}/onlineEndpoints/{endpoint}/deployments/{deployment}",
            "profiles": [
                {
                    "name": "default",
                    "capacity": {"minimum": str(RAISED), "maximum": "6", "default": str(RAISED)},
                    "rules": [],
                }
            ],
        },
    }
    url = (
        f"{conn.arm_url}subscriptions/{conn.subscription}/resourceGroups/{conn.resource_group}"
        f"/providers/Microsoft.Insights/autoscalesettings/{endpoint}-{deployment}-owners"
    )
    answer = requests.put(
        url,
        params={"api-version": API},
        json=body,
        headers={"Authorization": "Bearer e2e"},
        verify=conn.cert_path,
        timeout=10,
    )
    assert answer.status_code in (200, 201), answer.text


def test_a_baseline_autoscaled_mid_rollout_is_followed_and_matched_at_promotion(
    world: World,
) -> None:
    applied: list[str] = []

    def once_shadowing(endpoint: str, live: str) -> None:
        # The owners' setting arrives while the canary already runs on its share of 1 instance.
        def wait_then_put() -> None:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                reply = world.stack.app.api("GET", f"rollouts/{endpoint}", timeout=10)
                rollout: dict[str, Any] = (
                    (reply.body or {}).get("rollout") or {} if reply.ok else {}
                )
                if rollout.get("version") == "2" and rollout.get("phase") == "Shadowing":
                    _put_setting(world, endpoint, live)
                    applied.append(live)
                    return
                time.sleep(0.25)

        threading.Thread(target=wait_then_put, daemon=True).start()

    result, story = world.play(AUTOSCALED, before=once_shadowing)
    assert applied, story
    assert result.problems == [], story
    assert (result.phase, result.decided_by) == ("Succeeded", "JudgePromoted")
    scaling = [d for d in result.decisions if d.get("reason") == "CanaryScaling"]
    moved = [d for d in scaling if (d.get("evidence") or {}).get("live_instances") == RAISED]
    assert moved, [d.get("evidence") for d in scaling]
    ml = ml_client(world.stack.emulator)
    name = deployment_name(f"e2e-{AUTOSCALED}", "2")
    canary = ml.online_deployments.get(name=name, endpoint_name=f"e2e-{AUTOSCALED}")
    assert canary.instance_count >= RAISED  # what production ran when it was promoted
