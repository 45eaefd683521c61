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
An event row that exists (409 on that row) is DuplicateEvent. 408/429/5xx and connection errors
or timeouts are retried a few times with exponential backoff and full jitter by the adapters'
one retry loop (:func:`shared.azure.retry.call`), then raised as TransientUpstreamError; any
other service error is UpstreamError with the service's error code. The SDK's own retry policy
is switched off so that this is the only retry loop.

azure.data.tables is imported lazily (in the constructors), never at module import.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from shared import store_index as si
from shared import store_layout as su
from shared import store_plan as sp
from shared.azure.tables_retention import TableRetention
from shared.errors import (
    ConfigurationError,
    Conflict,
    DuplicateEvent,
    InvalidInput,
    StaleState,
    TransientUpstreamError,
    UpstreamError,
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
    from azure.core.credentials import TokenCredential
    from azure.data.tables import TableClient

T = TypeVar("T")

TABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,62}$")
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})  # 409 is EntityAlreadyExists
_STALE_CODES = frozenset({"UpdateConditionNotSatisfied", "ConditionNotMet"})

# Tables created by this process: (account URL, table name). Creation happens on first use,
# once per process, never at import.
_created: set[tuple[str, str]] = set()
_created_lock = threading.Lock()


def _client_options(connection_timeout: float, read_timeout: float) -> dict[str, Any]:
    # retry_total=0: TablesRetryPolicy takes the usual azure-core retry keywords
    # (Azure/azure-sdk-for-python sdk/tables/azure-data-tables/azure/data/tables/_policies.py).
    return {
        "retry_total": 0,
        "connection_timeout": connection_timeout,
        "read_timeout": read_timeout,
    }


def _check_table_name(name: str) -> str:
    if not TABLE_NAME.match(name) or name.lower() == "tables":
        raise ConfigurationError(
            f"invalid table name {name!r}: 3-63 letters and digits, starting with a letter"
        )
    return name


