"""The KQL subset evaluator (pure, no network)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from emulator.kql import KqlError, Table, format_timespan, run_query, tokenize

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def table() -> dict[str, Table]:
    rows = [
        [NOW - timedelta(minutes=3, seconds=10), "blue", 200, 10],
        [NOW - timedelta(minutes=3, seconds=5), "blue", 500, 50],
        [NOW - timedelta(minutes=1), "green", 200, 30],
        [NOW - timedelta(minutes=1), "green", 200, 20],
        [NOW - timedelta(hours=2), "blue", 200, 99],
    ]
    cols = [("TimeGenerated", "datetime"), ("Dep", "string"), ("Code", "int"), ("Ms", "int")]
    return {"T": Table("T", cols, rows)}


def q(text: str) -> Table:
    return run_query(text, table(), NOW)


def test_where_with_ago_and_and_filters_rows() -> None:
    """ago() is relative to now; and combines predicates."""
    assert len(q("T | where TimeGenerated > ago(1h) and Code == 200").rows) == 3


def test_summarize_count_by_bin_names_the_time_column() -> None:
    """bin(TimeGenerated, 1m) groups by minute and keeps the column name."""
    out = q("T | where TimeGenerated > ago(10m) | summarize count() by bin(TimeGenerated, 1m)")
    assert out.columns == [("TimeGenerated", "datetime"), ("count_", "long")]
    assert sorted((r[0], r[1]) for r in out.rows) == [
        (NOW - timedelta(minutes=4), 2),
        (NOW - timedelta(minutes=1), 2),
    ]


def test_percentile_uses_nearest_rank() -> None:
    """percentile(Ms, 50) of 10, 20, 30, 50, 99 is 30 and P90 is 99 (nearest rank)."""
    out = q("T | summarize percentile(Ms, 50), p90 = percentile(Ms, 90)")
    assert out.rows == [[30, 99]]
    assert [c for c, _ in out.columns] == ["percentile_Ms_50", "p90"]


def test_countif_and_avg_by_group_put_by_columns_first() -> None:
    """By-columns come before aggregates; countif counts matching rows."""
    out = q("T | summarize errors = countif(Code >= 500), avg(Ms) by Dep | order by Dep asc")
    assert [c for c, _ in out.columns] == ["Dep", "errors", "avg_Ms"]
    assert out.rows == [["blue", 1, pytest.approx(53.0)], ["green", 0, pytest.approx(25.0)]]


def test_summarize_of_no_rows_without_by_gives_zero_count() -> None:
    """count() over an empty input is one row with 0, as in Kusto."""
    assert q("T | where Code == 404 | summarize count()").rows == [[0]]


def test_order_by_defaults_to_descending_and_take_limits() -> None:
    """order by without asc sorts descending."""
    assert [r[0] for r in q("T | project Ms | order by Ms | take 2").rows] == [99, 50]


def test_top_and_in_operator() -> None:
    """top N by col and `in (...)` work together."""
    out = q("T | where Dep in ('green') | top 1 by Ms asc | project Ms")
    assert out.rows == [[20]]


def test_extend_and_case_insensitive_string_ops() -> None:
    """extend adds a column; =~ and startswith ignore case."""
    out = q("T | where Dep =~ 'BLUE' and Dep startswith 'Bl' | extend Slow = Ms > 40 | count")
    assert out.rows == [[3]]


def test_comparing_int_column_with_string_is_a_semantic_error() -> None:
    """Kusto refuses to compare int with string; so does the emulator."""
    with pytest.raises(KqlError) as info:
        q('T | where Code != "200"')
    assert info.value.kind == "SemanticError"


def test_unsupported_operator_names_itself() -> None:
    """join is outside the subset and the error says so."""
    with pytest.raises(KqlError) as info:
        q("T | join (T) on Dep")
    assert "'join'" in info.value.message


def test_syntax_errors_are_reported_as_such() -> None:
    """An unterminated string is a syntax error."""
    with pytest.raises(KqlError) as info:
        q("T | where Dep == 'blue")
    assert info.value.kind == "SyntaxError"


def test_unknown_column_is_a_semantic_error() -> None:
    """A column the table lacks does not resolve."""
    with pytest.raises(KqlError) as info:
        q("T | where Nope == 1")
    assert "Nope" in info.value.message


def test_datetime_literal_and_timespan_formatting() -> None:
    """datetime(...) parses ISO text; timespans print as Kusto does."""
    out = q("T | where TimeGenerated >= datetime(2024-05-01T11:58:00Z) | count")
    assert out.rows == [[2]]
    assert format_timespan(timedelta(minutes=1, seconds=30)) == "00:01:30"
    assert format_timespan(timedelta(days=1, milliseconds=5)) == "1.00:00:00.0050000"


def test_timespan_literals_tokenize_to_timedeltas() -> None:
    """5m, 30s, 100ms become timedeltas."""
    values = [t.value for t in tokenize("5m 30s 100ms") if t.kind == "timespan"]
    assert values == [timedelta(minutes=5), timedelta(seconds=30), timedelta(milliseconds=100)]
