"""Fixtures of the CLI tests: a fake API on loopback and a CliRunner aimed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from autocanary_cli.main import app
from tests.unit.cli.fakeapi import FakeApi


@pytest.fixture
def api() -> Iterator[FakeApi]:
    server = FakeApi().start()
    try:
        yield server
    finally:
        server.stop()


class Cli:
    """``autocanary ARGS`` against the fake API, with a home of its own (no config file)."""

    def __init__(self, url: str, home: Path) -> None:
        self.runner = CliRunner()
        self.env: dict[str, str | None] = {
            "AUTOCANARY_URL": url,
            "AUTOCANARY_KEY": "test-key",
            "AUTOCANARY_ACTOR": None,
            "AUTOCANARY_CONFIG": None,
            "XDG_CONFIG_HOME": str(home / ".config"),
            "HOME": str(home),
            "COLUMNS": "160",
        }

    def __call__(self, *args: str, **env: str | None) -> Result:
        return self.runner.invoke(app, list(args), env={**self.env, **env})


@pytest.fixture
def cli(api: FakeApi, tmp_path: Path) -> Cli:
    return Cli(api.url, tmp_path)
