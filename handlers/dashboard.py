"""The operator dashboard: one HTML page and its static assets, served by the app.

GET /api/dashboard                 the page
GET /api/dashboard/assets/{name}   a file shipped in handlers/dashboard_assets/ (the page's
                                   scripts and styles, the vendored uPlot chart library)

The page and its assets hold no rollout data and need no key: the page asks the operator for
the API's key, keeps it in the tab's sessionStorage and sends it only in the
``x-functions-key`` header of its API calls, so the key is never part of a URL (URLs end up
in access logs, browser history, bookmarks and shared screenshots). Every document it shows
comes from the operator API, which checks the key (handlers._http.api_call).

The page is plain JavaScript with no build step; it reads the operator API
(``/api/rollouts``, ``/api/rollouts/{endpoint}``, ``.../history/{id}``, ``.../series``) and
posts its actions (``POST /api/rollouts/{endpoint}/{action}``). Nothing is read at import
time; files are read on first use.
"""

from __future__ import annotations

import functools
import html
import re
from pathlib import Path
from urllib.parse import urlsplit

import azure.functions as func

from handlers._http import guarded
from shared.errors import NotFound

bp = func.Blueprint()

ASSETS = Path(__file__).resolve().parent / "dashboard_assets"

#: What the page may load: its own scripts, styles and API, nothing inline, nothing remote.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    # the page's URL may name an endpoint: never hand it to another site
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
CONTENT_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}
# one path segment, no dot first: "../x", ".hidden" and "a/b" never name an asset
_ASSET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# the page's assets, in load order
STYLES = ("uPlot.min.css", "dashboard.css")
SCRIPTS = (
    "uPlot.iife.min.js",
    "dashboard_key.js",
    "dashboard_dom.js",
    "dashboard_charts.js",
    "dashboard_actions.js",
    "dashboard_detail.js",
    "dashboard.js",
)


@bp.function_name("dashboard")
@bp.route(route="dashboard", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def dashboard(req: func.HttpRequest) -> func.HttpResponse:
    return guarded(lambda: _page(urlsplit(req.url).path))


@bp.function_name("dashboard_asset")
@bp.route(route="dashboard/assets/{name}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def dashboard_asset(req: func.HttpRequest) -> func.HttpResponse:
    return guarded(lambda: _asset(req.route_params.get("name") or ""))


def _page(path: str) -> func.HttpResponse:
    return func.HttpResponse(
        render_page(path),
        status_code=200,
        mimetype="text/html",
        charset="utf-8",
        headers={**SECURITY_HEADERS, "Cache-Control": "no-store"},
    )


def render_page(path: str) -> str:
    """The page's HTML for the page's own URL path (``/api/dashboard``, any route prefix):
    asset URLs are absolute paths below the page's."""
    base = (path or "/api/dashboard").rstrip("/")

    def url(name: str) -> str:
        return html.escape(f"{base}/assets/{name}", quote=True)

    styles = "\n".join(f'<link rel="stylesheet" href="{url(n)}">' for n in STYLES)
    scripts = "\n".join(f'<script src="{url(n)}" defer></script>' for n in SCRIPTS)
    return _TEMPLATE.format(styles=styles, scripts=scripts)


def _asset(name: str) -> func.HttpResponse:
    found = asset_bytes(name)
    if found is None:
        raise NotFound(f"no dashboard asset named {name!r}", code="unknown_asset")
    body, content_type = found
    return func.HttpResponse(
        body,
        status_code=200,
        mimetype=content_type,
        charset="utf-8",
        headers={
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=300",
        },
    )


@functools.lru_cache(maxsize=32)
def asset_bytes(name: str) -> tuple[bytes, str] | None:
    """A shipped asset's bytes and content type, or None for any name that is not one."""
    if not _ASSET_NAME.match(name):
        return None
    content_type = CONTENT_TYPES.get(Path(name).suffix.lower())
    if content_type is None:
        return None
    path = ASSETS / name
    if not path.is_file() or path.resolve().parent != ASSETS:
        return None
    return path.read_bytes(), content_type


_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>autocanary</title>
{styles}
{scripts}
</head>
<body data-state="loading">
<header class="top">
  <h1>autocanary</h1>
  <span id="status" class="status" role="status">loading...</span>
  <button id="refresh" type="button">Refresh</button>
  <button id="forget-key" type="button" hidden>Forget key</button>
</header>
<section id="sign-in" class="sign-in" hidden>
  <form id="key-form" method="post">
    <h2><label for="api-key">API key</label></h2>
    <p id="key-message" class="muted">Enter a key of AUTOCANARY_API_KEYS (or a read-only key of
    AUTOCANARY_API_READ_KEYS). It is kept in this tab only and sent in the x-functions-key
    header, never in a URL.</p>
    <input id="api-key" type="password" autocomplete="off" required>
    <button id="key-submit" type="submit">Open</button>
  </form>
</section>
<main class="layout">
  <nav class="list" aria-label="Rollouts">
    <h2>Rollouts</h2>
    <table id="rollouts">
      <thead><tr><th>endpoint</th><th>model</th><th>phase</th></tr></thead>
      <tbody></tbody>
    </table>
    <p id="list-empty" class="muted" hidden>No rollouts yet.</p>
    <h2>Ignored models</h2>
    <div id="ignored"><p class="muted">loading...</p></div>
  </nav>
  <section id="detail" class="detail" aria-live="polite">
    <p class="muted">Choose a rollout.</p>
  </section>
</main>
<noscript>This page needs JavaScript.</noscript>
</body>
</html>
"""
