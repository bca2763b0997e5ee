"""CSRF tokens for the console: what a browser must send, beside its API key, to change state
(API.md "Web UI": "actions carry it plus a CSRF token").

Why a token at all, when the console sends its key as an ``Authorization: Bearer`` header?
A cross-site request forgery works because a browser attaches *ambient* credentials (cookies,
HTTP auth, client certificates) to a request another site makes it send. A bearer header is
not ambient: a browser never adds it by itself, and a page of another origin cannot set it
without a CORS preflight this server never grants; and every route with a body refuses the
content types a cross-site form can send (415). So the key alone already defeats CSRF. The
token is defence in depth, and the contract: it keeps the console safe if credentials ever
become ambient (a proxy that injects the key, a key kept in a cookie, client certificates of
mutual TLS, which a browser does present by itself) and makes "this request came from a page
that read the token with the key" an explicit check rather than a consequence of header rules.

The token is bound to the key: an HMAC of the key id under the key's stored hash. Every
server computes the same token from the row it already reads to check the key, so it needs no
state of its own and works behind a load balancer; it cannot be turned back into the key; and
it dies with the key (revoked, expired). ``GET /api/v1/csrf`` hands it to a caller holding the
key; requests a browser sends (they carry ``Origin`` or ``Sec-Fetch-Site``, which scripts of
other clients do not) with a method that changes state must carry it as ``X-CSRF-Token``.
"""

from __future__ import annotations

import hashlib
import hmac

from aiohttp import web

from plait.server.errors import ApiError
from plait.store.api_keys import ApiKeyRow

__all__ = ["HEADER", "SAFE_METHODS", "check_csrf", "csrf_token", "from_browser"]

HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DOMAIN = b"plait-csrf-v1:"


def csrf_token(row: ApiKeyRow) -> str:
    """The token of ``row``'s key: the same on every server, useless without the key."""
    mac = hmac.new(row.secret_hash.encode(), _DOMAIN + row.key_id.encode(), hashlib.sha256)
    return mac.hexdigest()


def from_browser(request: web.Request) -> bool:
    """A browser marks the requests its pages send (``Origin`` on every non-GET fetch,
    ``Sec-Fetch-*`` in current browsers); the client, workers and the CLI send neither."""
    return "Origin" in request.headers or "Sec-Fetch-Site" in request.headers


def check_csrf(request: web.Request, row: ApiKeyRow, denied: type[ApiError]) -> None:
    """Refuse (``denied``, a 403) a browser's state-changing request without the token of
    the key it came with."""
    if request.method in SAFE_METHODS or not from_browser(request):
        return
    sent = request.headers.get(HEADER, "")
    if not hmac.compare_digest(sent.encode(), csrf_token(row).encode()):
        raise denied(
            f"a browser request that changes state needs the {HEADER} header of its "
            "API key (GET /api/v1/csrf gives it)"
        )
