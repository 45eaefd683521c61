"""The handler tests run with the HTTP API key installed (``AUTOCANARY_API_KEYS``)."""

from __future__ import annotations

import pytest

from tests.engine_support import API_KEY


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AUTOCANARY_API_KEYS", API_KEY)
    monkeypatch.delenv("WEBSITE_AUTH_ENABLED", raising=False)
    return API_KEY
