"""Schedule routes: create, list, describe, update, pause, unpause, trigger, backfill, delete.

Each change is one transaction (:mod:`plait.server.schedules`); the ones a client may retry
carry a request id and are deduplicated like every other mutating call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from aiohttp import web

from plait.protocol.schedules import (
    BackfillRequest,
    CreateScheduleRequest,
    NoteRequest,
    ScheduleUpdate,
    TriggerRequest,
)
from plait.server import schedules
from plait.server.api.http import integer, json_response, read, svc
from plait.server.dedupe import deduped
from plait.server.run import Ctx

__all__ = ["add_routes"]

Change = Callable[[Ctx], msgspec.Struct]


async def _write(request: web.Request, request_id: str | None, fn: Change,
                 status: int = 200) -> web.Response:
    ns = request.match_info["ns"]
    service = svc(request)
    await service.ensure_namespace(ns)
    result = await service.write(deduped(ns, request_id,
                                         lambda ctx: msgspec.to_builtins(fn(ctx)), dict))
    return json_response(result, status)


async def create(request: web.Request) -> web.Response:
    ns = request.match_info["ns"]
    msg = await read(request, CreateScheduleRequest)
    return await _write(request, msg.request_id, lambda ctx: schedules.create(ctx, ns, msg),
                        201)


async def update(request: web.Request) -> web.Response:
    ns, sid = _ids(request)
    msg = await read(request, ScheduleUpdate)
    return await _write(request, msg.request_id,
                        lambda ctx: schedules.update(ctx, ns, sid, msg))


def _pauser(paused: bool) -> Callable[[web.Request], Any]:
    async def route(request: web.Request) -> web.Response:
        ns, sid = _ids(request)
        msg = await read(request, NoteRequest)
        return await _write(request, msg.request_id,
                            lambda ctx: schedules.pause(ctx, ns, sid, paused, msg.note))
    return route


async def trigger(request: web.Request) -> web.Response:
    ns, sid = _ids(request)
    msg = await read(request, TriggerRequest)
    return await _write(request, msg.request_id,
                        lambda ctx: schedules.trigger(ctx, ns, sid, msg.overlap))


async def backfill(request: web.Request) -> web.Response:
    ns, sid = _ids(request)
    msg = await read(request, BackfillRequest)
    return await _write(request, msg.request_id, lambda ctx: schedules.backfill(
        ctx, ns, sid, msg.start, msg.end, msg.overlap))


async def delete(request: web.Request) -> web.Response:
    ns, sid = _ids(request)
    await svc(request).write(lambda ctx: schedules.delete(ctx, ns, sid))
    return json_response({"deleted": True})


async def describe(request: web.Request) -> web.Response:
    ns, sid = _ids(request)
    now = svc(request).clock.now()
    desc = await svc(request).store.read(lambda t: schedules.describe(t, ns, sid, now))
    return json_response(msgspec.to_builtins(desc))


async def list_schedules(request: web.Request) -> web.Response:
    ns = request.match_info["ns"]
    size = integer(request.query.get("page_size"), "page_size", 100, 1, 1000)
    after = request.query.get("next_page_token") or ""
    page = await svc(request).store.read(lambda t: schedules.list_page(t, ns, after, size))
    if len(page.schedules) == size:
        page.next_page_token = page.schedules[-1].schedule_id
    return json_response(msgspec.to_builtins(page))


def _ids(request: web.Request) -> tuple[str, str]:
    return request.match_info["ns"], request.match_info["sched"]


def add_routes(app: web.Application, prefix: str) -> None:
    """Under ``prefix`` (``/api/v1/namespaces/{ns}``)."""
    one = prefix + "/schedules/{sched}"
    r = app.router
    r.add_post(prefix + "/schedules", create)
    r.add_get(prefix + "/schedules", list_schedules)
    r.add_get(one, describe)
    r.add_delete(one, delete)
    r.add_post(one + "/update", update)
    r.add_post(one + "/pause", _pauser(True))
    r.add_post(one + "/unpause", _pauser(False))
    r.add_post(one + "/trigger", trigger)
    r.add_post(one + "/backfill", backfill)
