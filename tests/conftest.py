"""Shared fixtures: Azurite's table service (one per test session) and fresh table names."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from devhost.azurite import AzuriteTables


@pytest.fixture(scope="session")
def azurite() -> Iterator[str]:
    """Connection string of an in-memory Azurite table service on a free loopback port."""
    server = AzuriteTables()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def table_name() -> str:
    """A table name no other test uses (letters and digits, starting with a letter)."""
    return "t" + uuid.uuid4().hex[:20]
