"""Conditional reads of runs (``ETag`` / ``If-None-Match``): what a live console page polls.

A live list page asks for the same page of runs every few seconds, and most answers are the
same as the one before. Each answer of the list and count routes carries an ETag of two
parts, ``"<state>.<content>"``, both bound to the request's URL:

- *state* hashes the store's listing version of the namespace
  (:meth:`plait.store.base.Store.listing_version`). While it has not moved, no run of the
  namespace has started, closed, been deleted or had its search attributes changed, so the
  answer cannot differ: a request holding this ETag gets ``304 Not Modified`` without the
  database being read. A store that cannot tell (PostgreSQL, which other servers change
  too) has no state part (``-``).
- *content* hashes the answer's body. When the version moved, the answer is read again; if
  its body is the one the caller holds (the change was to runs not on this page), the
  answer is still 304, with the ETag renewed: nothing to send, parse or draw.

A caller that sends no ``If-None-Match`` (the client, the CLI) gets the full answer, as
before. ``Cache-Control: no-cache`` keeps browsers from showing a stored answer without
asking.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from plait.server.api.http import json_body, svc

__all__ = ["conditional_json"]

NO_STATE = "-"


async def conditional_json(request: web.Request, ns: str,
                           read: Callable[[], Awaitable[Any]]) -> web.Response:
    """The answer ``read()`` gives, as JSON with an ETag; 304 when the caller's
    ``If-None-Match`` holds the ETag of what it would be."""
    scope = request.path_qs.encode()
    version = svc(request).store.listing_version(ns)
    # Taken before the read: a change committed meanwhile makes the ETag older than the
    # body (the next request reads again), never newer.
    state = NO_STATE if version is None else _digest(scope, version.encode())
    held = _held(request.headers.getall("If-None-Match", []))
    if state != NO_STATE:
        for tag in held:
            if tag.split(".", 1)[0] == state:
                return _not_modified(tag)
    body = json_body(await read())
    tag = f"{state}.{_digest(scope, body)}"
    if "*" in held or any(h.split(".", 1)[-1] == tag.split(".", 1)[1] for h in held):
        return _not_modified(tag)
    resp = web.Response(body=body, content_type="application/json")
    resp.headers["ETag"] = f'"{tag}"'
    resp.headers["Cache-Control"] = "no-cache"
    return resp


def _digest(scope: bytes, data: bytes) -> str:
    h = hashlib.blake2b(len(scope).to_bytes(4, "big") + scope, digest_size=8)
    h.update(data)
    return h.hexdigest()


def _held(values: list[str]) -> list[str]:
    """The entity tags of ``If-None-Match`` headers, without quotes or the weak prefix
    (a GET compares them weakly)."""
    out = []
    for value in values:
        for part in value.split(","):
            tag = part.strip().removeprefix("W/").strip('"')
            if tag:
                out.append(tag)
    return out


def _not_modified(tag: str) -> web.Response:
    return web.Response(status=304, headers={"ETag": f'"{tag}"', "Cache-Control": "no-cache"})
