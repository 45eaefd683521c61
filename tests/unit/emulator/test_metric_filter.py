"""Parsing of the metrics API's $filter (pure, no network)."""

from __future__ import annotations

import pytest

from emulator.monitor import ENDPOINT_NS, METRICS, MetricsError, build_filter, parse_filter

RPM = METRICS[ENDPOINT_NS.lower()]["requestsperminute"]
LATENCY = METRICS[ENDPOINT_NS.lower()]["requestlatency"]


def test_or_groups_values_of_one_dimension_and_and_joins_dimensions() -> None:
    """The SDK's documented example: A and (B1 or B2) and C split."""
    f = build_filter(
        parse_filter(
            "deployment eq 'blue' and statusCode eq '500' or statusCode eq '503' "
            "and statusCodeClass eq '*'"
        ),
        RPM,
    )
    assert f.split == ("deployment", "statusCode", "statusCodeClass")
    assert f.include == {"deployment": frozenset({"blue"}), "statusCode": frozenset({"500", "503"})}
    assert f.admits({"deployment": "Blue", "statusCode": "503", "statusCodeClass": "5xx"})
    assert not f.admits({"deployment": "blue", "statusCode": "200", "statusCodeClass": "2xx"})


def test_or_across_dimensions_is_refused() -> None:
    """'or' cannot separate two different metadata names."""
    with pytest.raises(MetricsError):
        parse_filter("deployment eq 'blue' or statusCode eq '500'")


def test_parentheses_are_accepted() -> None:
    """(a or b) and c reads as the per-dimension grouping."""
    f = build_filter(
        parse_filter("(deployment eq 'a' or deployment eq 'b') and statusCodeClass eq '5xx'"), RPM
    )
    assert f.include["deployment"] == frozenset({"a", "b"})


def test_ne_excludes_values() -> None:
    """ne drops a value while splitting by the dimension."""
    f = build_filter(parse_filter("statusCodeClass ne '2xx'"), RPM)
    assert f.split == ("statusCodeClass",)
    assert not f.admits({"statusCodeClass": "2xx"})
    assert f.admits({"statusCodeClass": "4xx"})


def test_dimension_names_are_case_insensitive() -> None:
    """DEPLOYMENT resolves to the metric's 'deployment'."""
    assert build_filter(parse_filter("DEPLOYMENT eq '*'"), LATENCY).split == ("deployment",)


def test_unknown_dimension_for_metric_is_refused() -> None:
    """RequestLatency has no statusCode dimension."""
    with pytest.raises(MetricsError):
        build_filter(parse_filter("statusCode eq '*'"), LATENCY)


def test_rollup_removes_a_dimension_from_the_split() -> None:
    """rollupby keeps the value filter but merges the series."""
    f = build_filter(
        parse_filter("deployment eq 'a' or deployment eq 'b'"), RPM, rollup=["deployment"]
    )
    assert f.split == ()
    assert f.include["deployment"] == frozenset({"a", "b"})


@pytest.mark.parametrize(
    "text",
    ["deployment eq", "deployment 'a'", "deployment eq 'a' and", "eq 'a'", "x eq 'a' xor y eq 'b'"],
)
def test_malformed_filters_are_refused(text: str) -> None:
    """Incomplete or unknown syntax is a 400."""
    with pytest.raises(MetricsError):
        parse_filter(text)
