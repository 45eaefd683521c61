"""bench-router's provisioning wait: a resource just created answers 404 for a while, as in
ARM (the emulator does too): that is "not yet", and any other error still stops the bench."""

from __future__ import annotations

import urllib.error
from email.message import Message
from typing import Any

import pytest

from bench import router


def _not_found(code: int = 404) -> urllib.error.HTTPError:
    return urllib.error.HTTPError("https://arm.invalid/x", code, "no", Message(), None)


def test_the_wait_polls_through_the_404_that_follows_a_create(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers: list[Any] = [
        _not_found(),
        _not_found(),
        {"properties": {"provisioningState": "Creating"}},
        {"properties": {"provisioningState": "Succeeded"}},
    ]

    def arm(conn: Any, method: str, path: str, body: Any = None) -> Any:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(router, "_arm", arm)
    monkeypatch.setattr(router.time, "sleep", lambda s: None)
    router._wait(object(), "onlineEndpoints/e/deployments/d")  # type: ignore[arg-type]
    assert answers == []


def test_the_wait_stops_on_any_other_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def arm(conn: Any, method: str, path: str, body: Any = None) -> Any:
        raise _not_found(500)

    monkeypatch.setattr(router, "_arm", arm)
    with pytest.raises(urllib.error.HTTPError):
        router._wait(object(), "onlineEndpoints/e")  # type: ignore[arg-type]
