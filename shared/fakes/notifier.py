"""A Notifier that remembers what it was asked to post (and can fail or block, for tests)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from shared.notify.channels import Channel


class RecordingNotifier:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.posts: list[tuple[Channel, dict[str, Any]]] = []
        self.fail = False
        # When set, each post waits until this event is set (a webhook that hangs).
        self.block: threading.Event | None = None
        self.attempts = 0

    def post(self, channel: Channel, payload: Mapping[str, Any]) -> None:
        with self._lock:
            self.attempts += 1
            block = self.block
        if block is not None:
            block.wait(30.0)
        with self._lock:
            if self.fail:
                raise ConnectionError(f"{channel.label}: webhook unreachable")
            self.posts.append((channel, dict(payload)))

    def kinds(self) -> list[str]:
        with self._lock:
            return [c.kind for c, _ in self.posts]

    def texts(self) -> list[str]:
        """Each post as its JSON text, for asserting what a person would read."""
        import json

        with self._lock:
            return [json.dumps(p) for _, p in self.posts]
