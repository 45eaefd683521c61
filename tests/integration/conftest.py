"""Fixtures shared by the dashboard's browser tests (the fixture server and one Chromium per
module), the RolloutStore contract tests (the fake and the Azurite store) and the
EndpointControl contract tests (the fakes and the emulator behind it, one emulator per module)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from shared.azure.tables import TableRolloutStore
from shared.fakes.store import InMemoryRolloutStore
from shared.ports import RolloutStore
from tests import dashboard_support as ds
from tests.integration.endpoints_world import (
    BROKEN,
    GOOD,
    NEW,
    World,
    clocked_world,
    emulator_world,
    fake_world,
)

# ------------------------------------------------------------------ the dashboard


@pytest.fixture(scope="module")
def server() -> Iterator[ds.DashboardServer]:
    """The page through the app's handler, the API from the fixture documents."""
    with ds.serving() as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, driven by Playwright."""
    with ds.chromium() as launched:
        yield launched


# ------------------------------------------------------------------ the RolloutStore contract


# test_store_history_contract.py and test_store_concurrency.py define a store of their own.
@pytest.fixture(params=["fake", "table"])
def store(request: pytest.FixtureRequest) -> Iterator[RolloutStore]:
    if request.param == "fake":
        yield InMemoryRolloutStore()
        return
    connection = request.getfixturevalue("azurite")
    table = TableRolloutStore.from_connection_string(
        connection, request.getfixturevalue("table_name")
    )
    try:
        yield table
    finally:
        table.close()


# ------------------------------------------------------------------ the EndpointControl contract


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


@pytest.fixture(params=["fake", "clocked", "emulator"])
def world(request: pytest.FixtureRequest) -> World:
    if request.param == "fake":
        return fake_world()
    if request.param == "clocked":
        return clocked_world()
    return emulator_world(request.getfixturevalue("emulator_conn"))


@pytest.fixture
def ep(world: World) -> str:
    name = "ep-" + uuid.uuid4().hex[:8]
    world.make_endpoint(name)
    return name
