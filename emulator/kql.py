"""A documented subset of the Kusto Query Language, evaluated over in-memory tables.

Enough KQL for the Log Analytics queries people run against ``AmlOnlineEndpointTrafficLog``;
anything outside the subset raises :class:`KqlError` with a message naming what is missing, so
the Log Analytics API can answer with its ``BadArgumentError`` body.

Supported (everything else is refused):

* a query is ``Table | operator | operator ...``; ``//`` comments are ignored
* ``where <predicate>``
* ``summarize [name =] agg(...), ... [by col | name = expr | bin(col, size), ...]`` with the
  aggregations ``count()``, ``countif(p)``, ``dcount(x)``, ``sum(x)``, ``avg(x)``, ``min(x)``,
  ``max(x)``, ``percentile(x, p)``, ``percentiles(x, p1, p2, ...)``; default column names follow
  Kusto (``count_``, ``avg_X``, ``percentile_X_95``, ...); by-columns come first
* ``project col, name = expr, ...``, ``extend name = expr, ...``
* ``order by`` / ``sort by col [asc|desc], ...`` (descending unless ``asc``, as in Kusto)
* ``take N`` / ``limit N``, ``top N by col [asc|desc]``, ``count``
* predicates and scalars: ``== != < <= > >= =~ !~``, ``in (...)``, ``!in (...)``,
  ``contains``, ``!contains``, ``startswith``, ``endswith`` (case-insensitive, as in Kusto),
  ``and``, ``or``, ``not(...)``, parentheses, ``+``/``-`` on numbers, datetimes and timespans
* literals: numbers, ``"strings"`` / ``'strings'``, ``true``/``false``, timespans (``30s``,
  ``5m``, ``1h``, ``2d``, ``100ms``), ``datetime(2024-01-01T00:00:00Z)``
* functions: ``ago(ts)``, ``now()``, ``bin(x, size)`` / ``floor(x, size)``, ``tostring``,
  ``toint``, ``tolong``, ``todouble`` / ``toreal``, ``isempty``, ``isnotempty``

Percentiles use the nearest-rank definition, as Kusto's ``percentile()`` does.
Comparing values of different types (e.g. an int column with a string) is a semantic error,
as it is in Kusto.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from emulator.kql_compile import (
    AGG_FUNCS,
    Compiler,
    format_datetime,
    format_timespan,
    to_json_value,
)
from emulator.kql_syntax import (
    NUMERIC,
    Expr,
    KqlError,
    Parser,
    Table,
    columns_in,
    describe,
    semantic_error,
    syntax_error,
    tokenize,
)

__all__ = [
    "KqlError",
    "Table",
    "format_datetime",
    "format_timespan",
    "run_query",
    "to_json_value",
    "tokenize",
]

# ---------------------------------------------------------------------------------------------
# Operators


def _fmt_number(p: float) -> str:
    text = f"{p:g}"
    return text.replace(".", "_").replace("-", "_")


def _percentile(values: list[Any], p: float) -> Any:
    """Nearest-rank percentile of non-null values (None when there are none)."""
    data = sorted(v for v in values if v is not None)
    if not data:
        return None
    rank = max(1, math.ceil(p / 100.0 * len(data)))
    return data[min(rank, len(data)) - 1]


@dataclass
class _Agg:
    name: str
    out_type: str
    fold: Callable[[list[list[Any]]], Any]


def _number_arg(expr: Expr, what: str) -> float:
    if (
        expr.kind == "lit"
        and isinstance(expr.value, int | float)
        and not isinstance(expr.value, bool)
    ):
        return float(expr.value)
    if expr.kind == "unop" and expr.args[0].kind == "lit":
        return -_number_arg(expr.args[0], what)
    raise semantic_error(f"{what} expects a constant number")


def _aggregations(comp: Compiler, alias: str | None, call: Expr) -> list[_Agg]:
    name = str(call.value)
    args = call.args
    if call.kind != "call" or name not in AGG_FUNCS:
        raise semantic_error(
            "summarize expects aggregations (supported: " + ", ".join(sorted(AGG_FUNCS)) + ")"
        )
    if name == "count":
        if args:
            raise semantic_error("count() takes no arguments")
        return [_Agg(alias or "count_", "long", lambda rows: len(rows))]
    if name == "countif":
        if len(args) != 1:
            raise semantic_error("countif() expects one predicate")
        pt, pf = comp.compile(args[0])
        if pt != "bool":
            raise semantic_error(f"countif() expects a boolean predicate, not {pt}")
        return [_Agg(alias or "countif_", "long", lambda rows: sum(1 for r in rows if pf(r)))]
    if not args:
        raise semantic_error(f"{name}() expects a column")
    vt, vf = comp.compile(args[0])
    cols = columns_in(args[0])
    base = cols[0] if args[0].kind == "col" else ""
    if name == "dcount":
        return [
            _Agg(
                alias or f"dcount_{base}",
                "long",
                lambda rows: len({v for r in rows if (v := vf(r)) is not None}),
            )
        ]
    if name in ("sum", "avg"):
        if vt not in NUMERIC:
            raise semantic_error(f"{name}() expects a numeric column, not {vt}")
        if name == "sum":
            out = "real" if vt == "real" else "long"
            return [
                _Agg(
                    alias or f"sum_{base}",
                    out,
                    lambda rows: sum(v for r in rows if (v := vf(r)) is not None),
                )
            ]

        def avg(rows: list[list[Any]]) -> Any:
            vals = [v for r in rows if (v := vf(r)) is not None]
            return sum(vals) / len(vals) if vals else None

        return [_Agg(alias or f"avg_{base}", "real", avg)]
    if name in ("min", "max"):
        pick = min if name == "min" else max

        def extreme(rows: list[list[Any]]) -> Any:
            vals = [v for r in rows if (v := vf(r)) is not None]
            return pick(vals) if vals else None

        return [_Agg(alias or f"{name}_{base}", vt, extreme)]
    # percentile / percentiles
    if vt not in NUMERIC and vt not in ("datetime", "timespan"):
        raise semantic_error(f"{name}() expects a numeric column, not {vt}")
    ps = [_number_arg(a, f"{name}()") for a in args[1:]]
    if not ps or (name == "percentile" and len(ps) != 1):
        raise semantic_error(
            f"{name}() expects a column and "
            + ("one percentage" if name == "percentile" else "at least one percentage")
        )
    for p in ps:
        if not 0 <= p <= 100:
            raise semantic_error(f"{name}(): percentage {p:g} is outside 0..100")
    if alias is not None and len(ps) > 1:
        raise semantic_error("percentiles() with several percentages cannot take one alias")

    def percentile_of(p: float) -> Callable[[list[list[Any]]], Any]:
        return lambda rows: _percentile([vf(r) for r in rows], p)

    return [_Agg(alias or f"percentile_{base}_{_fmt_number(p)}", vt, percentile_of(p)) for p in ps]


def _group_name(expr: Expr, position: int) -> str:
    cols = columns_in(expr)
    return cols[0] if cols else f"Column{position + 1}"


def _summarize(p: Parser, table: Table, now: datetime) -> Table:
    comp = Compiler(table.columns, now)
    aggs: list[_Agg] = []
    if not p.at_word("by"):
        while True:
            alias = None
            if p.peek().kind == "ident" and p.peek(1).kind == "op" and p.peek(1).value == "=":
                alias = p.ident()
                p.next()
            aggs.extend(_aggregations(comp, alias, p.expr()))
            if not p.at_op(","):
                break
            p.next()
    groups: list[tuple[str, str, Callable[[list[Any]], Any]]] = []
    if p.at_word("by"):
        p.next()
        while True:
            alias = None
            if p.peek().kind == "ident" and p.peek(1).kind == "op" and p.peek(1).value == "=":
                alias = p.ident()
                p.next()
            expr = p.expr()
            gt, gf = comp.compile(expr)
            groups.append((alias or _group_name(expr, len(groups)), gt, gf))
            if not p.at_op(","):
                break
            p.next()
    if not aggs and not groups:
        raise syntax_error("summarize needs at least one aggregation or a by clause")
    buckets: dict[tuple[Any, ...], list[list[Any]]] = {}
    if not groups:
        buckets[()] = list(table.rows)
    else:
        for row in table.rows:
            key = tuple(g[2](row) for g in groups)
            buckets.setdefault(key, []).append(row)
    columns = [(g[0], g[1]) for g in groups] + [(a.name, a.out_type) for a in aggs]
    _check_unique(columns)
    rows = [list(key) + [a.fold(members) for a in aggs] for key, members in buckets.items()]
    return Table(table.name, columns, rows)


def _check_unique(columns: list[tuple[str, str]]) -> None:
    seen: set[str] = set()
    for name, _ in columns:
        if name in seen:
            raise semantic_error(f"Column '{name}' appears twice; give one of them another name")
        seen.add(name)


def _getter(i: int) -> Callable[[list[Any]], Any]:
    return lambda row: row[i]


def _project(p: Parser, table: Table, now: datetime, extend: bool) -> Table:
    comp = Compiler(table.columns, now)
    items: list[tuple[str, str, Callable[[list[Any]], Any]]] = []
    while True:
        if p.peek().kind == "ident" and p.peek(1).kind == "op" and p.peek(1).value == "=":
            name = p.ident()
            p.next()
            t, f = comp.compile(p.expr())
        else:
            expr = p.expr()
            if extend:
                raise syntax_error("extend needs 'name = expression'")
            if expr.kind != "col":
                raise syntax_error("project of an expression needs 'name = expression'")
            name = str(expr.value)
            t, f = comp.compile(expr)
        items.append((name, t, f))
        if not p.at_op(","):
            break
        p.next()
    if extend:
        columns = list(table.columns)
        fns: list[Callable[[list[Any]], Any]] = [_getter(i) for i in range(len(columns))]
        for name, t, f in items:
            existing = [i for i, (c, _) in enumerate(columns) if c == name]
            if existing:
                columns[existing[0]] = (name, t)
                fns[existing[0]] = f
            else:
                columns.append((name, t))
                fns.append(f)
    else:
        columns = [(name, t) for name, t, _ in items]
        fns = [f for _, _, f in items]
    _check_unique(columns)
    return Table(table.name, columns, [[f(row) for f in fns] for row in table.rows])


def _sort_keys(
    p: Parser, table: Table, now: datetime
) -> list[tuple[Callable[[list[Any]], Any], bool]]:
    comp = Compiler(table.columns, now)
    keys: list[tuple[Callable[[list[Any]], Any], bool]] = []
    while True:
        _, f = comp.compile(p.expr())
        descending = True
        if p.at_word("asc", "desc"):
            descending = p.next().value == "desc"
        if p.at_word("nulls"):
            raise semantic_error("'nulls first/last' is not supported by this emulator")
        keys.append((f, descending))
        if not p.at_op(","):
            break
        p.next()
    return keys


def _sorted_rows(
    rows: list[list[Any]], keys: list[tuple[Callable[[list[Any]], Any], bool]]
) -> list[list[Any]]:
    out = list(rows)
    # Stable sorts from the last key to the first; nulls last when descending, first when
    # ascending (Kusto's defaults).
    for f, descending in reversed(keys):
        present = [r for r in out if f(r) is not None]
        missing = [r for r in out if f(r) is None]
        present.sort(key=f, reverse=descending)
        out = present + missing if descending else missing + present
    return out


def run_query(query: str, tables: dict[str, Table], now: datetime | None = None) -> Table:
    """Evaluate ``query`` against ``tables`` (name -> table); return the result table."""
    now = now or datetime.now(UTC)
    p = Parser(tokenize(query))
    tok = p.next()
    if tok.kind != "ident":
        raise syntax_error(f"A query starts with a table name, found {describe(tok)}")
    if tok.value not in tables:
        if tok.value in ("let", "union", "print", "datatable", "range", "search"):
            raise semantic_error(f"'{tok.value}' is not supported by this emulator")
        raise semantic_error(f"Failed to resolve table or column expression named '{tok.value}'")
    source = tables[str(tok.value)]
    table = Table("PrimaryResult", list(source.columns), list(source.rows))
    while p.at_op("|"):
        p.next()
        op_tok = p.next()
        if op_tok.kind != "ident":
            raise syntax_error(f"Expected an operator after '|', found {describe(op_tok)}")
        op = str(op_tok.value)
        if op == "where":
            comp = Compiler(table.columns, now)
            t, f = comp.compile(p.expr())
            if t != "bool":
                raise semantic_error(f"where expects a boolean predicate, not {t}")
            table = Table(table.name, table.columns, [r for r in table.rows if f(r)])
        elif op == "summarize":
            table = _summarize(p, table, now)
        elif op in ("project", "extend"):
            table = _project(p, table, now, extend=op == "extend")
        elif op in ("order", "sort"):
            p.expect_word("by")
            table.rows = _sorted_rows(table.rows, _sort_keys(p, table, now))
        elif op in ("take", "limit"):
            table.rows = table.rows[: p.integer()]
        elif op == "top":
            n = p.integer()
            p.expect_word("by")
            table.rows = _sorted_rows(table.rows, _sort_keys(p, table, now))[:n]
        elif op == "count":
            table = Table(table.name, [("Count", "long")], [[len(table.rows)]])
        else:
            raise semantic_error(
                f"Query operator '{op}' is not supported by this emulator (supported: where, "
                "summarize, project, extend, order by, sort by, take, limit, top, count)"
            )
    tok = p.peek()
    if tok.kind != "end":
        raise syntax_error(f"Unexpected {describe(tok)} at position {tok.pos}")
    return table
