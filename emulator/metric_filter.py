"""The metrics API's ``$filter`` grammar and its resolution against a metric's dimensions.

``dim eq 'v'``, ``dim ne 'v'``, ``dim eq '*'`` (split by it), ``and``, ``or`` between values of
the same dimension only, parentheses (azure-sdk-for-python ``sdk/monitor/
azure-monitor-querymetrics``, ``MetricsClient.query_resources`` docstring: "the logical or
operator cannot separate two different metadata names").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote

from emulator.metric_catalog import MetricDef, bad


@dataclass(frozen=True)
class DimFilter:
    """Which dimension values a query keeps and which dimensions split it into series.

    Dimension names are canonical (as the metric defines them); values are lower-cased.
    ``include[d]`` absent means every value; ``split`` lists the dimensions that appear in
    ``metadatavalues``, in order.
    """

    split: tuple[str, ...] = ()
    include: dict[str, frozenset[str]] = field(default_factory=dict)
    exclude: dict[str, frozenset[str]] = field(default_factory=dict)

    def admits(self, values: dict[str, str]) -> bool:
        for dim, allowed in self.include.items():
            if values.get(dim, "").lower() not in allowed:
                return False
        return all(
            values.get(dim, "").lower() not in banned for dim, banned in self.exclude.items()
        )


_FILTER_TOKEN = re.compile(r"\s*(?:(?P<q>'(?:[^']|'')*')|(?P<p>[()])|(?P<w>[^\s()']+))")


@dataclass(frozen=True)
class _Cond:
    name: str
    op: str
    value: str


def parse_filter(text: str | None) -> list[list[_Cond]]:
    """The filter as and-groups of or-ed conditions on one dimension each.

    ``A eq 'a1' and B eq 'b1' or B eq 'b2' and C eq '*'`` is A=a1 and B in (b1, b2) and C=*:
    ``or`` may only join conditions on the same dimension (the SDK documents the mixed form as
    invalid). Parentheses are accepted and do not change that reading.
    """
    if text is None or not text.strip():
        return []
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _FILTER_TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip() == "":
                break
            raise bad(f"Invalid filter near position {pos}: {text[pos:]!r}")
        pos = m.end()
        if m.group("q") is not None:
            tokens.append(("value", m.group("q")[1:-1].replace("''", "'")))
        elif m.group("p") is not None:
            continue
        elif m.group("w") is not None:
            tokens.append(("word", m.group("w")))
    groups: list[list[_Cond]] = [[]]
    i = 0
    expect_cond = True
    while i < len(tokens):
        if expect_cond:
            # A dimension name may contain spaces: words up to the operator.
            j = i
            while j < len(tokens) and not (
                tokens[j][0] == "word" and tokens[j][1].lower() in ("eq", "ne")
            ):
                if tokens[j][0] != "word":
                    raise bad(f"Invalid filter {text!r}: expected a dimension name")
                j += 1
            if j == i or j + 1 >= len(tokens) or tokens[j + 1][0] != "value":
                raise bad(f"Invalid filter {text!r}: expected \"<dimension> eq|ne '<value>'\"")
            name = unquote(unquote(" ".join(t[1] for t in tokens[i:j])))
            groups[-1].append(_Cond(name, tokens[j][1].lower(), unquote(unquote(tokens[j + 1][1]))))
            i = j + 2
            expect_cond = False
        else:
            kind, word = tokens[i]
            if kind != "word" or word.lower() not in ("and", "or"):
                raise bad(f"Invalid filter {text!r}: expected 'and' or 'or' near {word!r}")
            if word.lower() == "and":
                groups.append([])
            i += 1
            expect_cond = True
    if expect_cond:
        raise bad(f"Invalid filter {text!r}: it ends with an operator")
    for group in groups:
        names = {c.name.lower() for c in group}
        if len(names) > 1:
            raise bad(
                f"Invalid filter {text!r}: the logical 'or' operator cannot separate two "
                "different metadata names"
            )
    return groups


def build_filter(
    groups: Sequence[Sequence[_Cond]], metric: MetricDef, rollup: Iterable[str] = ()
) -> DimFilter:
    """Resolve a parsed filter against one metric's dimensions."""
    canonical = {d.lower(): d for d in metric.dimensions}
    split: list[str] = []
    include: dict[str, frozenset[str]] = {}
    exclude: dict[str, frozenset[str]] = {}
    for group in groups:
        dim = canonical.get(group[0].name.lower())
        if dim is None:
            asked = sorted({g[0].name for g in groups})
            raise bad(
                f"Metric: {metric.name} does not support requested dimension combination: "
                f"{', '.join(asked)}, supported ones are: "
                f"{', '.join(metric.dimensions) or '<none>'}"
            )
        if dim not in split:
            split.append(dim)
        eq = {c.value.lower() for c in group if c.op == "eq"}
        ne = {c.value.lower() for c in group if c.op == "ne"}
        if eq and "*" not in eq:
            include[dim] = include[dim] & frozenset(eq) if dim in include else frozenset(eq)
        if ne:
            exclude[dim] = exclude.get(dim, frozenset()) | frozenset(ne)
    rolled = {r.strip().lower() for r in rollup if r.strip()}
    for r in rolled:
        if r not in canonical:
            raise bad(f"rollupby names {r!r}, which is not a dimension of {metric.name}")
    return DimFilter(tuple(d for d in split if d.lower() not in rolled), include, exclude)
