"""TableAccess._page fills a page across short service pages (Table Storage may answer a query
with fewer entities than asked, even none, and still a continuation)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from shared.azure.tables_access import MAX_SERVICE_PAGES, TableAccess


class ShortPages:
    """A table of ``rows`` entities whose service pages hold at most ``cap`` entities, with
    an empty page (and a continuation) first when ``empty_first``."""

    url = "http://stub-paging/devstoreaccount1"
    table_name = "autocanary"

    def __init__(self, rows: int, cap: int, empty_first: bool = False) -> None:
        self.rows = [{"RowKey": f"r{i:04d}"} for i in range(rows)]
        self.cap = cap
        self.empty_first = empty_first
        self.requests = 0

    def create_table(self) -> None:
        pass

    def query_entities(self, _filter: str, **kw: Any) -> Any:
        service = self

        class Pager:
            def by_page(self, continuation_token: Any = None) -> Any:
                return Pages(service, kw["results_per_page"], continuation_token)

        return Pager()


class Pages:
    def __init__(self, service: ShortPages, size: int, token: Any) -> None:
        self.service, self.size, self.token = service, size, token
        self.continuation_token: dict[str, str] | None = None

    def __iter__(self) -> Iterator[list[dict[str, str]]]:
        return self

    def __next__(self) -> list[dict[str, str]]:
        s = self.service
        s.requests += 1
        start = int(self.token["RowKey"][1:]) if self.token else 0
        if s.empty_first and self.token is None:
            self.continuation_token = {"PartitionKey": "p", "RowKey": "r0000"}
            return []
        if start >= len(s.rows):
            raise StopIteration
        end = min(start + min(self.size, s.cap), len(s.rows))
        more = end < len(s.rows)
        self.continuation_token = {"PartitionKey": "p", "RowKey": f"r{end:04d}"} if more else None
        return s.rows[start:end]


def page(service: ShortPages, limit: int, token: dict[str, str] | None = None) -> Any:
    return TableAccess(service)._page("f", {}, limit, token)  # type: ignore[arg-type]


def test_short_service_pages_are_followed_until_the_page_is_full() -> None:
    service = ShortPages(rows=20, cap=3)
    items, token = page(service, 10)
    assert [r["RowKey"] for r in items] == [f"r{i:04d}" for i in range(10)]
    assert token == {"PartitionKey": "p", "RowKey": "r0010"}


def test_an_empty_page_with_a_continuation_is_not_the_end() -> None:
    items, token = page(ShortPages(rows=5, cap=100, empty_first=True), 10)
    assert len(items) == 5 and token is None


def test_the_last_page_ends_without_a_continuation() -> None:
    items, token = page(ShortPages(rows=12, cap=3), 10, {"PartitionKey": "p", "RowKey": "r0010"})
    assert [r["RowKey"] for r in items] == ["r0010", "r0011"] and token is None


def test_service_pages_followed_are_bounded_and_the_rest_stays_reachable() -> None:
    service = ShortPages(rows=100, cap=1)
    items, token = page(service, 50)
    assert len(items) == MAX_SERVICE_PAGES and service.requests == MAX_SERVICE_PAGES
    assert token == {"PartitionKey": "p", "RowKey": f"r{MAX_SERVICE_PAGES:04d}"}
