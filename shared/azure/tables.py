"""The rollout store on Azure Table Storage (azure-data-tables).

Rows and limits are described in :mod:`shared.store_layout`; this module only talks to the
service. A slot write is ONE entity group transaction in the endpoint's partition: the slot row
updated under its ETag (``IfNotModified``) or created when it did not exist, the event inbox row
created, rollout rows upserted and decision rows created. The service applies all or nothing.
The index row of busy slots (another partition) is upserted before a write that makes the slot
busy and removed, under the ETag read before the transaction, after one that makes it idle.

Errors: a stale ETag (412) or a slot created meanwhile (409 on the slot row) is StaleState and is
never retried here: the caller re-reads and re-decides
(:func:`shared.store_plan.retry_on_stale`).
An event row that exists (409 on that row) is DuplicateEvent. Transient failures and every other
service error are handled in :mod:`shared.azure.tables_access` (the client, the one retry loop,
the error mapping).

azure.data.tables is imported lazily (in the constructors), never at module import.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared import store_index as si
from shared import store_layout as su
from shared import store_plan as sp
from shared.azure.tables_access import brief, transient, upstream
from shared.azure.tables_retention import TableRetention
from shared.errors import (
    Conflict,
    DuplicateEvent,
    InvalidInput,
    StaleState,
    TransientUpstreamError,
)
from shared.model import DecisionRecord, Rollout
from shared.ports import (
    IgnoredEvent,
    IndexEntry,
    Page,
    RolloutQuery,
    Slot,
    SlotWrite,
)

if TYPE_CHECKING:
    from azure.data.tables import TableClient

_STALE_CODES = frozenset({"UpdateConditionNotSatisfied", "ConditionNotMet"})


class TableRolloutStore(TableRetention):
    """RolloutStore on one Azure Table (default name ``autocanary``)."""

    def __init__(
        self,
        client: TableClient,
        *,
        clock: Callable[[], datetime] | None = None,
        **access: Any,
    ) -> None:
        """``access``: the retry options of :class:`TableAccess` (attempts, backoff,
        max_backoff, sleep)."""
        super().__init__(client, **access)
        self._now = clock or si.utcnow
        self._indexed = False

    # ----------------------------------------------------------------------------- RolloutStore

    def read(self, endpoint: str) -> Slot:
        entity = self._get(su.partition_key(endpoint), su.SLOT_ROW)
        if entity is None:
            return Slot(endpoint=endpoint)
        return su.slot_from_entity(endpoint, entity, str(entity.metadata["etag"]))

    def write(self, before: Slot, change: SlotWrite) -> Slot:
        if sp.is_noop(before, change):
            return before
        plan = sp.plan_write(before, change, self._now())
        was_busy = si.slot_busy(before)
        if plan.busy and not was_busy:
            self._upsert(si.index_entity(before.endpoint, self._now()))
        index_etag: str | None = None
        if was_busy and not plan.busy:
            found = self._get(si.ACTIVE_PARTITION, plan.partition, select=["Endpoint"])
            index_etag = str(found.metadata["etag"]) if found is not None else None
        from azure.core import MatchConditions
        from azure.core.exceptions import AzureError
        from azure.data.tables import TableTransactionError, UpdateMode

        # Operation tuples (name, entity[, kwargs]) as documented on TableClient.submit_transaction
        # (Azure/azure-sdk-for-python sdk/tables/azure-data-tables/azure/data/tables/
        # _table_client.py); "update" takes etag/match_condition and mode
        # (.../azure/data/tables/_table_batch.py, TableBatchOperations.update).
        operations: list[Any] = []
        if before.etag is None:
            operations.append(("create", plan.slot))
        else:
            operations.append(
                (
                    "update",
                    plan.slot,
                    {
                        "mode": UpdateMode.REPLACE,
                        "etag": before.etag,
                        "match_condition": MatchConditions.IfNotModified,
                    },
                )
            )
        if plan.event is not None:
            operations.append(("create", plan.event))
        operations.extend(("upsert", row, {"mode": UpdateMode.REPLACE}) for row in plan.rollouts)
        operations.extend(("create", row) for row in plan.decisions)

        self._ensure_table()
        try:
            results = self._call(self._client.submit_transaction, operations)
        except TableTransactionError as exc:
            raise self._transaction_error(exc, before, plan) from exc
        except AzureError as exc:
            raise upstream(exc) from exc
        if index_etag is not None:
            self._delete(si.ACTIVE_PARTITION, plan.partition, index_etag)
        etag = results[0].get("etag") if results else None
        if not etag:
            # The service always returns the new ETag of each written row; if a proxy dropped
            # it, read it back rather than hand out a slot that can never be written again.
            return self.read(before.endpoint)
        return sp.written_slot(before, change, str(etag))

    def _transaction_error(self, exc: Any, before: Slot, plan: sp.WritePlan) -> Exception:
        """Which operation failed decides the error: the service reports its index
        (TableTransactionError.index, parsed from the "<index>:<message>" error text;
        Azure/azure-sdk-for-python sdk/tables/azure-data-tables/azure/data/tables/_error.py)."""
        status = getattr(exc, "status_code", None)
        code = str(getattr(exc, "error_code", "") or "")
        index = int(getattr(exc, "index", 0) or 0)
        stale = StaleState(f"the slot of {before.endpoint!r} changed since it was read")
        if status == 412 or code in _STALE_CODES:
            return stale
        if status == 404 and code != "TableNotFound":
            return stale  # the slot row vanished under an update
        if status == 413 or code == "RequestBodyTooLarge":
            return InvalidInput(
                f"the write to {before.endpoint!r} is too large: {brief(exc)}",
                details={"store_limit": True},
            )
        if status == 409:
            if index == 0 and before.etag is None:
                return stale
            if index == plan.event_index:
                return DuplicateEvent(
                    f"event {plan.event['EventId']!r} was already recorded for {before.endpoint!r}"
                    if plan.event
                    else "event already recorded",
                    details={"endpoint": before.endpoint},
                )
            if index >= plan.first_decision_index and plan.decisions:
                row = plan.decisions[
                    min(index - plan.first_decision_index, len(plan.decisions) - 1)
                ]
                return Conflict(
                    f"decision {row['Seq']} of rollout {row['RolloutId']!r} is already recorded"
                )
            # Index not reported: tell duplicate from stale by looking.
            if plan.event is not None and self._get(plan.partition, plan.event["RowKey"]):
                return DuplicateEvent(
                    f"event {plan.event['EventId']!r} was already recorded for {before.endpoint!r}",
                    details={"endpoint": before.endpoint},
                )
            return stale
        if transient(exc):
            return TransientUpstreamError(f"Table Storage unavailable: {brief(exc)}")
        return upstream(exc)

    def event_seen(self, endpoint: str | None, event_id: str) -> bool:
        partition = su.IGNORED_PARTITION if endpoint is None else su.partition_key(endpoint)
        return self._get(partition, su.event_row(event_id), select=["EventId"]) is not None

    def record_ignored(self, event: IgnoredEvent) -> bool:
        claim, data = si.ignored_rows(event)
        from azure.core.exceptions import AzureError
        from azure.data.tables import TableTransactionError

        self._ensure_table()
        try:
            self._call(self._client.submit_transaction, [("create", claim), ("create", data)])
        except TableTransactionError as exc:
            if getattr(exc, "status_code", None) == 409:
                return False
            raise upstream(exc) from exc
        except AzureError as exc:
            raise upstream(exc) from exc
        return True

    def active_index(self) -> list[IndexEntry]:
        self._index_once()
        rows = self._query(
            "PartitionKey eq @pk", {"pk": si.ACTIVE_PARTITION}, ["Endpoint", "Since"]
        )
        return [si.index_from_entity(row, str(row.metadata["etag"])) for row in rows]

    def active_endpoints(self) -> list[str]:
        return sorted(e.endpoint for e in self.active_index())

    def unindex(self, entry: IndexEntry, slot: Slot) -> bool:
        if si.slot_busy(slot) or not si.index_expired(entry, self._now()):
            return False
        return self._delete(si.ACTIVE_PARTITION, su.partition_key(entry.endpoint), entry.etag)

    def _index_once(self) -> None:
        """Index a table written before the index existed (one scan, once), then mark it."""
        if self._indexed:
            return
        if self._get(si.META_PARTITION, si.INDEX_MARKER_ROW) is None:
            now = self._now()
            busy = self._query(
                "RowKey eq @row and Busy eq @busy", {"row": su.SLOT_ROW, "busy": True}, ["Endpoint"]
            )
            for row in list(busy):
                self._upsert(si.index_entity(str(row["Endpoint"]), now))
            low, high = su.prefix_range(su.EVENT_PREFIX)
            legacy = self._query(
                "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
                {"pk": su.IGNORED_PARTITION, "low": low, "high": high},
            )
            for row in list(legacy):
                if "AtRow" in row:
                    continue
                claim, data = si.ignored_rows(su.ignored_from_entity(row))
                self._upsert(data)
                self._upsert(claim)
            self._upsert({"PartitionKey": si.META_PARTITION, "RowKey": si.INDEX_MARKER_ROW})
        self._indexed = True

    def list_rollouts(self, query: RolloutQuery) -> list[Rollout]:
        flt = sp.rollout_filter(query)
        low, high = su.prefix_range(su.ROLLOUT_PREFIX)
        clauses = ["RowKey ge @p0", "RowKey lt @p1"]
        parameters: dict[str, Any] = {"p0": low, "p1": high}
        for i, (column, value) in enumerate(flt.conditions, start=2):
            clauses.append(f"{column} eq @p{i}")
            parameters[f"p{i}"] = value
        rows = self._query(" and ".join(clauses), parameters)
        return sp.newest_rollouts((su.rollout_from_entity(row) for row in rows), flt.limit)

    def decisions(self, endpoint: str, rollout_id: str) -> list[DecisionRecord]:
        low, high = su.prefix_range(su.decision_prefix(rollout_id))
        rows = self._query(
            "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
            {"pk": su.partition_key(endpoint), "low": low, "high": high},
        )
        records = [su.decision_from_entity(row) for row in rows]
        return sorted(records, key=lambda d: d.seq)

    def page_decisions(
        self,
        endpoint: str,
        rollout_id: str,
        limit: int = 100,
        continuation: str | None = None,
        from_seq: int = 1,
    ) -> Page[DecisionRecord]:
        si.check_page_limit(limit)
        low = su.decision_row(rollout_id, max(1, from_seq))
        high = su.prefix_range(su.decision_prefix(rollout_id))[1]
        rows, token = self._page(
            "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
            {"pk": su.partition_key(endpoint), "low": low, "high": high},
            limit,
            si.decode_token(continuation),
        )
        return Page([su.decision_from_entity(row) for row in rows], si.encode_token(token))

    def get_rollout(self, endpoint: str, rollout_id: str) -> Rollout | None:
        entity = self._get(su.partition_key(endpoint), su.rollout_row(rollout_id))
        return None if entity is None else su.rollout_from_entity(entity)

    def page_rollouts(self, query: RolloutQuery, continuation: str | None = None) -> Page[Rollout]:
        flt = sp.rollout_filter(query)
        si.check_page_limit(flt.limit)
        start = si.decode_token(continuation)
        low, high = su.prefix_range(su.ROLLOUT_PREFIX)
        clauses = ["RowKey ge @p0", "RowKey lt @p1"]
        parameters: dict[str, Any] = {"p0": low, "p1": high}
        for i, (column, value) in enumerate(flt.conditions, start=2):
            clauses.append(f"{column} eq @p{i}")
            parameters[f"p{i}"] = value
        rows, token = self._page(" and ".join(clauses), parameters, flt.limit, start)
        return Page([su.rollout_from_entity(row) for row in rows], si.encode_token(token))

    def ignored_events(self, limit: int = 100) -> list[IgnoredEvent]:
        sp.newest_ignored((), limit)  # validates limit before any I/O
        return self.page_ignored(min(limit, si.MAX_PAGE)).items

    def page_ignored(self, limit: int = 100, continuation: str | None = None) -> Page[IgnoredEvent]:
        si.check_page_limit(limit)
        start = si.decode_token(continuation)
        self._index_once()
        low, high = su.prefix_range(si.IGNORED_AT_PREFIX)
        rows, token = self._page(
            "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
            {"pk": su.IGNORED_PARTITION, "low": low, "high": high},
            limit,
            start,
        )
        return Page([su.ignored_from_entity(row) for row in rows], si.encode_token(token))
