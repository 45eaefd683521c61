"""The Azurite launcher's pure parts: where it looks for Azurite and what it hands out."""

from __future__ import annotations

from pathlib import Path

import pytest

from devhost import azurite


def test_a_missing_azurite_says_to_run_make_node(tmp_path: Path) -> None:
    with pytest.raises(azurite.AzuriteMissing, match="make node"):
        azurite.azurite_binary(tmp_path)


def test_azurite_is_looked_up_under_the_repo_root() -> None:
    assert Path(__file__).resolve().parents[2] == azurite.REPO_ROOT


def test_the_connection_string_points_at_the_loopback_port() -> None:
    conn = azurite.connection_string(12345)
    assert "TableEndpoint=http://127.0.0.1:12345/devstoreaccount1;" in conn
    assert "AccountName=devstoreaccount1;" in conn


def test_free_port_is_a_bindable_loopback_port() -> None:
    assert 0 < azurite.free_port() < 65536
