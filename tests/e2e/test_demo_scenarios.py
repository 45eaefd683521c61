"""The demo's three scenarios, shortened, on the whole local stack (each on its own endpoint):
the app receives ModelRegistered from the emulator's Event Grid, is reconciled through
devhost, judges metrics from the emulator and is called by the emulator's alert rule."""

from __future__ import annotations

import pytest
from api_check import check_read_routes
from e2e_world import World

pytestmark = pytest.mark.e2e


def test_good_version_is_promoted_and_the_old_deployment_deleted(world: World) -> None:
    result, story = world.play("good")
    assert result.problems == [], story
    assert (result.phase, result.decided_by) == ("Succeeded", "JudgePromoted")
    # The new deployment answers 404 right after its create (strict emulator): not a failure.
    assert "EffectFailed" not in [d.get("reason") for d in result.decisions], story


def test_version_with_more_errors_is_rolled_back_by_the_judge(world: World) -> None:
    result, story = world.play("errors")
    assert result.problems == [], story
    assert (result.phase, result.decided_by) == ("RolledBack", "JudgeRollback")
    assert "ErrorRateRegression" in result.notes
    # the canary it deleted is gone for good: no wait for a create in flight (CanaryNotSeenYet)
    assert "CanaryNotSeenYet" not in [d.get("reason") for d in result.decisions], story
    # the API explains it, and every read route answers as the OpenAPI document says
    assert check_read_routes(world.stack, "e2e-errors")


def test_slow_version_is_rolled_back_by_the_latency_alert(world: World) -> None:
    result, story = world.play("slow")
    assert result.problems == [], story
    assert (result.phase, result.decided_by) == ("RolledBack", "AlertFired")
    assert result.alert_to_restored_ms is not None  # the emulator was seen restoring the split
