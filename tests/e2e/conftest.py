"""One local stack for the e2e tests (Azurite, emulator, devhost serving function_app)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from e2e_world import World, short_policy

from localstack.options import StackOptions
from localstack.stack import Stack
from localstack.watchers import ReconcilePump
from localstack.workspace import register_code, subscribe_app


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The running stack, subscribed to ModelRegistered, reconciled every second."""
    state = tmp_path_factory.mktemp("e2e-stack")
    policy = short_policy(state / "policy.yaml")
    options = StackOptions(policy_file=policy, bucket_seconds=2.0, state_dir=state / "stack")
    with Stack(options) as stack:
        code = register_code(stack)
        subscribe_app(stack)
        assert stack.app.api("GET", "rollouts", timeout=120).status == 200  # builds the engine
        with ReconcilePump(stack.app, interval=1.0, max_seconds=600):
            yield World(stack, code)
