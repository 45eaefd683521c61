"""TableRolloutStore without a network: retries, error mapping, table creation, lazy import.
A stub stands in for azure.data.tables.TableClient."""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import (
    HttpResponseError,
    ServiceResponseError,
)
from azure.data.tables import TableTransactionError

from shared.azure.tables import TableRolloutStore
from shared.errors import (
    ConfigurationError,
    Conflict,
    DuplicateEvent,
    StaleState,
    TransientUpstreamError,
    UpstreamError,
)
from shared.model import DecisionRecord, ModelRef, Phase, Rollout
from shared.policy import RolloutPolicy
from shared.ports import Slot, SlotWrite

T0 = datetime(2026, 1, 1, tzinfo=UTC)
_urls = itertools.count()


def http_error(status: int, code: str = "", message: str = "boom") -> HttpResponseError:
    exc = HttpResponseError(message=message)
    exc.status_code = status
    exc.error_code = code  # type: ignore[attr-defined]
    return exc


def transaction_error(status: int, code: str, index: int) -> TableTransactionError:
    exc = TableTransactionError(message=f"{index}:failed\nErrorCode:{code}")
    exc.status_code = status
    exc.error_code = code  # type: ignore[attr-defined]
    return exc


class StubClient:
    """Answers each call with the next scripted outcome (an exception to raise or a value)."""

    def __init__(self, *outcomes: Any) -> None:
        self.url = f"http://stub-{next(_urls)}/devstoreaccount1"
        self.table_name = "autocanary"
        self.outcomes = list(outcomes)
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.tables_created = 0

    def create_table(self) -> None:
        self.tables_created += 1

    def _next(self, name: str, *args: Any) -> Any:
        self.calls.append((name, args))
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def get_entity(self, pk: str, rk: str, select: Any = None) -> Any:
        return self._next("get_entity", pk, rk)

    def submit_transaction(self, operations: list[Any]) -> Any:
        return self._next("submit_transaction", operations)

    def create_entity(self, entity: Any) -> Any:
        return self._next("create_entity", entity)

    def upsert_entity(self, entity: Any, mode: Any = None) -> Any:
        """Index rows (another partition than the slot's): recorded, always accepted."""
        self.calls.append(("upsert_entity", (entity,)))
        return {}

    def close(self) -> None:
        pass


def make_store(client: StubClient, sleeps: list[float] | None = None) -> TableRolloutStore:
    record: Callable[[float], None] = (sleeps if sleeps is not None else []).append
    return TableRolloutStore(client, attempts=3, backoff=0.1, sleep=record)  # type: ignore[arg-type]


def rollout(rid: str = "r1", seq: int = 0) -> Rollout:
    return Rollout(
        id=rid,
        endpoint="ep",
        model=ModelRef("m", "1"),
        policy=RolloutPolicy(),
        phase=Phase.CANARY,
        baseline="blue",
        canary="m-v1",
        created_at=T0,
        phase_since=T0,
        seq=seq,
    )


def test_transient_errors_are_retried_with_bounded_jittered_backoff() -> None:
    client = StubClient(http_error(503), ServiceResponseError("timed out"), None)
    sleeps: list[float] = []
    assert make_store(client, sleeps).read("ep") == Slot("ep")
    assert len(client.calls) == 3
    assert len(sleeps) == 2 and 0 <= sleeps[0] <= 0.1 and 0 <= sleeps[1] <= 0.2


def test_persistent_throttling_becomes_transient_upstream_error() -> None:
    client = StubClient(*(http_error(429) for _ in range(3)))
    with pytest.raises(TransientUpstreamError, match="after 3 attempts"):
        make_store(client).read("ep")
    assert len(client.calls) == 3


def test_a_permanent_error_is_not_retried_and_keeps_its_code() -> None:
    client = StubClient(http_error(403, "AuthorizationPermissionMismatch"))
    with pytest.raises(UpstreamError) as info:
        make_store(client).read("ep")
    assert not isinstance(info.value, TransientUpstreamError)
    assert info.value.code == "AuthorizationPermissionMismatch" and len(client.calls) == 1


def test_a_stale_etag_in_a_transaction_is_stale_state_and_never_retried() -> None:
    client = StubClient(transaction_error(412, "UpdateConditionNotSatisfied", 0))
    before = Slot("ep", rollout(), None, "etag-1")
    with pytest.raises(StaleState):
        make_store(client).write(before, SlotWrite(rollout(seq=1), None))
    assert len(client.calls) == 1


def test_a_slot_created_meanwhile_is_stale_state() -> None:
    client = StubClient(transaction_error(409, "EntityAlreadyExists", 0))
    with pytest.raises(StaleState):
        make_store(client).write(Slot("ep"), SlotWrite(rollout(), None, event_id="e1"))


def test_an_event_row_that_exists_is_duplicate_event() -> None:
    client = StubClient(transaction_error(409, "EntityAlreadyExists", 1))
    with pytest.raises(DuplicateEvent):
        make_store(client).write(Slot("ep"), SlotWrite(rollout(), None, event_id="e1"))


def test_a_decision_row_that_exists_is_a_conflict() -> None:
    record = DecisionRecord(3, T0, "r1", Phase.CANARY, Phase.CANARY, 0, 0, "Held", "")
    client = StubClient(transaction_error(409, "EntityAlreadyExists", 2))
    before = Slot("ep", rollout(), None, "etag-1")
    with pytest.raises(Conflict, match="decision 3"):
        make_store(client).write(before, SlotWrite(rollout(), None, decisions=(record,)))


def test_the_write_is_one_transaction_with_the_slot_first_under_its_etag() -> None:
    client = StubClient([{"etag": "etag-2"}, {}, {}])
    before = Slot("ep", rollout(), None, "etag-1")
    after = make_store(client).write(before, SlotWrite(rollout(seq=1), None, event_id="e1"))
    [(name, (operations,))] = client.calls
    assert name == "submit_transaction"
    assert [op[0] for op in operations] == ["update", "create", "upsert"]
    assert operations[0][2]["etag"] == "etag-1"
    assert after.etag == "etag-2" and after.active == rollout(seq=1)


def test_the_table_is_created_once_per_process() -> None:
    client = StubClient(None, None)
    make_store(client).read("ep")
    make_store(client).read("ep")
    assert client.tables_created == 1


def test_an_ignored_event_recorded_before_returns_false() -> None:
    from shared.ports import IgnoredEvent

    client = StubClient(transaction_error(409, "EntityAlreadyExists", 0))
    event = IgnoredEvent("e1", ModelRef("m", "1"), "NoMatchingRule", "", T0)
    assert make_store(client).record_ignored(event) is False


@pytest.mark.parametrize("name", ["ab", "1table", "has-dash", "tables", "x" * 64])
def test_invalid_table_names_are_configuration_errors(name: str) -> None:
    with pytest.raises(ConfigurationError):
        TableRolloutStore.from_connection_string("UseDevelopmentStorage=true", name)


def test_importing_the_adapter_does_not_import_the_sdk() -> None:
    code = (
        "import sys, shared.azure.tables, shared.fakes.store; "
        "print('azure.data.tables' in sys.modules, 'azure.core' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "False"]
