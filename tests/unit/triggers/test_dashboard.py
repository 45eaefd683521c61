"""GET /api/dashboard and its assets, called as the Functions host calls them; the vendored
chart library against the npm package pinned in package.json."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import azure.functions as func
import pathspec
import pytest

from handlers import dashboard
from tests.engine_support import API_KEY

ROOT = Path(__file__).resolve().parents[3]
ASSETS = ROOT / "handlers" / "dashboard_assets"
UPLOT = ROOT / "node_modules" / "uplot"
VENDORED = {
    "uPlot.iife.min.js": "dist/uPlot.iife.min.js",
    "uPlot.min.css": "dist/uPlot.min.css",
    "uPlot.LICENSE": "LICENSE",
}


def get(
    url: str,
    route: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    **params: str,
) -> func.HttpResponse:
    """A GET of the page (or, with ``route``, an asset)."""
    req = func.HttpRequest(
        method="GET",
        url=url,
        headers=headers or {},
        params=params,
        route_params=route or {},
        body=b"",
    )
    if route is not None:
        return dashboard.dashboard_asset(req)
    return dashboard.dashboard(req)


def asset(name: str, **params: str) -> func.HttpResponse:
    return get(f"http://localhost/api/dashboard/assets/{name}", route={"name": name}, **params)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text = ""
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text += data


def parse(resp: func.HttpResponse) -> _Tags:
    tags = _Tags()
    tags.feed(resp.get_body().decode("utf-8"))
    return tags


def asset_urls(tags: _Tags) -> list[str]:
    found = [a.get("src") for t, a in tags.tags if t == "script"]
    found += [a.get("href") for t, a in tags.tags if t == "link" and a.get("rel") == "stylesheet"]
    return [u for u in found if u]


def test_page_is_html_with_a_csp_that_allows_only_its_own_scripts_and_api() -> None:
    resp = get("http://localhost/api/dashboard")
    assert resp.status_code == 200
    assert resp.mimetype == "text/html"
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "connect-src 'self'" in csp
    assert "default-src 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert resp.headers["Cache-Control"] == "no-store"


def test_page_has_no_inline_script_and_loads_the_libraries_before_its_own() -> None:
    tags = parse(get("http://localhost/api/dashboard"))
    scripts = [a for t, a in tags.tags if t == "script"]
    assert tags.script_text.strip() == ""
    assert [a["src"].split("?")[0].rsplit("/", 1)[1] for a in scripts if a.get("src")] == [
        "uPlot.iife.min.js",
        "dashboard_key.js",
        "dashboard_dom.js",
        "dashboard_charts.js",
        "dashboard_actions.js",
        "dashboard_detail.js",
        "dashboard.js",
    ]
    assert not any(k.startswith("on") for _t, a in tags.tags for k in a)


def test_page_and_asset_urls_never_carry_the_key_even_when_opened_with_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = 'a"b<c>&d/+=' + "k" * 30
    monkeypatch.setenv("AUTOCANARY_API_KEYS", key)
    resp = get("http://localhost/api/dashboard", code=key)
    urls = asset_urls(parse(resp))
    assert len(urls) == len(dashboard.STYLES) + len(dashboard.SCRIPTS) == 9
    assert all("?" not in u for u in urls), urls
    raw = resp.get_body().decode()
    assert "code=" not in raw and "kkkkk" not in raw


def test_page_asset_urls_follow_the_route_prefix_of_the_page() -> None:
    for url, prefix in (
        ("http://localhost/api/dashboard", "/api/dashboard/assets/"),
        ("http://localhost/api/dashboard/", "/api/dashboard/assets/"),
        ("https://app.example/ops/dashboard?code=x", "/ops/dashboard/assets/"),
    ):
        urls = asset_urls(parse(get(url)))
        assert urls and all(u.startswith(prefix) for u in urls), (url, urls)


@pytest.mark.parametrize("keys", ["", API_KEY])
@pytest.mark.parametrize("what", ["page", "asset"])
def test_page_and_assets_are_served_without_a_key_and_the_same_with_one(
    what: str, keys: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """They hold no rollout data (that comes from the API, which checks the key), so the
    page can ask for the key instead of reading it from its URL."""
    monkeypatch.setenv("AUTOCANARY_API_KEYS", keys)
    if what == "page":
        without = get("http://localhost/api/dashboard", headers={"accept": "text/html"})
        keyed = get("http://localhost/api/dashboard", headers={"x-functions-key": API_KEY})
    else:
        url = "http://localhost/api/dashboard/assets/dashboard.js"
        without = get(url, route={"name": "dashboard.js"}, headers={"accept": "*/*"})
        keyed = get(url, route={"name": "dashboard.js"}, headers={"x-functions-key": API_KEY})
    assert without.status_code == keyed.status_code == 200
    assert without.get_body() == keyed.get_body()


def test_page_has_a_sign_in_form_whose_key_input_is_a_password_field() -> None:
    tags = parse(get("http://localhost/api/dashboard"))
    inputs = [a for t, a in tags.tags if t == "input"]
    assert [(a.get("id"), a.get("type")) for a in inputs] == [("api-key", "password")]
    forms = [a for t, a in tags.tags if t == "form"]
    assert [a.get("id") for a in forms] == ["key-form"]
    # the script handles the form; were it not to run, the CSP's form-action 'none' stops a
    # native submit, and a POST of a field without a name would carry nothing in any case
    assert all(a.get("method") == "post" and "action" not in a for a in forms)
    assert all("name" not in a and a.get("autocomplete") == "off" for a in inputs)
    assert "form-action 'none'" in dashboard.CSP


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("dashboard.js", "text/javascript"),
        ("dashboard_charts.js", "text/javascript"),
        ("dashboard_actions.js", "text/javascript"),
        ("dashboard_dom.js", "text/javascript"),
        ("dashboard_key.js", "text/javascript"),
        ("dashboard_detail.js", "text/javascript"),
        ("dashboard.css", "text/css"),
        ("uPlot.iife.min.js", "text/javascript"),
        ("uPlot.min.css", "text/css"),
    ],
)
def test_asset_is_served_with_its_content_type(name: str, content_type: str) -> None:
    resp = asset(name)
    assert resp.status_code == 200
    assert resp.mimetype == content_type
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.get_body() == (ASSETS / name).read_bytes()


@pytest.mark.parametrize(
    "name",
    [
        "missing.js",
        "../dashboard.py",
        "..%2Fdashboard.py",
        "..",
        ".hidden.js",
        "uPlot.LICENSE",  # shipped for the licence, not served: no content type
        "a/b.js",
        "",
        "x" * 200 + ".js",
    ],
)
def test_asset_that_is_not_a_shipped_file_is_a_json_404(name: str) -> None:
    resp = asset(name)
    assert resp.status_code == 404
    body = json.loads(resp.get_body())
    assert body["error"]["code"] == "unknown_asset"


def test_dashboard_routes_are_anonymous_at_host_level() -> None:
    """The app checks the key itself, as for the operator API (one key opens both). A
    FunctionApp of its own: function_app.app's functions may be read only once per process
    (test_handlers reads them, and pins that function_app registers these two)."""
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
    app.register_functions(dashboard.bp)
    functions = {f.get_function_name(): f for f in app.get_functions()}
    assert set(functions) == {"dashboard", "dashboard_asset"}
    for name, route in (("dashboard", "dashboard"), ("dashboard_asset", "dashboard/assets/{name}")):
        trigger = functions[name].get_bindings_dict()["bindings"][0]
        assert trigger["type"] == "httpTrigger"
        assert trigger["route"] == route
        assert trigger["authLevel"] == func.AuthLevel.ANONYMOUS


def _package_pin() -> str:
    package = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))
    pin: str = package["dependencies"]["uplot"]
    return pin


def test_uplot_is_pinned_to_one_exact_version_in_package_json_and_its_lock() -> None:
    pin = _package_pin()
    assert re.fullmatch(r"1\.6\.\d+", pin), pin
    lock = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))
    assert lock["packages"]["node_modules/uplot"]["version"] == pin
    assert lock["packages"][""]["dependencies"]["uplot"] == pin


def test_vendored_uplot_announces_the_pinned_version() -> None:
    head = (ASSETS / "uPlot.iife.min.js").read_text(encoding="utf-8")[:200]
    assert f"(v{_package_pin()})" in head, head


@pytest.mark.parametrize(("vendored", "in_package"), sorted(VENDORED.items()))
def test_vendored_uplot_file_is_byte_for_byte_the_pinned_npm_package(
    vendored: str, in_package: str
) -> None:
    installed = json.loads((UPLOT / "package.json").read_text(encoding="utf-8"))
    assert installed["version"] == _package_pin(), "node_modules is stale: run npm install"
    assert (ASSETS / vendored).read_bytes() == (UPLOT / in_package).read_bytes()


def test_vendored_uplot_licence_is_mit() -> None:
    text = (ASSETS / "uPlot.LICENSE").read_text(encoding="utf-8")
    assert "MIT" in text and "Leon Sorokin" in text


def _funcignore() -> pathspec.GitIgnoreSpec:
    lines = (ROOT / ".funcignore").read_text(encoding="utf-8").splitlines()
    return pathspec.GitIgnoreSpec.from_lines(lines)


@pytest.mark.parametrize("name", sorted(p.name for p in ASSETS.iterdir()))
def test_funcignore_publishes_every_dashboard_asset(name: str) -> None:
    assert not _funcignore().match_file(f"handlers/dashboard_assets/{name}")


def test_every_asset_the_page_loads_is_shipped() -> None:
    names: list[Any] = [*dashboard.STYLES, *dashboard.SCRIPTS]
    assert all((ASSETS / n).is_file() for n in names)


def test_readme_shows_the_committed_screenshot_and_the_command_that_makes_it() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "](docs/dashboard.png)" in readme
    assert "make screenshot" in readme
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "tests.dashboard_support docs/dashboard.png" in makefile
    png = (ROOT / "docs" / "dashboard.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width = int.from_bytes(png[16:20], "big")
    assert width == 1400
