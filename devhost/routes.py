"""HTTP route templates of Azure Functions (ASP.NET Core routing syntax), compiled to matchers.

Supported forms, as the Functions host accepts them in ``@app.route(route=...)``:

* literal segments (matched case-insensitively, like ASP.NET Core routing);
* ``{name}`` parameters, ``{name?}`` optional ones, ``{name=default}`` defaults;
* ``{*name}`` / ``{**name}`` catch-all (last segment only);
* constraints ``{name:int}``, ``{name:alpha}``, ``long``, ``bool``, ``guid``, ``decimal``,
  ``double``, ``float``, ``datetime``, ``minlength(n)``, ``maxlength(n)``, ``length(n)``,
  ``length(a,b)``, ``min(n)``, ``max(n)``, ``range(a,b)``, ``regex(expr)``; several may be
  chained (``{id:int:min(1)}``). An unknown constraint is reported in ``warnings`` and not
  enforced (the parameter then matches any value), so a template never breaks the host.

Route values are returned as strings, percent-decoded, as the Python worker passes them in
``HttpRequest.route_params``. Reference: "Route constraints" in the ASP.NET Core routing docs
(learn.microsoft.com/aspnet/core/fundamentals/routing#route-constraints).
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import unquote

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_INTEGER = re.compile(r"^-?[0-9]+$")


class RouteTemplateError(ValueError):
    """A route template that cannot be parsed."""


Check = Callable[[str], bool]


def _int_in(bounds: tuple[int, int]) -> Check:
    def check(value: str) -> bool:
        return bool(_INTEGER.match(value)) and bounds[0] <= int(value) <= bounds[1]

    return check


def _is_number(value: str) -> bool:
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


_SIMPLE: dict[str, Check] = {
    "int": _int_in(_INT32),
    "long": _int_in(_INT64),
    "alpha": lambda v: bool(re.fullmatch(r"[A-Za-z]+", v)),
    "bool": lambda v: v.lower() in ("true", "false"),
    "guid": _is_guid,
    "decimal": _is_number,
    "double": _is_number,
    "float": _is_number,
    "datetime": _is_datetime,
}


def _ints(args: str, count: int) -> list[int]:
    parts = [p.strip() for p in args.split(",")]
    if len(parts) != count or not all(_INTEGER.match(p) for p in parts):
        raise ValueError(f"expected {count} integer argument(s), got {args!r}")
    return [int(p) for p in parts]


def _with_args(name: str, args: str) -> Check:
    if name == "minlength":
        (n,) = _ints(args, 1)
        return lambda v: len(v) >= n
    if name == "maxlength":
        (n,) = _ints(args, 1)
        return lambda v: len(v) <= n
    if name == "length":
        if "," in args:
            lo, hi = _ints(args, 2)
            return lambda v: lo <= len(v) <= hi
        (n,) = _ints(args, 1)
        return lambda v: len(v) == n
    if name == "min":
        (n,) = _ints(args, 1)
        return lambda v: _int_in(_INT64)(v) and int(v) >= n
    if name == "max":
        (n,) = _ints(args, 1)
        return lambda v: _int_in(_INT64)(v) and int(v) <= n
    if name == "range":
        lo, hi = _ints(args, 2)
        return lambda v: _int_in(_INT64)(v) and lo <= int(v) <= hi
    if name == "regex":
        # Braces are doubled inside route templates: ``regex(^\\d{{3}}$)``.
        pattern = re.compile(args.replace("{{", "{").replace("}}", "}"), re.IGNORECASE)
        return lambda v: pattern.search(v) is not None
    raise KeyError(name)


@dataclass(frozen=True)
class Parameter:
    name: str
    optional: bool = False
    catch_all: bool = False
    default: str | None = None
    checks: tuple[Check, ...] = ()
    constrained: bool = False


@dataclass(frozen=True)
class RouteMatch:
    params: dict[str, str]


@dataclass
class RouteTemplate:
    """A compiled route template (without the host's route prefix)."""

    template: str
    prefix: str
    regex: re.Pattern[str]
    parameters: dict[str, Parameter]
    precedence: tuple[int, ...]
    warnings: list[str] = field(default_factory=list)

    @property
    def path(self) -> str:
        """The full path template as served, e.g. ``/api/items/{id:int}``."""
        parts = [p for p in (self.prefix.strip("/"), self.template.strip("/")) if p]
        return "/" + "/".join(parts)

    def match(self, raw_path: str) -> RouteMatch | None:
        """Match a raw (still percent-encoded) request path; None when it does not fit."""
        found = self.regex.fullmatch(raw_path)
        if found is None:
            return None
        params: dict[str, str] = {}
        for name, param in self.parameters.items():
            raw = found.group(name)
            if raw is None or raw == "":
                if param.default is not None:
                    params[name] = param.default
                elif not param.optional and not param.catch_all:
                    return None
                continue
            value = unquote(raw)
            if not all(check(value) for check in param.checks):
                return None
            params[name] = value
        return RouteMatch(params)


def _split_token(body: str) -> tuple[str, list[str]]:
    """Split ``name:c1:c2(a,b)`` into name and constraints, honouring parentheses."""
    pieces: list[str] = []
    depth = 0
    current: list[str] = []
    for ch in body:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        if ch == ":" and depth == 0:
            pieces.append("".join(current))
            current = []
            continue
        current.append(ch)
    pieces.append("".join(current))
    return pieces[0], pieces[1:]


def _parse_segment(segment: str) -> list[str | tuple[str]]:
    """Literal text as ``str``, ``{...}`` parameter bodies as 1-tuples."""
    parts: list[str | tuple[str]] = []
    i = 0
    literal: list[str] = []
    while i < len(segment):
        ch = segment[i]
        if ch == "{":
            if segment.startswith("{{", i):
                literal.append("{")
                i += 2
                continue
            depth = 0
            j = i
            while j < len(segment):
                if segment[j] == "(":
                    depth += 1
                elif segment[j] == ")":
                    depth -= 1
                elif segment[j] == "}" and depth <= 0:
                    break
                j += 1
            if j >= len(segment):
                raise RouteTemplateError(f"unclosed '{{' in segment {segment!r}")
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append((segment[i + 1 : j],))
            i = j + 1
            continue
        if ch == "}":
            if segment.startswith("}}", i):
                literal.append("}")
                i += 2
                continue
            raise RouteTemplateError(f"unmatched '}}' in segment {segment!r}")
        literal.append(ch)
        i += 1
    if literal:
        parts.append("".join(literal))
    return parts


def _parameter(body: str, warnings: list[str]) -> Parameter:
    catch_all = False
    if body.startswith("**"):
        catch_all, body = True, body[2:]
    elif body.startswith("*"):
        catch_all, body = True, body[1:]
    optional = False
    default: str | None = None
    name_part, constraints = _split_token(body)
    if constraints and constraints[-1].endswith("?"):
        constraints[-1] = constraints[-1][:-1]
        optional = True
    if constraints and "=" in constraints[-1]:
        constraints[-1], default = constraints[-1].split("=", 1)
    if "=" in name_part:
        name_part, default = name_part.split("=", 1)
    if name_part.endswith("?"):
        name_part, optional = name_part[:-1], True
    if not _NAME.match(name_part):
        raise RouteTemplateError(f"invalid route parameter name {name_part!r}")
    checks: list[Check] = []
    for constraint in constraints:
        cname, _, rest = constraint.partition("(")
        cname = cname.strip().lower()
        try:
            if rest:
                if not rest.endswith(")"):
                    raise ValueError(f"unbalanced parentheses in {constraint!r}")
                checks.append(_with_args(cname, rest[:-1]))
            else:
                checks.append(_SIMPLE[cname])
        except KeyError:
            warnings.append(
                f"route parameter {name_part!r}: unknown constraint {constraint!r} is not enforced"
            )
        except (ValueError, re.error) as exc:
            raise RouteTemplateError(
                f"route parameter {name_part!r}: bad constraint {constraint!r}: {exc}"
            ) from exc
    return Parameter(
        name=name_part,
        optional=optional,
        catch_all=catch_all,
        default=default,
        checks=tuple(checks),
        constrained=bool(constraints),
    )


def compile_route(template: str, prefix: str = "api") -> RouteTemplate:
    """Compile ``template`` served under ``/prefix``; raises RouteTemplateError if invalid."""
    warnings: list[str] = []
    parameters: dict[str, Parameter] = {}
    precedence: list[int] = []
    pattern: list[str] = []
    for piece in prefix.strip("/").split("/"):
        if piece:
            pattern.append("/" + re.escape(piece))
    segments = [s for s in template.strip().strip("/").split("/")]
    if segments == [""]:
        segments = []
    for index, segment in enumerate(segments):
        if segment == "":
            raise RouteTemplateError(f"route template {template!r} has an empty segment")
        parts = _parse_segment(segment)
        if any(isinstance(p, str) and ("?" in p or "#" in p) for p in parts):
            raise RouteTemplateError(f"route template {template!r} may not contain '?' or '#'")
        params_here = [p for p in parts if isinstance(p, tuple)]
        if not params_here:
            pattern.append("/" + re.escape(segment))
            precedence.append(1)
            continue
        seg_regex: list[str] = []
        seg_params: list[Parameter] = []
        for part in parts:
            if isinstance(part, str):
                seg_regex.append(re.escape(part))
                continue
            param = _parameter(part[0], warnings)
            if param.name.lower() in (n.lower() for n in parameters):
                raise RouteTemplateError(f"route parameter {param.name!r} appears twice")
            if param.catch_all and index != len(segments) - 1:
                raise RouteTemplateError(f"catch-all {param.name!r} must be the last segment")
            parameters[param.name] = param
            seg_params.append(param)
            if param.catch_all:
                seg_regex.append(f"(?P<{param.name}>.*)")
            else:
                lazy = "?" if len(parts) > 1 else ""
                seg_regex.append(f"(?P<{param.name}>[^/]+{lazy})")
        body = "".join(seg_regex)
        lone = len(parts) == 1 and len(seg_params) == 1
        param0 = seg_params[0]
        if lone and (param0.optional or param0.default is not None or param0.catch_all):
            pattern.append(f"(?:/{body})?")
            precedence.append(5 if param0.catch_all else 4)
        else:
            if any(p.optional for p in seg_params) and not lone:
                raise RouteTemplateError(
                    f"optional parameter in complex segment {segment!r} is not supported"
                )
            pattern.append("/" + body)
            if len(parts) > 1:
                precedence.append(2)
            else:
                precedence.append(2 if param0.constrained else 3)
    regex = re.compile("".join(pattern) + "/?", re.IGNORECASE)
    return RouteTemplate(
        template=template,
        prefix=prefix,
        regex=regex,
        parameters=parameters,
        precedence=tuple(precedence),
        warnings=warnings,
    )


def precedence_key(route: RouteTemplate) -> tuple[int, ...]:
    """Sort key: literal segments before constrained, plain, optional and catch-all ones,
    segment by segment, as ASP.NET Core routing ranks templates (learn.microsoft.com/dotnet/
    api/microsoft.aspnetcore.routing.template.routeprecedence.computeinbound: "/api/template
    == 1.1 /api/template/{id} == 1.13 /api/{id:int} == 1.2", lower first)."""
    return (*route.precedence, 0)
