"""MLScoring (shared/azure/scoring.py) on the emulator: the endpoint's key fetched with
``online_endpoints.get_keys``, requests routed by the ``azureml-model-deployment`` header,
the flipped sample model; and one contract run against FakeScoring and MLScoring."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from emulator_helpers import (
    admin_request,
    create_endpoint,
    make_deployment,
    record_counts,
    set_traffic,
)

from emulator.connection import Connection
from emulator.samples import MODELS_DIR
from emulator.testing import app_settings
from shared.azure import retry
from shared.azure.credentials import build_credential
from shared.azure.scoring import MLScoring
from shared.fakes.scoring import FakeScoring, ok_answer
from shared.ports import ScoreAnswer, Scoring
from shared.scoring_plan import is_not_sent

FAST = retry.RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.05, budget=1.0)
ROWS = [b'{"data": [[1.0, 0.5, 0.2]]}', b'{"data": [[-1.0, 0.5, -0.2]]}']


def _scoring(conn: Connection) -> MLScoring:
    settings = app_settings(conn)
    return MLScoring(settings, build_credential(settings), retry_policy=FAST)


def _deploy(ml: Any, endpoint: str, name: str, model: str) -> None:
    ml.online_deployments.begin_create_or_update(make_deployment(endpoint, name, model)).result()


def test_header_sends_requests_to_a_deployment_without_traffic(
    emulator: Connection, ml: Any, endpoint_name: str, assets: dict[str, str]
) -> None:
    create_endpoint(ml, endpoint_name)
    _deploy(ml, endpoint_name, "blue", assets["good"])
    _deploy(ml, endpoint_name, "green", assets["good"])
    set_traffic(ml, endpoint_name, {"blue": 100})
    answers = _scoring(emulator).score(endpoint_name, "green", ROWS, timeout_s=10)
    assert [(a.status, a.error) for a in answers] == [(200, ""), (200, "")]
    assert [json.loads(a.body)["labels"] for a in answers] == [[1], [0]]
    assert record_counts(emulator, endpoint_name) == {("green", False, 200): 2}


def test_a_deployment_the_endpoint_lacks_answers_404(
    emulator: Connection, ml: Any, endpoint_name: str, assets: dict[str, str]
) -> None:
    create_endpoint(ml, endpoint_name)
    _deploy(ml, endpoint_name, "blue", assets["good"])
    set_traffic(ml, endpoint_name, {"blue": 100})
    answers = _scoring(emulator).score(endpoint_name, "nosuch", ROWS[:1], timeout_s=10)
    assert [a.status for a in answers] == [404]


def test_flipped_model_answers_the_opposite_labels_with_the_same_status(
    emulator: Connection, ml: Any, endpoint_name: str, assets: dict[str, str]
) -> None:
    admin_request(
        emulator,
        "POST",
        "models",
        {"name": "fraud", "version": "4", "path": str(MODELS_DIR / "fraud-v4-flipped")},
    )
    create_endpoint(ml, endpoint_name)
    _deploy(ml, endpoint_name, "blue", assets["good"])
    _deploy(ml, endpoint_name, "flipped", "azureml:fraud:4")
    set_traffic(ml, endpoint_name, {"blue": 100})
    scoring = _scoring(emulator)
    live = scoring.score(endpoint_name, "blue", ROWS, timeout_s=10)
    flipped = scoring.score(endpoint_name, "flipped", ROWS, timeout_s=10)
    assert [a.status for a in flipped] == [200, 200]
    for a, b in zip(live, flipped, strict=True):
        assert json.loads(b.body)["labels"] == [1 - x for x in json.loads(a.body)["labels"]]


# ------------------------------------------------------------------ contract: fake and real
@pytest.fixture(params=["fake", "emulator"])
def scoring_world(
    request: pytest.FixtureRequest, emulator: Connection, ml: Any, assets: dict[str, str]
) -> tuple[Scoring, str]:
    """A Scoring port and an endpoint whose deployment "blue" serves the good model."""
    if request.param == "fake":
        fake = FakeScoring()
        fake.set_model("ep", "blue", ok_answer)
        return fake, "ep"
    name = "sc-" + uuid.uuid4().hex[:8]
    create_endpoint(ml, name)
    _deploy(ml, name, "blue", assets["good"])
    set_traffic(ml, name, {"blue": 100})
    return _scoring(emulator), name


def test_contract_a_named_deployment_answers_each_body_in_order(
    scoring_world: tuple[Scoring, str],
) -> None:
    scoring, endpoint = scoring_world
    answers = scoring.score(endpoint, "blue", ROWS, timeout_s=10)
    assert [a.status for a in answers] == [200, 200] and all(a.body for a in answers)


def test_contract_an_absent_deployment_answers_404(scoring_world: tuple[Scoring, str]) -> None:
    scoring, endpoint = scoring_world
    answers = scoring.score(endpoint, "absent", ROWS[:1], timeout_s=10)
    assert [a.status for a in answers] == [404]


# ------------------------------------------------------------------ contract: pacing
SLOW_MS = 1500.0  # each request of the slow model; the budget below is shorter


@pytest.fixture(params=["fake", "emulator"])
def slow_world(
    request: pytest.FixtureRequest, emulator: Connection, ml: Any, register_model: Any
) -> tuple[Scoring, str]:
    """A Scoring port and an endpoint whose deployment "slow" (2 instances) answers in
    SLOW_MS."""
    if request.param == "fake":
        fake = FakeScoring()
        fake.set_model("ep", "slow", lambda body: ScoreAnswer(200, SLOW_MS, body))
        return fake, "ep"
    name = "sp-" + uuid.uuid4().hex[:8]
    create_endpoint(ml, name)
    model = register_model({"weights": [1, 1, 1], "latency_ms": SLOW_MS})
    # two instances: two requests in flight are within Azure's default of one per instance
    deployment = make_deployment(name, "slow", model, instance_count=2)
    ml.online_deployments.begin_create_or_update(deployment).result()
    set_traffic(ml, name, {"slow": 100})
    return _scoring(emulator), name


def test_contract_requests_not_started_within_the_budget_are_never_sent(
    slow_world: tuple[Scoring, str],
) -> None:
    scoring, endpoint = slow_world
    answers = scoring.score(endpoint, "slow", ROWS * 2, timeout_s=10, budget_s=1.0)
    assert [a.status for a in answers] == [200, 0, 0, 0]
    assert [is_not_sent(a) for a in answers] == [False, True, True, True]


def test_contract_requests_in_flight_together_all_start_within_the_budget(
    slow_world: tuple[Scoring, str],
) -> None:
    """Two at a time on two instances: both start at once, both are answered."""
    scoring, endpoint = slow_world
    answers = scoring.score(endpoint, "slow", ROWS, timeout_s=10, concurrency=2, budget_s=1.0)
    assert [a.status for a in answers] == [200, 200]


def test_a_token_auth_endpoint_is_refused_with_its_auth_mode_and_no_token_asked(
    emulator: Connection, ml: Any, endpoint_name: str, assets: dict[str, str]
) -> None:
    """The smoke test and the shadow comparison score with the endpoint's key: an aml_token
    endpoint says so at once (get_keys would ask for a token, an action the app's role does
    not hold, and answer no key)."""
    from shared.errors import UpstreamError

    create_endpoint(ml, endpoint_name, auth_mode="aml_token")
    _deploy(ml, endpoint_name, "blue", assets["good"])
    set_traffic(ml, endpoint_name, {"blue": 100})
    with pytest.raises(UpstreamError, match="auth mode aml_token") as info:
        _scoring(emulator).score(endpoint_name, "blue", ROWS, timeout_s=10)
    assert info.value.code == "no_endpoint_key"