class TableRolloutStore(TableRetention):
    """RolloutStore on one Azure Table (default name ``autocanary``)."""

    def __init__(
        self,
        client: TableClient,
        *,
        attempts: int = 3,
        backoff: float = 0.25,
        max_backoff: float = 4.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if attempts < 1:
            raise ConfigurationError("attempts must be >= 1")
        self._now = clock or si.utcnow
        self._indexed = False
        self._client = client
        self._attempts = attempts
        self._sleep = sleep
        from shared.azure.retry import RetryPolicy

        # Bounded by attempts; the sleep budget allows every backoff of them.
        self._policy = RetryPolicy(
            attempts=attempts,
            base_delay=backoff,
            max_delay=max_backoff,
            budget=max_backoff * attempts,
        )

    @classmethod
    def from_connection_string(
        cls,
        connection_string: str,
        table_name: str = su.DEFAULT_TABLE,
        *,
        connection_timeout: float = 10.0,
        read_timeout: float = 30.0,
        **options: Any,
    ) -> TableRolloutStore:
        """For Azurite and storage accounts with shared keys."""
        from azure.data.tables import TableClient

        try:
            client = TableClient.from_connection_string(
                connection_string,
                table_name=_check_table_name(table_name),
                **_client_options(connection_timeout, read_timeout),
            )
        except ValueError as exc:
            raise ConfigurationError(f"invalid Table Storage connection string: {exc}") from exc
        return cls(client, **options)

    @classmethod
    def from_account_url(
        cls,
        account_url: str,
        credential: TokenCredential,
        table_name: str = su.DEFAULT_TABLE,
        *,
        connection_timeout: float = 10.0,
        read_timeout: float = 30.0,
        **options: Any,
    ) -> TableRolloutStore:
        """For Azure with a managed identity: ``https://<account>.table.core.windows.net``."""
        from azure.data.tables import TableClient

        try:
            client = TableClient(
                endpoint=account_url,
                table_name=_check_table_name(table_name),
                credential=credential,
                **_client_options(connection_timeout, read_timeout),
            )
        except ValueError as exc:
            raise ConfigurationError(f"invalid Table Storage account URL: {exc}") from exc
        return cls(client, **options)

    @property
    def table_name(self) -> str:
        return str(self._client.table_name)

    def close(self) -> None:
        self._client.close()

    # ----------------------------------------------------------------------------- plumbing

    def _ensure_table(self) -> None:
        key = (str(self._client.url), self.table_name)
        if key in _created:
            return
        with _created_lock:
            if key in _created:
                return
            from azure.core.exceptions import AzureError, ResourceExistsError

            try:
                self._call(self._client.create_table)
            except ResourceExistsError:
                pass
            except AzureError as exc:
                raise _upstream(exc) from exc
            _created.add(key)

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one service call through the adapters' one retry loop
        (:func:`shared.azure.retry.call`): transient failures are retried with backoff and
        jitter, then raised as TransientUpstreamError. Non-transient azure.core errors
        propagate unchanged for the caller to map."""
        from shared.azure import retry

        try:
            return retry.call(
                lambda: fn(*args, **kwargs),
                "Table Storage",
                policy=self._policy,
                sleep=self._sleep,
                map_errors=False,
                transient=_transient,
            )
        except Exception as exc:
            if not _transient(exc):
                raise
            raise TransientUpstreamError(
                f"Table Storage unavailable after {self._attempts} attempts: {_brief(exc)}",
                details={"status": getattr(exc, "status_code", None)},
            ) from exc

    def _get(self, partition: str, row: str, select: list[str] | None = None) -> Any | None:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        self._ensure_table()
        try:
            return self._call(self._client.get_entity, partition, row, select=select)
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise _upstream(exc) from exc

    def _query(
        self,
        query_filter: str,
        parameters: Mapping[str, Any],
        select: list[str] | None = None,
    ) -> Iterator[Any]:
        """Entities matching a parameterised filter, paged. Parameters are substituted by the
        SDK with OData quoting (``@name`` words; see _parameter_filter_substitution in
        Azure/azure-sdk-for-python sdk/tables/azure-data-tables/azure/data/tables/_serialize.py),
        never formatted into the filter here."""
        from azure.core.exceptions import AzureError

        self._ensure_table()
        pages = self._call(
            self._client.query_entities,
            query_filter,
            parameters=dict(parameters),
            select=select,
            results_per_page=1000,
        ).by_page()
        while True:
            try:
                page = self._call(next, pages)
            except StopIteration:
                return
            except AzureError as exc:
                raise _upstream(exc) from exc
            yield from page

    def _page(
        self,
        query_filter: str,
        parameters: Mapping[str, Any],
        limit: int,
        continuation: Mapping[str, str] | None,
        select: list[str] | None = None,
    ) -> tuple[list[Any], dict[str, str] | None]:
        """One service page of at most ``limit`` entities from ``continuation``, and the key
        the next page starts from (None at the end)."""
        from azure.core.exceptions import AzureError

        self._ensure_table()
        pager = self._call(
            self._client.query_entities,
            query_filter,
            parameters=dict(parameters),
            select=select,
            results_per_page=limit,
        )
        # The SDK types the token as str but hands out and accepts the {PartitionKey, RowKey}
        # dict (azure/data/tables/_deserialize.py, _extract_continuation_token).
        token_in: Any = dict(continuation) if continuation else None
        pages = pager.by_page(continuation_token=token_in)
        try:
            page = list(self._call(next, pages))
        except StopIteration:
            return [], None
        except AzureError as exc:
            raise _upstream(exc) from exc
        token = getattr(pages, "continuation_token", None)
        return page, dict(token) if token else None

    def _delete(self, partition: str, row: str, etag: str | None = None) -> bool:
        """Delete one row (under ``etag`` if given); False if it was gone or changed."""
        from azure.core import MatchConditions
        from azure.core.exceptions import AzureError, ResourceModifiedError, ResourceNotFoundError

        options: dict[str, Any] = {}
        if etag is not None:
            options = {"etag": etag, "match_condition": MatchConditions.IfNotModified}
        try:
            self._call(self._client.delete_entity, partition, row, **options)
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        except AzureError as exc:
            if getattr(exc, "status_code", None) in (404, 412):
                return False
            raise _upstream(exc) from exc
        return True

    def _transact(self, operations: list[Any]) -> None:
        from azure.core.exceptions import AzureError
        from azure.data.tables import TableTransactionError

        try:
            self._call(self._client.submit_transaction, operations)
        except TableTransactionError as exc:
            raise _upstream(exc) from exc
        except AzureError as exc:
            raise _upstream(exc) from exc

    def _upsert(self, entity: Mapping[str, Any]) -> None:
        from azure.core.exceptions import AzureError
        from azure.data.tables import UpdateMode

        self._ensure_table()
        try:
            self._call(self._client.upsert_entity, dict(entity), mode=UpdateMode.REPLACE)
        except AzureError as exc:
            raise _upstream(exc) from exc

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
            raise _upstream(exc) from exc
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
            return InvalidInput(f"the write to {before.endpoint!r} is too large: {_brief(exc)}")
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
        if _transient(exc):
            return TransientUpstreamError(f"Table Storage unavailable: {_brief(exc)}")
        return _upstream(exc)

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
            raise _upstream(exc) from exc
        except AzureError as exc:
            raise _upstream(exc) from exc
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


def _transient(exc: BaseException) -> bool:
    from azure.core.exceptions import (
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )

    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return True  # connection failures and timeouts
    if isinstance(exc, HttpResponseError):
        return exc.status_code in TRANSIENT_STATUS
    return False


def _brief(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc)
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _upstream(exc: BaseException) -> UpstreamError:
    if _transient(exc):
        return TransientUpstreamError(f"Table Storage unavailable: {_brief(exc)}")
    code = getattr(exc, "error_code", None)
    status = getattr(exc, "status_code", None)
    return UpstreamError(
        f"Table Storage error: {_brief(exc)}",
        code=str(code) if code else None,
        details={"status": status} if status is not None else None,
    )
