"""Recent inputs of a deployment from its data collection in blob storage (azure-storage-blob).

Managed online endpoints' data collector writes what a deployment serves to the workspace
blob store under ``modelDataCollector/{endpoint}/{deployment}/{collection}/{yyyy}/{MM}/{dd}/
{HH}/{instance_id}.jsonl``, one JSON object a line whose ``data`` is the collected payload
and ``correlationid`` the request's id (learn.microsoft.com/azure/machine-learning/
how-to-collect-production-data, "Store collected data in Blob Storage"). ``model_inputs``
is custom logging by the scoring script (its input rows: a request body is rebuilt as
``{"data": rows}``, the shape the scoring script was given); ``request`` is payload logging
(``data`` is the request body itself). ``model_inputs`` is read first, ``request`` when it
has none.

Blobs of today and yesterday (UTC) are listed (``name_starts_with`` the day's folder: works
for the Day, Hour and Minute rolling rates), newest first, and read until enough lines are
found. Nothing read is logged or kept: the bodies go to the caller in memory. The app's
identity needs Storage Blob Data Reader on the container (or a connection string, locally).
azure.storage.blob is imported on first use only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from shared.azure import retry
from shared.errors import NoData

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

ROOT = "modelDataCollector"
COLLECTIONS = ("model_inputs", "request")
MAX_BLOBS = 200  # blobs read at most per call


def request_body(collection: str, line: bytes) -> bytes | None:
    """The request body a collected line stands for, or None when it is not one."""
    try:
        record = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(record, dict) or "data" not in record:
        return None
    data = record["data"]
    if collection == "model_inputs":
        data = {"data": data}
    if isinstance(data, str):
        return data.encode()
    return json.dumps(data, separators=(",", ":")).encode()


def _lister(container: Any, prefix: str) -> Callable[[], list[Any]]:
    return lambda: list(container.list_blobs(name_starts_with=prefix))


def _reader(container: Any, name: str) -> Callable[[], bytes]:
    return lambda: bytes(container.download_blob(name).readall())


class BlobDataCollection:
    """InputSamples for ``data_collection`` over one blob container."""

    def __init__(
        self,
        container_url: str,
        *,
        credential: TokenCredential | None = None,
        connection: str | None = None,
        retry_policy: retry.RetryPolicy = retry.DEFAULT_RETRY,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        client_factory: Callable[[], Any] | None = None,
    ) -> None:
        self._url = container_url.rstrip("/")
        self._credential = credential
        self._connection = connection
        self._retry = retry_policy
        self._clock = clock
        self._client = retry.LazyClient(client_factory or self._build_client)

    def inputs(self, endpoint: str, deployment: str, source: str, n: int) -> list[bytes]:
        for collection in COLLECTIONS:
            found = self._read(endpoint, deployment, collection, n)
            if found:
                return found
        raise NoData(f"no collected inputs of {endpoint}/{deployment} since yesterday")

    def _read(self, endpoint: str, deployment: str, collection: str, n: int) -> list[bytes]:
        container = self._client.get()
        now = self._clock()
        blobs: list[Any] = []
        for day in (now, now - timedelta(days=1)):
            prefix = f"{ROOT}/{endpoint}/{deployment}/{collection}/{day:%Y/%m/%d}/"
            blobs += retry.call(
                _lister(container, prefix),
                f"list collected {collection} of {endpoint}/{deployment}",
                policy=self._retry,
            )
        blobs.sort(key=lambda b: (b.last_modified, b.name), reverse=True)
        out: list[bytes] = []
        for blob in blobs[:MAX_BLOBS]:
            data: bytes = retry.call(
                _reader(container, str(blob.name)),
                f"read collected {collection} of {endpoint}/{deployment}",
                policy=self._retry,
            )
            for line in reversed(data.splitlines()):  # newest lines last in a blob
                body = request_body(collection, line)
                if body is not None:
                    out.append(body)
                    if len(out) >= n:
                        return out
        return out

    def _build_client(self) -> Any:
        from azure.storage.blob import BlobServiceClient, ContainerClient

        if self._connection:
            name = urlsplit(self._url).path.rstrip("/").rsplit("/", 1)[-1]
            service = BlobServiceClient.from_connection_string(self._connection)
            return service.get_container_client(name)
        return ContainerClient.from_container_url(self._url, credential=self._credential)
