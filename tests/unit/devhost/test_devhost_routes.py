"""Route templates: parameters, optional parts, constraints, prefix and precedence."""

from __future__ import annotations

import pytest

from devhost.routes import RouteTemplateError, compile_route, precedence_key


def params(template: str, path: str, prefix: str = "api") -> dict[str, str] | None:
    found = compile_route(template, prefix).match(path)
    return None if found is None else found.params


def test_literal_route_under_api_prefix() -> None:
    """'hello' is served at /api/hello and nowhere else."""
    assert params("hello", "/api/hello") == {}
    assert params("hello", "/hello") is None
    assert params("hello", "/api/hello/more") is None


def test_literal_match_ignores_case_and_trailing_slash() -> None:
    """ASP.NET routing matches literals case-insensitively and tolerates a trailing slash."""
    assert params("Rollouts/Active", "/API/rollouts/active/") == {}


def test_parameter_is_captured_and_percent_decoded() -> None:
    """{name} captures one segment, decoded."""
    assert params("items/{name}", "/api/items/a%20b") == {"name": "a b"}


def test_parameter_never_spans_segments() -> None:
    """{name} does not match across a slash."""
    assert params("items/{name}", "/api/items/a/b") is None


def test_optional_parameter_present_or_absent() -> None:
    """{name?} matches with and without its segment; absent means not in route_params."""
    assert params("items/{id}/{name?}", "/api/items/1") == {"id": "1"}
    assert params("items/{id}/{name?}", "/api/items/1/x") == {"id": "1", "name": "x"}


def test_default_value_fills_a_missing_segment() -> None:
    """{page=1} supplies its default when the segment is missing."""
    assert params("list/{page=1}", "/api/list") == {"page": "1"}
    assert params("list/{page=1}", "/api/list/3") == {"page": "3"}


@pytest.mark.parametrize(
    ("value", "ok"), [("42", True), ("-7", True), ("4x", False), ("2147483648", False)]
)
def test_int_constraint(value: str, ok: bool) -> None:
    """{id:int} takes 32-bit integers only."""
    assert (params("items/{id:int}", f"/api/items/{value}") is not None) is ok


@pytest.mark.parametrize(("value", "ok"), [("abc", True), ("ABC", True), ("ab1", False)])
def test_alpha_constraint(value: str, ok: bool) -> None:
    """{name:alpha} takes letters only."""
    assert (params("n/{name:alpha}", f"/api/n/{value}") is not None) is ok


def test_optional_constrained_parameter() -> None:
    """{name:alpha?} is optional, and checked when present."""
    assert params("n/{name:alpha?}", "/api/n") == {}
    assert params("n/{name:alpha?}", "/api/n/abc") == {"name": "abc"}
    assert params("n/{name:alpha?}", "/api/n/123") is None


@pytest.mark.parametrize(
    ("template", "good", "bad"),
    [
        ("x/{v:bool}", "TRUE", "yes"),
        ("x/{v:guid}", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "not-a-guid"),
        ("x/{v:long}", "9000000000", "9.5"),
        ("x/{v:double}", "1.5", "abc"),
        ("x/{v:minlength(3)}", "abc", "ab"),
        ("x/{v:maxlength(2)}", "ab", "abc"),
        ("x/{v:length(2,3)}", "abc", "abcd"),
        ("x/{v:range(1,5)}", "5", "6"),
        ("x/{v:min(10)}", "10", "9"),
        ("x/{v:max(10)}", "10", "11"),
        ("x/{v:int:min(1)}", "3", "0"),
        ("x/{v:regex(^\\d{{3}}$)}", "123", "1234"),
    ],
)
def test_other_constraints(template: str, good: str, bad: str) -> None:
    """The usual ASP.NET constraints accept and refuse as documented, also chained."""
    assert params(template, f"/api/x/{good}") is not None
    assert params(template, f"/api/x/{bad}") is None


def test_unknown_constraint_is_ignored_with_a_warning() -> None:
    """{v:frobnicate} matches anything and reports a warning instead of failing."""
    route = compile_route("x/{v:frobnicate}")
    assert route.match("/api/x/anything") is not None
    assert route.warnings and "frobnicate" in route.warnings[0]


def test_catch_all_takes_the_rest_of_the_path() -> None:
    """{*rest} captures every remaining segment (or nothing)."""
    assert params("files/{*rest}", "/api/files/a/b/c.txt") == {"rest": "a/b/c.txt"}
    assert params("files/{*rest}", "/api/files") == {}


def test_complex_segment_with_two_parameters() -> None:
    """{a}-{b} splits one segment around the literal dash."""
    assert params("d/{a}-{b}", "/api/d/left-right") == {"a": "left", "b": "right"}


def test_custom_and_empty_prefix() -> None:
    """routePrefix 'v1' and '' move or remove the /api part."""
    assert params("hello", "/v1/hello", prefix="v1") == {}
    assert params("hello", "/hello", prefix="") == {}
    assert compile_route("hello", "").path == "/hello"
    assert compile_route("items/{id}", "api").path == "/api/items/{id}"


@pytest.mark.parametrize(
    "template",
    ["items/{id", "items/id}", "a/{x}/{x}", "{*rest}/more", "a//b", "a/{9bad}", "a/b?c"],
    ids=["unclosed", "unopened", "duplicate", "catch-all-not-last", "empty", "name", "query"],
)
def test_invalid_templates_are_refused(template: str) -> None:
    """Broken templates raise RouteTemplateError instead of serving something odd."""
    with pytest.raises(RouteTemplateError):
        compile_route(template)


def test_precedence_literal_before_constrained_before_plain_before_catch_all() -> None:
    """Routes sort as ASP.NET orders them: literal, constrained, plain, optional, catch-all."""
    routes = [
        compile_route(t) for t in ["x/{*rest}", "x/{id}", "x/{id?}", "x/{id:int}", "x/special"]
    ]
    ordered = [r.template for r in sorted(routes, key=precedence_key)]
    assert ordered == ["x/special", "x/{id:int}", "x/{id}", "x/{id?}", "x/{*rest}"]


def test_the_apps_history_routes_win_over_the_action_parameter_and_keep_their_values() -> None:
    """GET rollouts/{endpoint}/history sorts before rollouts/{endpoint}/{action}, as the
    Functions host orders them (ASP.NET Core RoutePrecedence.ComputeInbound: "/api/template
    == 1.1 /api/template/{id} == 1.13", learn.microsoft.com/dotnet/api/
    microsoft.aspnetcore.routing.template.routeprecedence.computeinbound), so ``history`` is
    never taken for an action; one rollout by id and its series keep both route values."""
    templates = [
        "rollouts/{endpoint}/{action}",
        "rollouts/{endpoint}/history/{rollout_id}/series",
        "rollouts/{endpoint}/history",
        "rollouts/{endpoint}/history/{rollout_id}",
        "rollouts/{endpoint}",
    ]
    ordered = sorted((compile_route(t) for t in templates), key=precedence_key)

    def first(path: str) -> tuple[str, dict[str, str]]:
        for route in ordered:
            found = route.match(path)
            if found is not None:
                return route.template, found.params
        raise AssertionError(path)

    assert first("/api/rollouts/fraud/history") == (
        "rollouts/{endpoint}/history",
        {"endpoint": "fraud"},
    )
    assert first("/api/rollouts/fraud/pause")[0] == "rollouts/{endpoint}/{action}"
    assert first("/api/rollouts/fraud/history/r%7C1/series") == (
        "rollouts/{endpoint}/history/{rollout_id}/series",
        {"endpoint": "fraud", "rollout_id": "r|1"},
    )
