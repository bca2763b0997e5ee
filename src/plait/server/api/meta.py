"""Routes about the server itself: health, metrics, the OpenAPI document, and the answer to a
path that is not served."""

from __future__ import annotations

import functools

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from plait.protocol.enums import ErrorCode
from plait.protocol.jsoncodec import dumps
from plait.server import (
    api_doc,
)
from plait.server.api.http import error_response, json_response, svc
from plait.server.errors import NotFound

__all__ = ["health", "metrics", "not_found", "openapi_document"]

# -- operations ------------------------------------------------------------------------------
async def health(request: web.Request) -> web.Response:
    ok = await svc(request).store.healthy()
    if not ok:
        return error_response(503, ErrorCode.UNAVAILABLE, "the database is unavailable")
    return json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    gauges = svc(request).gauges
    await gauges.refresh()
    resp = web.Response(body=generate_latest() + generate_latest(gauges.registry))
    resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return resp


async def openapi_document(request: web.Request) -> web.Response:
    """The OpenAPI document of this API, generated from the wire structs and the route table
    (:mod:`plait.server.api_doc`) the first time it is asked for."""
    return web.Response(body=_openapi_bytes(), content_type="application/json")


@functools.cache
def _openapi_bytes() -> bytes:
    return dumps(api_doc.document())


async def not_found(request: web.Request) -> web.Response:
    """Any other path under the API: 404, or 405 when the path exists with other methods."""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource is not request.match_info.route.resource:
            allowed |= (await resource.resolve(request))[1]
    if allowed:
        raise web.HTTPMethodNotAllowed(request.method, allowed)
    raise NotFound(f"no route for {request.method} {request.path}", code=ErrorCode.NO_ROUTE)
