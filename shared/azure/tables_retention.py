"""Retention for the Table Storage rollout store: bounded batches of history deleted.

The base of :class:`shared.azure.tables.TableRolloutStore`, over its service calls
(:class:`shared.azure.tables_access.TableAccess`): ignored events by a range query on their
time-ordered rows; ended rollouts by a filtered scan that resumes, call after call, from a
cursor kept in ``~meta/retention``, each rollout's decisions deleted before its row (a crash
leaves the row to be found again); then the event inbox rows of the partitions touched.
Deletes are entity group transactions of at most 100 rows of one partition; one refused
because a row is already gone (its own earlier try committed, its answer lost) goes row by row.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared import store_index as si
from shared import store_layout as su
from shared.azure.tables_access import TableAccess
from shared.ports import PurgeReport


class TableRetention(TableAccess):
    """Bounded purges of history (see the module docstring), over :class:`TableAccess`."""

    def purge(self, cutoff: datetime, max_rows: int = si.PURGE_ROWS) -> PurgeReport:
        """Ignored events by a range query on their time-ordered rows; ended rollouts by a
        filtered scan that resumes, call after call, from a cursor kept in ``~meta``."""
        flt = si.purge_filter(cutoff, max_rows)
        budget = flt.max_rows
        ignored, done = self._purge_ignored(flt, budget // 2)
        budget -= 2 * ignored
        rollouts = decisions = events = 0
        meta = self._get(si.META_PARTITION, si.RETENTION_ROW)
        cursor = si.decode_token(str(meta["Cursor"])) if meta and meta.get("Cursor") else None
        touched: set[str] = set()
        for _ in range(si.PURGE_PAGES):
            if budget <= 0:
                done = False
                break
            rows, nxt = self._page(
                "RowKey ge @low and RowKey lt @high and Active eq @active and UpdatedAt lt @cut",
                {
                    "low": su.ROLLOUT_PREFIX,
                    "high": su.prefix_range(su.ROLLOUT_PREFIX)[1],
                    "active": False,
                    "cut": flt.cutoff,
                },
                min(100, budget),
                cursor,
                select=["PartitionKey", "RowKey", "RolloutId", "Active", "UpdatedAt"],
            )
            finished_page = True
            for row in rows:
                if not flt.expired_rollout(row) or str(row["PartitionKey"]).startswith("~"):
                    continue
                n, whole = self._purge_rollout(str(row["PartitionKey"]), row, budget)
                decisions += n
                if not whole:  # its decisions in part, its row left: the next call goes on
                    budget -= n
                    finished_page = False
                    break
                rollouts += 1
                budget -= n + 1
                touched.add(str(row["PartitionKey"]))
            if not finished_page:
                done = False
                break  # the cursor stays at this page's start: its rest is read again
            cursor = nxt
            if cursor is None:
                break
        else:
            done = done and cursor is None
        for pk in sorted(touched):
            if budget <= 0:
                done = False
                break
            n = self._purge_inbox(pk, flt, budget)
            events += n
            budget -= n
        self._upsert(
            {
                "PartitionKey": si.META_PARTITION,
                "RowKey": si.RETENTION_ROW,
                "Cursor": si.encode_token(cursor) or "",
            }
        )
        return PurgeReport(rollouts, decisions, events, ignored, done and cursor is None)

    def _purge_ignored(self, flt: si.PurgeFilter, pairs: int) -> tuple[int, bool]:
        if pairs < 1:
            return 0, False
        low, high = si.ignored_older_than(flt.cutoff)
        rows, token = self._page(
            "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
            {"pk": su.IGNORED_PARTITION, "low": low, "high": high},
            min(pairs, si.MAX_PAGE),
            None,
            select=["RowKey", "EventId"],
        )
        # each ignored event with its claim row, in the same transaction; the claim first, so
        # that deleted one by one (a batch refused 404) a crash leaves the event row, which the
        # next purge finds again, never a claim row nothing would find
        keys = [k for r in rows for k in (su.event_row(str(r["EventId"])), str(r["RowKey"]))]
        self._delete_rows(su.IGNORED_PARTITION, keys)
        return len(rows), token is None

    def _purge_rollout(self, pk: str, row: Mapping[str, Any], budget: int) -> tuple[int, bool]:
        """Delete one ended rollout's decisions, then its row (last, so that a crash leaves it
        to be found again): (decisions deleted, whether the row went too). One with more
        decisions than ``budget`` loses that many of them, and keeps its row for the next
        call (a rollout that never fit a call would hold the cursor, and everything after it,
        for good)."""
        low, high = su.prefix_range(su.decision_prefix(str(row["RolloutId"])))
        keys = [
            str(d["RowKey"])
            for d in self._query(
                "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
                {"pk": pk, "low": low, "high": high},
                ["RowKey"],
            )
        ]
        whole = len(keys) + 1 <= budget
        keys = keys[:budget] if not whole else [*keys, str(row["RowKey"])]
        self._delete_rows(pk, keys)
        return (len(keys) - 1, True) if whole else (len(keys), False)

    def _purge_inbox(self, pk: str, flt: si.PurgeFilter, budget: int) -> int:
        low, high = su.prefix_range(su.EVENT_PREFIX)
        rows, _ = self._page(
            "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high and At lt @cut",
            {"pk": pk, "low": low, "high": high, "cut": flt.cutoff},
            min(budget, si.MAX_PAGE),
            None,
            select=["RowKey", "At"],
        )
        keys = [str(r["RowKey"]) for r in rows if flt.expired_event(r)]
        self._delete_rows(pk, keys)
        return len(keys)
