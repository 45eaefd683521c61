"""What the scoring router served: one record per request, shared by metrics, logs and alerts.

The router (scoring) appends; Azure Monitor metrics, the Log Analytics traffic log and metric
alert rules read. Thread-safe; bounded in memory (oldest records are dropped past
``max_records``).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestRecord:
    """One request the endpoint answered (or a mirrored copy of one).

    time:               epoch seconds when the request arrived
    endpoint:           online endpoint name
    deployment:         deployment that served it ("" when none could, e.g. 404 no traffic)
    status_code:        HTTP status the client got (for mirrored copies: what the mirror returned)
    model_status_code:  status the scoring code answered (0 when it never ran)
    total_ms:           arrival to response, as the client saw it
    request_ms:         time spent in the deployment's worker
    response_ms:        time spent writing the response
    request_bytes:      request payload size
    response_bytes:     response payload size
    mirrored:           a mirror copy (its response was discarded)
    request_id:         x-request-id
    """

    time: float
    endpoint: str
    deployment: str
    status_code: int
    model_status_code: int
    total_ms: float
    request_ms: float
    response_ms: float
    request_bytes: int
    response_bytes: int
    mirrored: bool = False
    request_id: str = ""

    @property
    def status_class(self) -> str:
        return f"{self.status_code // 100}xx"


class RequestLog:
    """Append-only, time-ordered record store with range queries."""

    def __init__(self, max_records: int = 2_000_000) -> None:
        self._lock = threading.Lock()
        self._times: list[float] = []
        self._records: list[RequestRecord] = []
        self._max = max_records

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            if self._times and record.time < self._times[-1]:
                i = bisect.bisect_right(self._times, record.time)
                self._times.insert(i, record.time)
                self._records.insert(i, record)
            else:
                self._times.append(record.time)
                self._records.append(record)
            if len(self._records) > self._max:
                drop = len(self._records) - self._max
                del self._times[:drop]
                del self._records[:drop]

    def between(self, start: float, end: float) -> list[RequestRecord]:
        """Records with start <= time < end, oldest first."""
        with self._lock:
            lo = bisect.bisect_left(self._times, start)
            hi = bisect.bisect_left(self._times, end)
            return self._records[lo:hi]

    def __iter__(self) -> Iterator[RequestRecord]:
        with self._lock:
            return iter(list(self._records))

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)
