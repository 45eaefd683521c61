"""The KQL subset's errors, tables, tokenizer and parser (see :mod:`emulator.kql` for the
subset). Pure."""

from __future__ import annotations

import re
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


def syntax_error(message: str) -> KqlError:
    return KqlError("SyntaxError", message)


def semantic_error(message: str) -> KqlError:
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
        raise semantic_error(f"Failed to resolve scalar expression named '{column}'")


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
                raise syntax_error(f"Unterminated string literal at position {i}")
            tokens.append(Token("string", "".join(out), i))
            i = j + 1
            continue
        if c.isdigit():
            m = re.match(r"\d+(\.\d+)?([A-Za-z]+)?", text[i:])
            assert m is not None
            number, unit = m.group(0)[: len(m.group(0)) - len(m.group(2) or "")], m.group(2)
            if unit is not None:
                if unit not in _UNITS:
                    raise syntax_error(f"Unknown timespan unit '{unit}' in '{m.group(0)}'")
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
                        raise syntax_error(f"Unterminated datetime(...) at position {i}")
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
            raise syntax_error(f"Unexpected character '{c}' at position {i}")
    tokens.append(Token("end", None, n))
    return tokens


def _parse_datetime(raw: str) -> datetime:
    text = raw.strip()
    if text.endswith("Z") or text.endswith("z"):
        text = text[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
    except ValueError as exc:
        raise syntax_error(f"Invalid datetime literal '{raw}'") from exc
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


def columns_in(expr: Expr) -> list[str]:
    if expr.kind == "col":
        return [str(expr.value)]
    found: list[str] = []
    for arg in expr.args:
        found.extend(columns_in(arg))
    return found


COMPARISONS = ("==", "!=", "<", "<=", ">", ">=", "=~", "!~")
STRING_OPS = ("contains", "!contains", "startswith", "endswith")


class Parser:
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
            raise syntax_error(f"Expected '{op}' at position {tok.pos}, found {describe(tok)}")

    def expect_word(self, word: str) -> None:
        tok = self.next()
        if tok.kind != "ident" or tok.value != word:
            raise syntax_error(f"Expected '{word}' at position {tok.pos}, found {describe(tok)}")

    def ident(self) -> str:
        tok = self.next()
        if tok.kind != "ident":
            raise syntax_error(f"Expected a name at position {tok.pos}, found {describe(tok)}")
        return str(tok.value)

    def integer(self) -> int:
        tok = self.next()
        if tok.kind != "number" or not isinstance(tok.value, int):
            raise syntax_error(
                f"Expected a whole number at position {tok.pos}, found {describe(tok)}"
            )
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
        if tok.kind == "op" and tok.value in COMPARISONS:
            self.next()
            return Expr("binop", tok.value, (left, self.additive()))
        if (tok.kind == "ident" and tok.value in STRING_OPS) or (
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
        raise syntax_error(f"Unexpected {describe(tok)} at position {tok.pos}")


def describe(tok: Token) -> str:
    if tok.kind == "end":
        return "end of query"
    return f"'{tok.value}'"
