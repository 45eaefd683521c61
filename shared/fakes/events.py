"""An event publisher that remembers what it was asked to publish."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any


class RecordingPublisher:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[tuple[str, str, dict[str, Any]]] = []
        self.fail = False

    def publish(self, event_type: str, subject: str, data: Mapping[str, Any]) -> None:
        with self._lock:
            if self.fail:
                raise ConnectionError("event topic unreachable")
            self.events.append((event_type, subject, dict(data)))

    def types(self) -> list[str]:
        with self._lock:
            return [e[0] for e in self.events]
