"""Fixtures shared by the dashboard's browser tests: the fixture server and one Chromium per
module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests import dashboard_support as ds


@pytest.fixture(scope="module")
def server() -> Iterator[ds.DashboardServer]:
    """The page through the app's handler, the API from the fixture documents."""
    with ds.serving() as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, driven by Playwright."""
    with ds.chromium() as launched:
        yield launched
