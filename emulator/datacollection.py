"""Data collection as managed online endpoints do it: a deployment whose ``dataCollector``
enables a collection writes each request it serves into blob storage (Azurite locally).

Layout and schema (learn.microsoft.com/azure/machine-learning/how-to-collect-production-data,
"Store collected data in Blob Storage"; concept-data-collection):

- the default destination is the workspace blob store's ``modelDataCollector`` folder; a blob
  is ``{endpoint}/{deployment}/{collection}/{yyyy}/{MM}/{dd}/{HH}/{instance_id}.jsonl`` (the
  time folders follow ``rollingRate``: Year, Month, Day, Hour (default), Minute);
- each line is one JSON object: ``specversion`` 1.0, ``id``, ``source`` (the deployment's ARM
  id), ``type`` ``azureml.inference.<collection>``, ``datacontenttype``, ``time``, ``data``,
  ``correlationid`` and ``xrequestid`` (the request's id), ``contentrange``; custom logging
  adds ``modelversion``, ``collectdatatype`` and ``agent``;
- ``request``/``response`` are payload logging (``data`` is the HTTP body), any other name is
  custom logging from the scoring script: the sample's ``score.py`` is taken to log its input
  rows (the request's ``data``) as ``model_inputs`` and its answer as ``model_outputs``;
- ``dataCollectionMode`` Enabled, ``samplingRate`` (0..1, default 1) per collection.

One append blob per deployment, collection and time folder (this process is the instance);
writes go through a background thread so scoring never waits on storage. Off when the
emulator is started without ``--data-collection-blob``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import random
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from emulator.arm_model import Deployment
from emulator.context import Identity

log = logging.getLogger("emulator.datacollection")

DEFAULT_CONTAINER = "azureml-blobstore"
ROOT = "modelDataCollector"
PAYLOAD = ("request", "response")
_FOLDERS = {
    "year": "%Y",
    "month": "%Y/%m",
    "day": "%Y/%m/%d",
    "hour": "%Y/%m/%d/%H",
    "minute": "%Y/%m/%d/%H/%M",
}


def blob_path(
    endpoint: str, deployment: str, collection: str, when: datetime, rolling: str, instance: str
) -> str:
    folders = when.strftime(_FOLDERS.get(rolling.lower(), _FOLDERS["hour"]))
    return f"{ROOT}/{endpoint}/{deployment}/{collection}/{folders}/{instance}.jsonl"


def record(
    identity: Identity,
    dep: Deployment,
    collection: str,
    data: Any,
    request_id: str,
    when: datetime,
    size: int,
) -> dict[str, Any]:
    source = f"{identity.workspace_id}/onlineEndpoints/{dep.endpoint}/deployments/{dep.name}"
    out: dict[str, Any] = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": source,
        "type": f"azureml.inference.{collection}",
        "datacontenttype": "application/json",
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data": data,
        "correlationid": request_id,
        "xrequestid": request_id,
        "contentrange": f"bytes 0-{max(0, size - 1)}/{size}",
    }
    if collection == "request":
        out.update({"path": "/score", "method": "POST"})
    if collection not in PAYLOAD:
        out.update(
            {
                "modelversion": "default",
                "collectdatatype": "pandas.core.frame.DataFrame",
                "agent": "monitoring-sdk/0.1.2",
            }
        )
    return out


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return body.decode("utf-8", "replace")


class DataCollectionWriter:
    """Appends collected lines to blobs of one container (see the module docstring)."""

    def __init__(self, connection: str, identity: Identity, container: str = DEFAULT_CONTAINER):
        self.connection = connection
        self.identity = identity
        self.container = container
        self.instance = uuid.uuid4().hex[:12]
        self._queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue()
        self._rng = random.Random()
        self._thread = threading.Thread(target=self._run, name="data-collection", daemon=True)
        self._thread.start()
        self.written = 0

    def collect(self, dep: Deployment, request: bytes, response: bytes, request_id: str) -> None:
        """Queue the lines of one answered request for each enabled collection."""
        collector = dep.properties.get("dataCollector") or {}
        collections = collector.get("collections") or {}
        rolling = str(collector.get("rollingRate") or "Hour")
        when = datetime.now(UTC)
        for name, cfg in collections.items():
            if str(cfg.get("dataCollectionMode", "Disabled")).lower() != "enabled":
                continue
            rate = cfg.get("samplingRate")
            if rate is not None and self._rng.random() >= float(rate):
                continue
            body = request if name in ("request", "model_inputs") else response
            data = _json(body)
            if name == "model_inputs" and isinstance(data, dict) and "data" in data:
                data = data["data"]  # the scoring script logs its input rows
            line = record(self.identity, dep, name, data, request_id, when, len(body))
            path = blob_path(dep.endpoint, dep.name, name, when, rolling, self.instance)
            self._queue.put((path, (json.dumps(line, separators=(",", ":")) + "\n").encode()))

    def close(self) -> None:
        self._queue.put(None)

    def _run(self) -> None:
        from azure.core.exceptions import ResourceExistsError
        from azure.storage.blob import BlobServiceClient

        service = BlobServiceClient.from_connection_string(self.connection)
        container = service.get_container_client(self.container)
        try:
            container.create_container()
        except ResourceExistsError:
            pass
        except Exception:
            log.exception("data collection: container %s cannot be created", self.container)
        created: set[str] = set()
        while True:
            item = self._queue.get()
            if item is None:
                return
            path, data = item
            try:
                blob = container.get_blob_client(path)
                if path not in created:
                    with contextlib.suppress(ResourceExistsError):
                        blob.create_append_blob(if_none_match="*")
                    created.add(path)
                blob.append_block(data)
                self.written += 1
            except Exception:
                log.exception("data collection: a line for %s was not written", path)
