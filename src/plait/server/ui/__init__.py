"""The web UI (the operator console): static files shipped in this package, read from the JSON
API by the browser.

Every page URL (``/namespaces/{ns}/workflows``, ``.../workflows/{id}[/{run_id}]``,
``.../schedules[/{id}]``, ``.../task-queues/{name}``, ``.../batches``) answers ``index.html``,
and so does ``/`` (the script shows the default namespace's workflows there); the script
routes on the path. The scripts and the style sheet are served under ``/ui/{version}/``,
where the version is a hash of the shipped files: ``index.html`` (never cached) names the
current one, so the assets can be cached for good and an upgraded server is never paired
with stale scripts. Nothing is fetched from outside the server, with one exception the user
makes: a codec server set in the console's settings, which the page's CSP then allows
(:func:`codec_origin`).

The console is plain ES modules, a style sheet and one HTML file, with no framework and no
build step: nothing to vendor or keep current, no npm lock to rerun in CI, and a Python team
changes a ``.js`` file and reloads. The modules: ``app.js`` (routing, header), ``core.js``
(DOM building that only ever sets text, the API client and the signed-in key, formatting),
``login.js`` (the sign-in form of a server started with ``--auth``), one module per page
(``workflows.js``, ``workflow.js``, ``schedules.js``, ``queue.js``, ``batches.js``), widgets
of the workflow page (``state_at.js``: its state after any event; ``waiting.js``: where it
waits; ``batch_actions.js``: acting on many runs from the list), ``events.js`` and
``timeline.js`` (reading a history), ``codec.js`` and ``settings.js`` (decoding payloads
through the user's codec server). Browser tests are in ``tests/ui``.

With ``--auth`` the page and its files are served without a key (they are the same for
everyone and hold no data); the data comes from the API, which wants the key the console asks
for, and the CSRF token bound to it on actions (:mod:`plait.server.csrf`).

The routes are few on purpose (one for the pages, one per kind of asset): each is in the
OpenAPI document (:mod:`plait.server.api_doc`) like every route the server has.
"""

from __future__ import annotations

import functools
import hashlib
import re
from importlib import resources
from typing import NamedTuple

from aiohttp import web

from plait.protocol.enums import ErrorCode
from plait.server.errors import NotFound

__all__ = ["add_routes"]

# The pages the script renders (paths after /namespaces/); each answers index.html.
PAGES = re.compile(
    r"[^/]+/(workflows(/[^/]+){0,2}|schedules(/[^/]+)?|task-queues/[^/]+|batches)/?")

CONTENT_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
}

# The page itself is small and must always name the current asset version.
NO_CACHE = "no-cache"
IMMUTABLE = "public, max-age=31536000, immutable"
# The page's scripts and styles come from this server only; inline scripts are not run.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'{codec}; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
       "form-action 'self'")

# The one exception to "nothing leaves the server": the codec server the user set in the
# console's settings (settings.js keeps its origin in this cookie, so the page's CSP lets the
# browser reach it). Only a bare http(s) origin is taken; anything else is ignored.
CODEC_COOKIE = "plait_codec"
ORIGIN = re.compile(r"https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?")


class Assets(NamedTuple):
    version: str
    page: bytes
    files: dict[str, bytes]


@functools.cache
def _assets() -> Assets:
    """The shipped files, read once; the version is a hash of all of them."""
    root = resources.files(__name__)
    files = {p.name: p.read_bytes() for p in root.iterdir()
             if p.is_file() and p.name.endswith(tuple(CONTENT_TYPES))}
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name] + b"\0")
    version = digest.hexdigest()[:12]
    html = root.joinpath("index.html").read_bytes()
    html = html.replace(b"{{assets}}", f"/ui/{version}".encode())
    return Assets(version, html, files)


def _headers(cache: str, codec_origin: str = "") -> dict[str, str]:
    return {"Cache-Control": cache, "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": CSP.format(codec=codec_origin and " " + codec_origin),
            "Referrer-Policy": "same-origin"}


def codec_origin(request: web.Request) -> str:
    """The codec server origin this browser's user configured, or "" (none, or not an
    origin)."""
    value = request.cookies.get(CODEC_COOKIE, "")
    return value if ORIGIN.fullmatch(value) else ""


async def page(request: web.Request) -> web.Response:
    # The encoded path: an id may hold "/" (as %2F), which is one segment, not two.
    raw = request.rel_url.raw_path
    if "page" in request.match_info and not PAGES.fullmatch(raw.removeprefix("/namespaces/")):
        raise NotFound(f"no console page at {request.path}", code=ErrorCode.NO_ROUTE)
    return web.Response(body=_assets().page, content_type="text/html", charset="utf-8",
                        headers=_headers(NO_CACHE, codec_origin(request)))


async def script(request: web.Request) -> web.Response:
    return _asset(request, request.match_info["name"] + ".js")


async def style(request: web.Request) -> web.Response:
    return _asset(request, "style.css")


def _asset(request: web.Request, name: str) -> web.Response:
    assets = _assets()
    body = assets.files.get(name)
    if body is None:
        raise NotFound(f"no console file {name!r}", code=ErrorCode.NO_ROUTE)
    # A page from before an upgrade asks for an old version: answer the current file, but do
    # not let it be cached under the old name for good.
    current = request.match_info["version"] == assets.version
    ctype = CONTENT_TYPES[name[name.rindex("."):]]
    return web.Response(body=body, content_type=ctype, charset="utf-8",
                        headers=_headers(IMMUTABLE if current else NO_CACHE))


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/", page)
    r.add_get("/namespaces/{page:.+}", page)
    r.add_get("/ui/{version}/{name}.js", script)
    r.add_get("/ui/{version}/style.css", style)
