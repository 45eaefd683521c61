"""An event publisher that remembers what it was asked to publish."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any


class RecordingPublisher:
    """Keeps every send (a resend after a crash included) with its CloudEvent id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[tuple[str, str, dict[str, Any]]] = []
        self.ids: list[str | None] = []
        self.times: list[datetime | None] = []
        self.fail = False

    def publish(
        self,
        event_type: str,
        subject: str,
        data: Mapping[str, Any],
        event_id: str | None = None,
        time: datetime | None = None,
    ) -> None:
        with self._lock:
            if self.fail:
                raise ConnectionError("event topic unreachable")
            self.events.append((event_type, subject, dict(data)))
            self.ids.append(event_id)
            self.times.append(time)

    def types(self) -> list[str]:
        """The types of the events a consumer sees: resends (same id) once."""
        with self._lock:
            seen: set[str] = set()
            out: list[str] = []
            for (event_type, _, _), event_id in zip(self.events, self.ids, strict=True):
                if event_id is not None and event_id in seen:
                    continue
                if event_id is not None:
                    seen.add(event_id)
                out.append(event_type)
            return out
