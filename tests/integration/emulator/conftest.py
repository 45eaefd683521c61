"""Fixtures: one emulator per test session, an MLClient for it, the sample assets registered."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from emulator.connection import Connection
from emulator.samples import CODE_DIR, MODELS_DIR
from emulator.testing import admin_request, running_emulator


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Connection]:
    """A running emulator (short provisioning delay and LRO polling interval)."""
    state = tmp_path_factory.mktemp("emulator-state")
    with running_emulator(state, provisioning_delay=0.1, retry_after=0.1, bucket_seconds=2) as conn:
        yield conn


@pytest.fixture(scope="session")
def ml(emulator: Connection) -> Any:
    """azure-ai-ml's MLClient pointed at the emulator."""
    from emulator.client import ml_client

    return ml_client(emulator)


@pytest.fixture(scope="session")
def assets(emulator: Connection) -> dict[str, str]:
    """Sample model versions and scoring code, registered once: role -> azureml reference."""
    admin_request(
        emulator, "POST", "codes", {"name": "score", "version": "1", "path": str(CODE_DIR)}
    )
    refs = {"code": "azureml:score:1"}
    for version, folder, role in (
        ("1", "fraud-v1", "good"),
        ("2", "fraud-v2-slow", "slow"),
        ("3", "fraud-v3-broken", "broken"),
    ):
        admin_request(
            emulator,
            "POST",
            "models",
            {"name": "fraud", "version": version, "path": str(MODELS_DIR / folder)},
        )
        refs[role] = f"azureml:fraud:{version}"
    return refs


@pytest.fixture
def register_model(
    emulator: Connection, tmp_path: Path, assets: dict[str, str]
) -> Callable[[dict[str, Any]], str]:
    """Register a model whose model.json is given; returns its azureml reference.

    Depends on ``assets`` so that the sample scoring code is registered too.
    """

    def register(model: dict[str, Any]) -> str:
        folder = tmp_path / f"model-{uuid.uuid4().hex[:6]}"
        folder.mkdir()
        (folder / "model.json").write_text(json.dumps(model))
        name = "custom" + uuid.uuid4().hex[:8]
        admin_request(
            emulator, "POST", "models", {"name": name, "version": "1", "path": str(folder)}
        )
        return f"azureml:{name}:1"

    return register


@pytest.fixture
def endpoint_name(emulator: Connection) -> Iterator[str]:
    """A fresh endpoint name; the endpoint (and its workers) is deleted after the test."""
    name = "ep-" + uuid.uuid4().hex[:10]
    yield name
    url = (
        f"{emulator.arm_url}subscriptions/{emulator.subscription}/resourceGroups/"
        f"{emulator.resource_group}/providers/Microsoft.MachineLearningServices/workspaces/"
        f"{emulator.workspace}/onlineEndpoints/{name}?api-version=2025-12-01"
    )
    requests.delete(
        url, headers={"Authorization": "Bearer test"}, verify=emulator.cert_path, timeout=10
    )
