"""The devhost serving tests/integration/devhost/apps/sample_app.py, one per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from devhost_harness import DevhostProcess, start_devhost
from sample_host import KEY


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevhostProcess]:
    workdir = tmp_path_factory.mktemp("devhost-sample")
    record = workdir / "record.jsonl"
    settings = {
        "IsEncrypted": False,
        "Values": {
            "FUNCTIONS_WORKER_RUNTIME": "python",
            "DEVHOST_FUNCTION_KEY": KEY,
            "DEVHOST_TEST_RECORD": str(record),
            "DEVHOST_TEST_SCHEDULE": "0 0 0 1 1 *",
            "DEVHOST_TEST_GREETING": "from-settings",
            "DEVHOST_TEST_ONLY_SETTINGS": "settings-value",
        },
    }
    proc = start_devhost(
        workdir,
        ["--app", "sample_app:app"],
        settings=settings,
        env={"DEVHOST_TEST_GREETING": "from-environment"},
    )
    try:
        yield proc
    finally:
        proc.stop()
