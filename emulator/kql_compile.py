"""The KQL subset's type inference and expression evaluation (an :class:`Expr` compiled to a
function of a row, with Kusto's type rules) and the wire format of its values (see
:mod:`emulator.kql`). Pure."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from emulator.kql_syntax import COMPARISONS, NUMERIC, STRING_OPS, Expr, semantic_error

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
AGG_FUNCS = {
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


class Compiler:
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
            raise semantic_error(f"Failed to resolve scalar expression named '{expr.value}'")
        if expr.kind == "unop":
            t, f = self.compile(expr.args[0])
            if _family(t) not in ("number", "timespan"):
                raise semantic_error(f"Unary '-' needs a number or timespan, not {t}")
            return t, lambda row: None if (v := f(row)) is None else -v
        if expr.kind == "inlist":
            return self._inlist(expr)
        if expr.kind == "binop":
            return self._binop(expr)
        if expr.kind == "call":
            return self._call(expr)
        raise semantic_error(f"Unsupported expression {expr.kind}")

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
                    raise semantic_error(f"Operator '{op}' needs boolean operands, not {t}")
            if op == "and":
                return "bool", lambda row: bool(lf(row)) and bool(rf(row))
            return "bool", lambda row: bool(lf(row)) or bool(rf(row))
        if op in COMPARISONS:
            if op in ("=~", "!~"):
                if lt != "string" or rt != "string":
                    raise semantic_error(
                        f"Operator '{op}' needs string operands, not {lt} and {rt}"
                    )
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
        if op in STRING_OPS:
            if lt != "string" or rt != "string":
                raise semantic_error(f"Operator '{op}' needs string operands, not {lt} and {rt}")
            test = _STRING_TESTS[op]

            def strop(row: list[Any]) -> Any:
                a, b = lf(row), rf(row)
                if a is None or b is None:
                    return op == "!contains"
                return test(str(a).lower(), str(b).lower())

            return "bool", strop
        if op in ("+", "-"):
            return self._arith(op, lt, lf, rt, rf)
        raise semantic_error(f"Unsupported operator '{op}'")

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
            raise semantic_error(f"Operator '{op}' is not defined for {lt} and {rt}")

        def run(row: list[Any]) -> Any:
            a, b = lf(row), rf(row)
            if a is None or b is None:
                return None
            return a + b if op == "+" else a - b

        return out, run

    def _call(self, expr: Expr) -> tuple[str, Callable[[list[Any]], Any]]:
        name = str(expr.value)
        args = expr.args
        if name in AGG_FUNCS:
            raise semantic_error(f"Aggregation '{name}()' can only be used in summarize")
        if name not in _SCALAR_FUNCS:
            raise semantic_error(
                f"Function '{name}' is not supported by this emulator (supported: "
                + ", ".join(sorted(_SCALAR_FUNCS))
                + ")"
            )
        compiled = [self.compile(a) for a in args]
        now = self.now

        def arity(k: int) -> None:
            if len(args) != k:
                raise semantic_error(f"Function '{name}' expects {k} argument(s), got {len(args)}")

        if name == "now":
            arity(0)
            return "datetime", lambda row: now
        if name == "ago":
            arity(1)
            t, f = compiled[0]
            if t != "timespan":
                raise semantic_error(f"ago() expects a timespan, not {t}")
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
                        raise semantic_error("bin() size must be positive")
                    epoch = v.timestamp()
                    return datetime.fromtimestamp(math.floor(epoch / step) * step, UTC)

                return "datetime", bin_dt
            if vt in NUMERIC and st in NUMERIC:

                def bin_num(row: list[Any]) -> Any:
                    v, size = vf(row), sf(row)
                    if v is None:
                        return None
                    if size <= 0:
                        raise semantic_error("bin() size must be positive")
                    result = math.floor(v / size) * size
                    return result if vt == "real" or st == "real" else int(result)

                return ("real" if "real" in (vt, st) else vt), bin_num
            raise semantic_error(f"bin() is not defined for {vt} and {st}")
        if name == "not":
            arity(1)
            t, f = compiled[0]
            if t != "bool":
                raise semantic_error(f"not() expects a boolean, not {t}")
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
        raise semantic_error(
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
