"""The connection file holds the emulator's admin key: only its owner may read it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from emulator.connection import Connection, load_connection


def connection() -> Connection:
    return Connection(
        arm_url="https://127.0.0.1:1/",
        scoring_url="https://127.0.0.1:1/endpoints/",
        metrics_url="https://127.0.0.1:1/",
        logs_url="https://127.0.0.1:1/",
        cert_path="cert.pem",
        subscription="s",
        resource_group="rg",
        workspace="ws",
        location="here",
        admin_key="secret",
        log_analytics_workspace_id="la",
        bucket_seconds=60.0,
        pid=1,
        state_dir=".",
    )


def test_connection_file_is_created_owner_only_even_with_a_permissive_umask(
    tmp_path: Path,
) -> None:
    """Mode 0600 at creation, whatever the umask (never world-readable, not even briefly)."""
    old = os.umask(0)
    try:
        connection().write(tmp_path / "connection.json")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "connection.json").stat().st_mode)
    assert mode == 0o600
    assert load_connection(tmp_path).admin_key == "secret"


def test_rewriting_over_a_stale_temporary_file_still_gives_owner_only_mode(
    tmp_path: Path,
) -> None:
    """A world-readable leftover connection.tmp is replaced, not reused with its mode."""
    stale = tmp_path / "connection.tmp"
    stale.write_text("{}")
    stale.chmod(0o644)
    connection().write(tmp_path / "connection.json")
    assert stat.S_IMODE((tmp_path / "connection.json").stat().st_mode) == 0o600
    assert not stale.exists()
