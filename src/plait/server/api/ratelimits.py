"""The rate-limit API: set, list and delete the limits the store enforces at dispatch.

A limit is per task queue and activity type (or every type without a limit of its own); with
``per_key`` each ``rate_limit_key`` given to ``execute_activity`` gets its own bucket.
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from plait.protocol.ratelimits import RateLimit
from plait.server.api.http import json_response, read, svc
from plait.server.errors import BadRequest, NotFound

__all__ = ["add_routes"]


async def set_limit(request: web.Request) -> web.Response:
    ns = request.match_info["ns"]
    lim = await read(request, RateLimit)
    await svc(request).write(lambda ctx: ctx.txn.set_rate_limit(
        ns, lim.task_queue, lim.activity_type, lim.per_second, lim.burst, lim.per_key))
    return json_response(msgspec.to_builtins(lim))


async def list_limits(request: web.Request) -> web.Response:
    ns = request.match_info["ns"]
    return json_response({"rate_limits": await svc(request).store.read(
        lambda t: t.rate_limits(ns))})


async def delete_limit(request: web.Request) -> web.Response:
    ns = request.match_info["ns"]
    queue = request.query.get("task_queue")
    atype = request.query.get("activity_type") or None
    if not queue:
        raise BadRequest("task_queue is required")
    deleted = await svc(request).write(lambda ctx: ctx.txn.delete_rate_limit(ns, queue, atype))
    if not deleted:
        raise NotFound(f"no rate limit on task queue {queue!r}"
                       + (f" for activity type {atype!r}" if atype else ""),
                       code="rate_limit_not_found")
    return json_response({"deleted": True})


def add_routes(app: web.Application, prefix: str) -> None:
    app.router.add_put(prefix + "/rate-limits", set_limit)
    app.router.add_get(prefix + "/rate-limits", list_limits)
    app.router.add_delete(prefix + "/rate-limits", delete_limit)
