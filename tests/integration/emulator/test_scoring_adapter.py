"""MLScoring (shared/azure/scoring.py) on the emulator: the endpoint's key fetched with
``online_endpoints.get_keys``, requests routed by the ``azureml-model-deployment`` header,
and the smoke test's orchestration over it."""

from __future__ import annotations

import json
from typing import Any

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
