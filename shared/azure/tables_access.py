"""Table Storage access for the rollout store (azure-data-tables): the client, the table made
on first use, and every service call through the adapters' one retry loop, with the service's
errors mapped to ours. :class:`TableAccess` is the base of the store
(:class:`shared.azure.tables.TableRolloutStore`) and of its retention
(:class:`shared.azure.tables_retention.TableRetention`).

Errors: 408/429/5xx and connection errors or timeouts are retried a few times with exponential
backoff and full jitter by :func:`shared.azure.retry.call`, then raised as
TransientUpstreamError; any other service error is UpstreamError with the service's error code.
The SDK's own retry policy is switched off so that this is the only retry loop.

azure.data.tables is imported lazily (in the constructors and calls), never at module import.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Self, TypeVar

from shared import store_layout as su
from shared.errors import ConfigurationError, TransientUpstreamError, UpstreamError
from shared.store_index import chunks

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.data.tables import TableClient

T = TypeVar("T")

TABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,62}$")
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})  # 409 is EntityAlreadyExists

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


# Service pages one read follows to fill its page (each is a round trip of at most 5 s).
MAX_SERVICE_PAGES = 10


class TableAccess:
    """One Azure Table and the calls the store makes on it (see the module docstring)."""

    def __init__(
        self,
        client: TableClient,
        *,
        attempts: int = 3,
        backoff: float = 0.25,
        max_backoff: float = 4.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if attempts < 1:
            raise ConfigurationError("attempts must be >= 1")
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
    ) -> Self:
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
    ) -> Self:
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
                raise upstream(exc) from exc
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
                transient=transient,
            )
        except Exception as exc:
            if not transient(exc):
                raise
            raise TransientUpstreamError(
                f"Table Storage unavailable after {self._attempts} attempts: {brief(exc)}",
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
            raise upstream(exc) from exc

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
                raise upstream(exc) from exc
            yield from page

    def _page(
        self,
        query_filter: str,
        parameters: Mapping[str, Any],
        limit: int,
        continuation: Mapping[str, str] | None,
        select: list[str] | None = None,
    ) -> tuple[list[Any], dict[str, str] | None]:
        """At most ``limit`` entities from ``continuation``, and the key the next page starts
        from (None at the end).

        A service page can be short, even empty, and still carry a continuation: a query
        stops at 1,000 entities, after 5 seconds, or at a partition boundary, and "it is
        possible for a query to return no results but to still return a continuation header"
        (learn.microsoft.com/rest/api/storageservices/query-timeout-and-pagination). So the
        service pages are followed until ``limit`` entities are in hand or none are left, at
        most MAX_SERVICE_PAGES of them: a caller that reads one page (the detail view's last
        decisions, a chart's) is never silently cut short."""
        from azure.core.exceptions import AzureError

        self._ensure_table()
        items: list[Any] = []
        # The SDK types the token as str but hands out and accepts the {PartitionKey, RowKey}
        # dict (azure/data/tables/_deserialize.py, _extract_continuation_token).
        token: Any = dict(continuation) if continuation else None
        for _ in range(MAX_SERVICE_PAGES):
            pager = self._call(
                self._client.query_entities,
                query_filter,
                parameters=dict(parameters),
                select=select,
                results_per_page=limit - len(items),
            )
            pages = pager.by_page(continuation_token=token)
            try:
                items.extend(self._call(next, pages))
            except StopIteration:
                return items, None
            except AzureError as exc:
                raise upstream(exc) from exc
            next_token = getattr(pages, "continuation_token", None)
            token = dict(next_token) if next_token else None
            if token is None or len(items) >= limit:
                break
        return items, token

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
            raise upstream(exc) from exc
        return True

    def _transact(self, operations: list[Any]) -> None:
        from azure.data.tables import TableTransactionError

        try:
            self._transact_raw(operations)
        except TableTransactionError as exc:
            raise upstream(exc) from exc

    def _transact_raw(self, operations: list[Any]) -> None:
        """One entity group transaction; TableTransactionError is raised as it is (the caller
        reads which operation failed), any other Azure error as an UpstreamError."""
        from azure.core.exceptions import AzureError
        from azure.data.tables import TableTransactionError

        try:
            self._call(self._client.submit_transaction, operations)
        except TableTransactionError:
            raise
        except AzureError as exc:
            raise upstream(exc) from exc

    def _delete_rows(self, partition: str, keys: Sequence[str]) -> None:
        """Delete these rows of one partition, up to 100 to a transaction. A transaction
        refused 404 has a row already gone (an earlier try of this very batch committed and
        its answer was lost, so the retry loop sent it again; or another purge got there
        first), and an entity group transaction fails as a whole: that batch is deleted row
        by row instead, a row already gone being no error."""
        from azure.data.tables import TableTransactionError

        for batch in chunks(list(keys)):
            try:
                self._transact_raw(
                    [("delete", {"PartitionKey": partition, "RowKey": k}) for k in batch]
                )
            except TableTransactionError as exc:
                if getattr(exc, "status_code", None) != 404:
                    raise upstream(exc) from exc
                for key in batch:
                    self._delete(partition, key)

    def _upsert(self, entity: Mapping[str, Any]) -> None:
        from azure.core.exceptions import AzureError
        from azure.data.tables import UpdateMode

        self._ensure_table()
        try:
            self._call(self._client.upsert_entity, dict(entity), mode=UpdateMode.REPLACE)
        except AzureError as exc:
            raise upstream(exc) from exc


def transient(exc: BaseException) -> bool:
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


def brief(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc)
    return text.splitlines()[0][:300] if text else type(exc).__name__


def upstream(exc: BaseException) -> UpstreamError:
    if transient(exc):
        return TransientUpstreamError(f"Table Storage unavailable: {brief(exc)}")
    code = getattr(exc, "error_code", None)
    status = getattr(exc, "status_code", None)
    return UpstreamError(
        f"Table Storage error: {brief(exc)}",
        code=str(code) if code else None,
        details={"status": status} if status is not None else None,
    )
