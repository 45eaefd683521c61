"""What is read about a failed canary (shared/provisioning_reading.py): its logs and Azure's
error, only while provisioning a canary that ended badly, and never a reason to wait."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared import machine as m
from shared.errors import TransientUpstreamError
from shared.fakes.endpoints import FakeEndpoints
from shared.model import ModelRef, Phase, Rollout
from shared.observation import DeploymentInfo, EndpointInfo, OperationError
from shared.policy import RolloutPolicy
from shared.provisioning_reading import read_failure

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ERROR = OperationError("OutOfQuota", "no quota")


def _rollout(phase: Phase = Phase.PROVISIONING) -> Rollout:
    r = m.new_rollout(ModelRef("fraud", "7"), RolloutPolicy(), T0, m.ADMITTED).rollout
    return r.evolve(phase=phase, canary="fraud-v7", baseline="blue")


def _endpoint(canary_state: str) -> EndpointInfo:
    return EndpointInfo(
        "fraud",
        {"blue": 100, "fraud-v7": 0},
        {},
        {
            "blue": DeploymentInfo("blue", "Succeeded", "azureml:fraud:6"),
            "fraud-v7": DeploymentInfo("fraud-v7", canary_state, "azureml:fraud:7"),
        },
    )


def _refused(*args: object, **kwargs: object) -> None:
    raise TransientUpstreamError("ARM is down", code="ServiceUnavailable")


@pytest.fixture
def ep(monkeypatch: pytest.MonkeyPatch) -> FakeEndpoints:
    fake = FakeEndpoints()
    monkeypatch.setattr(fake, "get_logs", lambda endpoint, name, lines=200: "init() failed")
    monkeypatch.setattr(fake, "provisioning_error", lambda endpoint, name: ERROR)
    return fake


@pytest.mark.parametrize("state", ["Creating", "Succeeded", "Updating"])
def test_a_canary_that_did_not_end_badly_is_not_read_about(ep: FakeEndpoints, state: str) -> None:
    assert read_failure(ep, _rollout(), _endpoint(state)) == (None, None)


def test_a_rollout_past_provisioning_is_not_read_about(ep: FakeEndpoints) -> None:
    assert read_failure(ep, _rollout(Phase.CANARY), _endpoint("Failed")) == (None, None)


@pytest.mark.parametrize("state", ["Failed", "Canceled"])
def test_a_canary_that_ended_badly_has_its_logs_and_azures_error(
    ep: FakeEndpoints, state: str
) -> None:
    assert read_failure(ep, _rollout(), _endpoint(state)) == ("init() failed", ERROR)


def test_an_error_that_cannot_be_read_leaves_the_logs(
    ep: FakeEndpoints, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ep, "provisioning_error", _refused)
    assert read_failure(ep, _rollout(), _endpoint("Failed")) == ("init() failed", None)


def test_logs_that_cannot_be_read_say_so_beside_the_error(
    ep: FakeEndpoints, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ep, "get_logs", _refused)
    logs, error = read_failure(ep, _rollout(), _endpoint("Failed"))
    assert (logs, error) == ("(logs unavailable: ARM is down)", ERROR)


def test_an_error_read_that_breaks_unexpectedly_still_leaves_the_logs(
    ep: FakeEndpoints, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A renamed internal SDK client or a status body that is not JSON: the rollout still
    ends with what could be read (before, the tick failed and the rollout stayed put)."""

    def broken(endpoint: str, name: str) -> None:
        raise AttributeError("'MLClient' object has no attribute '_service_client_04_2023'")

    monkeypatch.setattr(ep, "provisioning_error", broken)
    assert read_failure(ep, _rollout(), _endpoint("Failed")) == ("init() failed", None)
