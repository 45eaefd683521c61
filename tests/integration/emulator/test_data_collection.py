"""Data collection on the emulator and Azurite's blob service: a deployment whose
dataCollector enables model_inputs/model_outputs writes what it serves in Azure's layout and
schema, and BlobDataCollection (shared/azure/datacollection.py) reads the inputs back as
request bodies for the checks."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from emulator_helpers import Scorer, create_endpoint, make_deployment, set_traffic

from devhost.azurite import AzuriteBlobs
from emulator.connection import Connection
from emulator.samples import CODE_DIR, MODELS_DIR
from emulator.testing import admin_request, running_emulator
from shared.azure import retry
from shared.azure.datacollection import BlobDataCollection
from shared.errors import NoData

FAST = retry.RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.05, budget=1.0)
CONTAINER = "azureml-blobstore"


@pytest.fixture(scope="module")
def blob() -> Iterator[str]:
    server = AzuriteBlobs()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def collecting(tmp_path_factory: pytest.TempPathFactory, blob: str) -> Iterator[Connection]:
    """An emulator whose deployments collect data into Azurite's blob service."""
    state = tmp_path_factory.mktemp("emulator-dc")
    extra = ["--data-collection-blob", blob, "--data-collection-container", CONTAINER]
    with running_emulator(state, provisioning_delay=0.1, retry_after=0.1, extra_args=extra) as conn:
        admin_request(
            conn, "POST", "codes", {"name": "score", "version": "1", "path": str(CODE_DIR)}
        )
        admin_request(
            conn,
            "POST",
            "models",
            {"name": "fraud", "version": "1", "path": str(MODELS_DIR / "fraud-v1")},
        )
        yield conn


def _collected_endpoint(conn: Connection) -> tuple[str, Any]:
    from azure.ai.ml.entities import DataCollector, DeploymentCollection

    from emulator.client import ml_client

    ml = ml_client(conn)
    name = "dc-" + uuid.uuid4().hex[:8]
    create_endpoint(ml, name)
    collector = DataCollector(
        collections={
            "model_inputs": DeploymentCollection(enabled="true"),
            "model_outputs": DeploymentCollection(enabled="true"),
        }
    )
    ml.online_deployments.begin_create_or_update(
        make_deployment(name, "blue", "azureml:fraud:1", data_collector=collector)
    ).result()
    set_traffic(ml, name, {"blue": 100})
    return name, ml


def _reader(blob: str) -> BlobDataCollection:
    url = f"http://127.0.0.1/devstoreaccount1/{CONTAINER}"
    return BlobDataCollection(url, connection=blob, retry_policy=FAST)


def _wait_inputs(reader: BlobDataCollection, endpoint: str, n: int) -> list[bytes]:
    deadline = time.monotonic() + 15
    while True:
        try:
            found = reader.inputs(endpoint, "blue", "data_collection", n)
            if len(found) >= n:
                return found
        except NoData:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("collected inputs did not appear")
        time.sleep(0.2)


def test_collected_inputs_read_back_as_the_request_bodies_newest_first(
    collecting: Connection, blob: str
) -> None:
    endpoint, ml = _collected_endpoint(collecting)
    scorer = Scorer(collecting, ml, endpoint)
    rows = [[[float(i), 0.5, -0.25]] for i in range(4)]
    for r in rows:
        assert scorer.score(r).status_code == 200
    found = _wait_inputs(_reader(blob), endpoint, 4)
    assert [json.loads(b) for b in found] == [{"data": r} for r in reversed(rows)]


def test_collected_lines_follow_azures_layout_and_schema(collecting: Connection, blob: str) -> None:
    from azure.storage.blob import BlobServiceClient

    endpoint, ml = _collected_endpoint(collecting)
    assert Scorer(collecting, ml, endpoint).score([[1.0, 2.0, 3.0]]).status_code == 200
    _wait_inputs(_reader(blob), endpoint, 1)
    container = BlobServiceClient.from_connection_string(blob).get_container_client(CONTAINER)
    names = sorted(
        b.name for b in container.list_blobs(name_starts_with=f"modelDataCollector/{endpoint}/")
    )
    deadline = time.monotonic() + 10
    while len(names) < 2 and time.monotonic() < deadline:  # model_outputs may come a bit later
        time.sleep(0.2)
        names = sorted(
            b.name for b in container.list_blobs(name_starts_with=f"modelDataCollector/{endpoint}/")
        )
    collections = {n.split("/")[3] for n in names}
    assert collections == {"model_inputs", "model_outputs"}
    parts = names[0].split("/")
    assert len(parts) == 9 and parts[:3] == ["modelDataCollector", endpoint, "blue"]
    assert parts[-1].endswith(".jsonl") and len(parts[4]) == 4 and len(parts[7]) == 2
    line = json.loads(container.download_blob(names[0]).readall().splitlines()[0])
    assert line["type"] == "azureml.inference.model_inputs"
    assert line["source"].endswith(f"/onlineEndpoints/{endpoint}/deployments/blue")
    assert line["data"] == [[1.0, 2.0, 3.0]]
    assert line["correlationid"] and line["correlationid"] == line["xrequestid"]
    assert {"specversion", "id", "time", "datacontenttype", "contentrange"} <= set(line)


def test_a_deployment_without_collected_inputs_is_no_data(
    collecting: Connection, blob: str
) -> None:
    with pytest.raises(NoData):
        _reader(blob).inputs("nosuch", "blue", "data_collection", 3)
