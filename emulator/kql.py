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
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

# ---------------------------------------------------------------------------------------------
# Errors and tables


class KqlError(Exception):
    """A query outside the supported subset or semantically wrong.

    kind is ``SyntaxError`` (the text cannot be parsed) or ``SemanticError`` (it parses but
    names an unknown table/column/function or mixes types), the inner error codes the Log
    Analytics API uses.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def _syntax(message: str) -> KqlError:
    return KqlError("SyntaxError", message)


def _semantic(message: str) -> KqlError:
    return KqlError("SemanticError", message)


NUMERIC = frozenset({"int", "long", "real"})


@dataclass
class Table:
    """Rows of Python values: str, int, float, bool, datetime (aware, UTC), timedelta, None."""

    name: str
    columns: list[tuple[str, str]]
    rows: list[list[Any]] = field(default_factory=list)

    def index(self, column: str) -> int:
        for i, (name, _) in enumerate(self.columns):
            if name == column:
                return i
        raise _semantic(f"Failed to resolve scalar expression named '{column}'")


# ---------------------------------------------------------------------------------------------
# Tokenizer

_UNITS = {
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
    "ms": timedelta(milliseconds=1),
}


@dataclass(frozen=True)
class Token:
    kind: str  # ident, number, timespan, string, datetime, op, end
    value: Any
    pos: int


_OPS = ("==", "!=", "<=", ">=", "=~", "!~", "!in", "<", ">", "=", "|", "(", ")", ",", "+", "-")


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if c in "\"'":
            j = i + 1
            out: list[str] = []
            while j < n and text[j] != c:
                if text[j] == "\\" and j + 1 < n:
                    out.append(text[j + 1])
                    j += 2
                    continue
                out.append(text[j])
                j += 1
            if j >= n:
                raise _syntax(f"Unterminated string literal at position {i}")
            tokens.append(Token("string", "".join(out), i))
            i = j + 1
            continue
        if c.isdigit():
            m = re.match(r"\d+(\.\d+)?([A-Za-z]+)?", text[i:])
            assert m is not None
            number, unit = m.group(0)[: len(m.group(0)) - len(m.group(2) or "")], m.group(2)
            if unit is not None:
                if unit not in _UNITS:
                    raise _syntax(f"Unknown timespan unit '{unit}' in '{m.group(0)}'")
                tokens.append(Token("timespan", float(number) * _UNITS[unit], i))
            elif m.group(1):
                tokens.append(Token("number", float(number), i))
            else:
                tokens.append(Token("number", int(number), i))
            i += len(m.group(0))
            continue
        if c.isalpha() or c == "_":
            m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text[i:])
            assert m is not None
            word = m.group(0)
            j = i + len(word)
            if word == "datetime":
                k = j
                while k < n and text[k].isspace():
                    k += 1
                if k < n and text[k] == "(":
                    close = text.find(")", k)
                    if close < 0:
                        raise _syntax(f"Unterminated datetime(...) at position {i}")
                    raw = text[k + 1 : close].strip().strip("\"'")
                    tokens.append(Token("datetime", _parse_datetime(raw), i))
                    i = close + 1
                    continue
            tokens.append(Token("ident", word, i))
            i = j
            continue
        for op in _OPS:
            if text.startswith(op, i):
                if op == "!in" and i + 3 < n and (text[i + 3].isalnum() or text[i + 3] == "_"):
                    continue
                tokens.append(Token("op", op, i))
                i += len(op)
                break
        else:
            if text.startswith("!contains", i):
                tokens.append(Token("op", "!contains", i))
                i += len("!contains")
                continue
            raise _syntax(f"Unexpected character '{c}' at position {i}")
    tokens.append(Token("end", None, n))
    return tokens


def _parse_datetime(raw: str) -> datetime:
    text = raw.strip()
    if text.endswith("Z") or text.endswith("z"):
        text = text[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
    except ValueError as exc:
        raise _syntax(f"Invalid datetime literal '{raw}'") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


# ---------------------------------------------------------------------------------------------
# Expressions


@dataclass(frozen=True)
class Expr:
    """A scalar expression: ``kind`` selects the evaluator, ``args`` its operands."""

    kind: str  # col, lit, call, binop, unop, inlist
    value: Any = None
    args: tuple[Expr, ...] = ()


def _columns_in(expr: Expr) -> list[str]:
    if expr.kind == "col":
        return [str(expr.value)]
    found: list[str] = []
    for arg in expr.args:
        found.extend(_columns_in(arg))
    return found


_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=", "=~", "!~")
_STRING_OPS = ("contains", "!contains", "startswith", "endswith")


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0

    # -- token helpers
    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def next(self) -> Token:
        tok = self.peek()
        self.i += 1
        return tok

    def at_op(self, *ops: str) -> bool:
        tok = self.peek()
        return tok.kind == "op" and tok.value in ops

    def at_word(self, *words: str) -> bool:
        tok = self.peek()
        return tok.kind == "ident" and tok.value in words

    def expect_op(self, op: str) -> None:
        tok = self.next()
        if tok.kind != "op" or tok.value != op:
            raise _syntax(f"Expected '{op}' at position {tok.pos}, found {_describe(tok)}")

    def expect_word(self, word: str) -> None:
        tok = self.next()
        if tok.kind != "ident" or tok.value != word:
            raise _syntax(f"Expected '{word}' at position {tok.pos}, found {_describe(tok)}")

    def ident(self) -> str:
        tok = self.next()
        if tok.kind != "ident":
            raise _syntax(f"Expected a name at position {tok.pos}, found {_describe(tok)}")
        return str(tok.value)

    def integer(self) -> int:
        tok = self.next()
        if tok.kind != "number" or not isinstance(tok.value, int):
            raise _syntax(f"Expected a whole number at position {tok.pos}, found {_describe(tok)}")
        return tok.value

    # -- expressions
    def expr(self) -> Expr:
        left = self.and_expr()
        while self.at_word("or"):
            self.next()
            left = Expr("binop", "or", (left, self.and_expr()))
        return left

    def and_expr(self) -> Expr:
        left = self.comparison()
        while self.at_word("and"):
            self.next()
            left = Expr("binop", "and", (left, self.comparison()))
        return left

    def comparison(self) -> Expr:
        left = self.additive()
        tok = self.peek()
        if tok.kind == "op" and tok.value in _COMPARISONS:
            self.next()
            return Expr("binop", tok.value, (left, self.additive()))
        if (tok.kind == "ident" and tok.value in _STRING_OPS) or (
            tok.kind == "op" and tok.value == "!contains"
        ):
            self.next()
            return Expr("binop", tok.value, (left, self.additive()))
        if (tok.kind == "ident" and tok.value == "in") or (tok.kind == "op" and tok.value == "!in"):
            self.next()
            self.expect_op("(")
            items = [self.additive()]
            while self.at_op(","):
                self.next()
                items.append(self.additive())
            self.expect_op(")")
            return Expr("inlist", tok.value == "!in", (left, *items))
        return left

    def additive(self) -> Expr:
        left = self.unary()
        while self.at_op("+", "-"):
            op = self.next().value
            left = Expr("binop", op, (left, self.unary()))
        return left

    def unary(self) -> Expr:
        if self.at_op("-"):
            self.next()
            return Expr("unop", "-", (self.unary(),))
        return self.primary()

    def primary(self) -> Expr:
        tok = self.next()
        if tok.kind in ("number", "string", "timespan", "datetime"):
            return Expr("lit", tok.value)
        if tok.kind == "op" and tok.value == "(":
            inner = self.expr()
            self.expect_op(")")
            return inner
        if tok.kind == "ident":
            if tok.value in ("true", "false"):
                return Expr("lit", tok.value == "true")
            if self.at_op("("):
                self.next()
                args: list[Expr] = []
                if not self.at_op(")"):
                    args.append(self.expr())
                    while self.at_op(","):
                        self.next()
                        args.append(self.expr())
                self.expect_op(")")
                return Expr("call", tok.value, tuple(args))
            return Expr("col", tok.value)
        raise _syntax(f"Unexpected {_describe(tok)} at position {tok.pos}")


def _describe(tok: Token) -> str:
    if tok.kind == "end":
        return "end of query"
    return f"'{tok.value}'"


# ---------------------------------------------------------------------------------------------
# Type inference and evaluation


def _lit_type(value: Any) -> str:
    if value is None:
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "real"
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, timedelta):
        return "timespan"
    return "string"


def _family(t: str) -> str:
    return "number" if t in NUMERIC else t


_SCALAR_FUNCS = {
    "ago",
    "now",
    "bin",
    "floor",
    "tostring",
    "toint",
    "tolong",
    "todouble",
    "toreal",
    "not",
    "isempty",
    "isnotempty",
}
_AGG_FUNCS = {
    "count",
    "countif",
    "dcount",
    "sum",
    "avg",
    "min",
    "max",
    "percentile",
    "percentiles",
}


class _Compiler:
    """Turns expressions into (type, row -> value) closures against one schema."""

    def __init__(self, columns: Sequence[tuple[str, str]], now: datetime) -> None:
        self.columns = list(columns)
        self.now = now

    def compile(self, expr: Expr) -> tuple[str, Callable[[list[Any]], Any]]:
        if expr.kind == "lit":
            value = expr.value
            return _lit_type(value), lambda row: value
        if expr.kind == "col":
            for i, (name, ctype) in enumerate(self.columns):
                if name == expr.value:
                    return ctype, lambda row, i=i: row[i]
            raise _semantic(f"Failed to resolve scalar expression named '{expr.value}'")
        if expr.kind == "unop":
            t, f = self.compile(expr.args[0])
            if _family(t) not in ("number", "timespan"):
                raise _semantic(f"Unary '-' needs a number or timespan, not {t}")
            return t, lambda row: None if (v := f(row)) is None else -v
        if expr.kind == "inlist":
            return self._inlist(expr)
        if expr.kind == "binop":
            return self._binop(expr)
        if expr.kind == "call":
            return self._call(expr)
        raise _semantic(f"Unsupported expression {expr.kind}")

    def _inlist(self, expr: Expr) -> tuple[str, Callable[[list[Any]], Any]]:
        negate = bool(expr.value)
        lt, lf = self.compile(expr.args[0])
        items = []
        for item in expr.args[1:]:
            it, itf = self.compile(item)
            _check_comparable(lt, it, "in")
            items.append(itf)

        def run(row: list[Any]) -> Any:
            v = lf(row)
            found = any(v is not None and v == f(row) for f in items)
            return found != negate

        return "bool", run

    def _binop(self, expr: Expr) -> tuple[str, Callable[[list[Any]], Any]]:
        op = expr.value
        lt, lf = self.compile(expr.args[0])
        rt, rf = self.compile(expr.args[1])
        if op in ("and", "or"):
            for t in (lt, rt):
                if t != "bool":
                    raise _semantic(f"Operator '{op}' needs boolean operands, not {t}")
            if op == "and":
                return "bool", lambda row: bool(lf(row)) and bool(rf(row))
            return "bool", lambda row: bool(lf(row)) or bool(rf(row))
        if op in _COMPARISONS:
            if op in ("=~", "!~"):
                if lt != "string" or rt != "string":
                    raise _semantic(f"Operator '{op}' needs string operands, not {lt} and {rt}")
                want = op == "=~"

                def ieq(row: list[Any]) -> Any:
                    a, b = lf(row), rf(row)
                    if a is None or b is None:
                        return False
                    return (str(a).lower() == str(b).lower()) == want

                return "bool", ieq
            _check_comparable(lt, rt, op)
            compare = _COMPARE[op]

            def cmp(row: list[Any]) -> Any:
                a, b = lf(row), rf(row)
                if a is None or b is None:
                    return op == "!=" and (a is None) != (b is None)
                return compare(a, b)

            return "bool", cmp
        if op in _STRING_OPS:
            if lt != "string" or rt != "string":
                raise _semantic(f"Operator '{op}' needs string operands, not {lt} and {rt}")
            test = _STRING_TESTS[op]

            def strop(row: list[Any]) -> Any:
                a, b = lf(row), rf(row)
                if a is None or b is None:
                    return op == "!contains"
                return test(str(a).lower(), str(b).lower())

            return "bool", strop
        if op in ("+", "-"):
            return self._arith(op, lt, lf, rt, rf)
        raise _semantic(f"Unsupported operator '{op}'")

    def _arith(
        self,
        op: str,
        lt: str,
        lf: Callable[[list[Any]], Any],
        rt: str,
        rf: Callable[[list[Any]], Any],
    ) -> tuple[str, Callable[[list[Any]], Any]]:
        lfam, rfam = _family(lt), _family(rt)
        pair = (lfam, rfam)
        if pair == ("number", "number"):
            out = "real" if "real" in (lt, rt) else "long"
        elif pair == ("datetime", "timespan") or (pair == ("timespan", "datetime") and op == "+"):
            out = "datetime"
        elif pair == ("timespan", "timespan") or (pair == ("datetime", "datetime") and op == "-"):
            out = "timespan"
        else:
            raise _semantic(f"Operator '{op}' is not defined for {lt} and {rt}")

        def run(row: list[Any]) -> Any:
            a, b = lf(row), rf(row)
            if a is None or b is None:
                return None
            return a + b if op == "+" else a - b

        return out, run

    def _call(self, expr: Expr) -> tuple[str, Callable[[list[Any]], Any]]:
        name = str(expr.value)
        args = expr.args
        if name in _AGG_FUNCS:
            raise _semantic(f"Aggregation '{name}()' can only be used in summarize")
        if name not in _SCALAR_FUNCS:
            raise _semantic(
                f"Function '{name}' is not supported by this emulator (supported: "
                + ", ".join(sorted(_SCALAR_FUNCS))
                + ")"
            )
        compiled = [self.compile(a) for a in args]
        now = self.now

        def arity(k: int) -> None:
            if len(args) != k:
                raise _semantic(f"Function '{name}' expects {k} argument(s), got {len(args)}")

        if name == "now":
            arity(0)
            return "datetime", lambda row: now
        if name == "ago":
            arity(1)
            t, f = compiled[0]
            if t != "timespan":
                raise _semantic(f"ago() expects a timespan, not {t}")
            return "datetime", lambda row: now - f(row)
        if name in ("bin", "floor"):
            arity(2)
            (vt, vf), (st, sf) = compiled
            if vt == "datetime" and st == "timespan":

                def bin_dt(row: list[Any]) -> Any:
                    v, size = vf(row), sf(row)
                    if v is None:
                        return None
                    step = size.total_seconds()
                    if step <= 0:
                        raise _semantic("bin() size must be positive")
                    epoch = v.timestamp()
                    return datetime.fromtimestamp(math.floor(epoch / step) * step, UTC)

                return "datetime", bin_dt
            if vt in NUMERIC and st in NUMERIC:

                def bin_num(row: list[Any]) -> Any:
                    v, size = vf(row), sf(row)
                    if v is None:
                        return None
                    if size <= 0:
                        raise _semantic("bin() size must be positive")
                    result = math.floor(v / size) * size
                    return result if vt == "real" or st == "real" else int(result)

                return ("real" if "real" in (vt, st) else vt), bin_num
            raise _semantic(f"bin() is not defined for {vt} and {st}")
        if name == "not":
            arity(1)
            t, f = compiled[0]
            if t != "bool":
                raise _semantic(f"not() expects a boolean, not {t}")
            return "bool", lambda row: not f(row)
        if name in ("isempty", "isnotempty"):
            arity(1)
            _, f = compiled[0]
            want = name == "isempty"
            return "bool", lambda row: (f(row) in (None, "")) == want
        arity(1)
        t, f = compiled[0]
        if name == "tostring":
            return "string", lambda row: None if (v := f(row)) is None else _to_text(v)
        if name in ("toint", "tolong"):
            return ("int" if name == "toint" else "long"), lambda row: _to_int(f(row))
        return "real", lambda row: _to_real(f(row))


def _to_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, timedelta):
        return format_timespan(value)
    return str(value)


def _to_int(value: Any) -> int | None:
    try:
        return None if value is None else int(float(value))
    except (TypeError, ValueError):
        return None


def _to_real(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _check_comparable(lt: str, rt: str, op: str) -> None:
    if _family(lt) != _family(rt):
        raise _semantic(
            f"Cannot compare values of types {lt} and {rt} with '{op}'. Try adding explicit casts"
        )


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: bool(a == b),
    "!=": lambda a, b: bool(a != b),
    "<": lambda a, b: bool(a < b),
    "<=": lambda a, b: bool(a <= b),
    ">": lambda a, b: bool(a > b),
    ">=": lambda a, b: bool(a >= b),
}
_STRING_TESTS: dict[str, Callable[[str, str], bool]] = {
    "contains": lambda a, b: b in a,
    "!contains": lambda a, b: b not in a,
    "startswith": lambda a, b: a.startswith(b),
    "endswith": lambda a, b: a.endswith(b),
}


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
    raise _semantic(f"{what} expects a constant number")


def _aggregations(comp: _Compiler, alias: str | None, call: Expr) -> list[_Agg]:
    name = str(call.value)
    args = call.args
    if call.kind != "call" or name not in _AGG_FUNCS:
        raise _semantic(
            "summarize expects aggregations (supported: " + ", ".join(sorted(_AGG_FUNCS)) + ")"
        )
    if name == "count":
        if args:
            raise _semantic("count() takes no arguments")
        return [_Agg(alias or "count_", "long", lambda rows: len(rows))]
    if name == "countif":
        if len(args) != 1:
            raise _semantic("countif() expects one predicate")
        pt, pf = comp.compile(args[0])
        if pt != "bool":
            raise _semantic(f"countif() expects a boolean predicate, not {pt}")
        return [_Agg(alias or "countif_", "long", lambda rows: sum(1 for r in rows if pf(r)))]
    if not args:
        raise _semantic(f"{name}() expects a column")
    vt, vf = comp.compile(args[0])
    cols = _columns_in(args[0])
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
            raise _semantic(f"{name}() expects a numeric column, not {vt}")
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
        raise _semantic(f"{name}() expects a numeric column, not {vt}")
    ps = [_number_arg(a, f"{name}()") for a in args[1:]]
    if not ps or (name == "percentile" and len(ps) != 1):
        raise _semantic(
            f"{name}() expects a column and "
            + ("one percentage" if name == "percentile" else "at least one percentage")
        )
    for p in ps:
        if not 0 <= p <= 100:
            raise _semantic(f"{name}(): percentage {p:g} is outside 0..100")
    if alias is not None and len(ps) > 1:
        raise _semantic("percentiles() with several percentages cannot take one alias")

    def percentile_of(p: float) -> Callable[[list[list[Any]]], Any]:
        return lambda rows: _percentile([vf(r) for r in rows], p)

    return [_Agg(alias or f"percentile_{base}_{_fmt_number(p)}", vt, percentile_of(p)) for p in ps]


def _group_name(expr: Expr, position: int) -> str:
    cols = _columns_in(expr)
    return cols[0] if cols else f"Column{position + 1}"


def _summarize(p: _Parser, table: Table, now: datetime) -> Table:
    comp = _Compiler(table.columns, now)
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
        raise _syntax("summarize needs at least one aggregation or a by clause")
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
            raise _semantic(f"Column '{name}' appears twice; give one of them another name")
        seen.add(name)


def _getter(i: int) -> Callable[[list[Any]], Any]:
    return lambda row: row[i]


def _project(p: _Parser, table: Table, now: datetime, extend: bool) -> Table:
    comp = _Compiler(table.columns, now)
    items: list[tuple[str, str, Callable[[list[Any]], Any]]] = []
    while True:
        if p.peek().kind == "ident" and p.peek(1).kind == "op" and p.peek(1).value == "=":
            name = p.ident()
            p.next()
            t, f = comp.compile(p.expr())
        else:
            expr = p.expr()
            if extend:
                raise _syntax("extend needs 'name = expression'")
            if expr.kind != "col":
                raise _syntax("project of an expression needs 'name = expression'")
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
    p: _Parser, table: Table, now: datetime
) -> list[tuple[Callable[[list[Any]], Any], bool]]:
    comp = _Compiler(table.columns, now)
    keys: list[tuple[Callable[[list[Any]], Any], bool]] = []
    while True:
        _, f = comp.compile(p.expr())
        descending = True
        if p.at_word("asc", "desc"):
            descending = p.next().value == "desc"
        if p.at_word("nulls"):
            raise _semantic("'nulls first/last' is not supported by this emulator")
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
    p = _Parser(tokenize(query))
    tok = p.next()
    if tok.kind != "ident":
        raise _syntax(f"A query starts with a table name, found {_describe(tok)}")
    if tok.value not in tables:
        if tok.value in ("let", "union", "print", "datatable", "range", "search"):
            raise _semantic(f"'{tok.value}' is not supported by this emulator")
        raise _semantic(f"Failed to resolve table or column expression named '{tok.value}'")
    source = tables[str(tok.value)]
    table = Table("PrimaryResult", list(source.columns), list(source.rows))
    while p.at_op("|"):
        p.next()
        op_tok = p.next()
        if op_tok.kind != "ident":
            raise _syntax(f"Expected an operator after '|', found {_describe(op_tok)}")
        op = str(op_tok.value)
        if op == "where":
            comp = _Compiler(table.columns, now)
            t, f = comp.compile(p.expr())
            if t != "bool":
                raise _semantic(f"where expects a boolean predicate, not {t}")
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
            raise _semantic(
                f"Query operator '{op}' is not supported by this emulator (supported: where, "
                "summarize, project, extend, order by, sort by, take, limit, top, count)"
            )
    tok = p.peek()
    if tok.kind != "end":
        raise _syntax(f"Unexpected {_describe(tok)} at position {tok.pos}")
    return table


# ---------------------------------------------------------------------------------------------
# Wire format


def format_datetime(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_timespan(value: timedelta) -> str:
    micros = round(value.total_seconds() * 1_000_000)
    sign = "-" if micros < 0 else ""
    days, micros = divmod(abs(micros), 86_400_000_000)
    seconds, fraction = divmod(micros, 1_000_000)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    if fraction:
        text += f".{fraction * 10:07d}"
    return f"{sign}{days}.{text}" if days else f"{sign}{text}"


def to_json_value(value: Any) -> Any:
    """A value as the Log Analytics API writes it in ``rows``."""
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, timedelta):
        return format_timespan(value)
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value
