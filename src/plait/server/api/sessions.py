"""Worker routes: sessions (open, heartbeat, watch, close) and polls for tasks."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from plait.protocol.sessions import HeartbeatSessionRequest, OpenSessionRequest, PollRequest
from plait.server import (
    dispatch,
    sessions,
)
from plait.server.api.http import clamp, json_response, number, read, svc
from plait.server.metrics import TASKS

__all__ = ["close_session", "open_session", "poll", "session_heartbeat", "watch_session"]

# -- workers -------------------------------------------------------------------------------------
async def open_session(request: web.Request) -> web.Response:
    ns = request.match_info["ns"]
    msg = await read(request, OpenSessionRequest)
    service = svc(request)
    expiry, ahead = service.config.session_expiry, service.leases.ahead
    opened = await service.write(lambda ctx: sessions.open_session(ctx, ns, msg, expiry, ahead))
    opened.max_payload = service.config.max_payload
    return json_response(opened, 201)


async def session_heartbeat(request: web.Request) -> web.Response:
    """Renew the lease and reconcile the tasks the worker holds. An idle worker's heartbeat
    on a server with a database of its own usually needs neither: then it costs no statement
    (:mod:`plait.server.leases`, :meth:`SessionLedger.holds_nothing`)."""
    service = svc(request)
    arrived = service.clock.now()
    sid = request.match_info["sid"]
    msg = await read(request, HeartbeatSessionRequest)
    held = msg.held or []
    seen = None if msg.requests_sent is None else \
        sessions.RequestsSeen(msg.requests_sent, frozenset(msg.requests_open or ()))
    leases = service.leases
    renewed = leases.renew_in_memory(sid, time.time())
    reconcile = bool(held) or not leases.own_database or not service.ledger.holds_nothing(sid)
    if renewed and not reconcile:
        return json_response({"ok": True})
    expiry, ahead = service.config.session_expiry, leases.ahead
    return json_response(await service.write(
        lambda ctx: sessions.heartbeat(ctx, sid, held, expiry, arrived, ahead,
                                       renewing=not renewed, reconcile=reconcile,
                                       seen=seen)))


async def watch_session(request: web.Request) -> web.Response:
    """Held open up to ``wait`` seconds while the worker lives; the worker re-opens it at once.
    If the connection drops first (the handler is cancelled), the worker is presumed dead
    unless it comes back within the watch grace."""
    sid = request.match_info["sid"]
    wait = number(request.query.get("wait"), "wait", 25.0, 0.0, 60.0)
    service = svc(request)
    if not service.leases.renew_in_memory(sid, time.time()):
        expiry, ahead = service.config.session_expiry, service.leases.ahead
        await service.write(lambda ctx: sessions.renew(ctx, sid, expiry, ahead))
    try:
        await asyncio.sleep(wait)
    except asyncio.CancelledError:
        if not service.matching.stopping:
            service.watch_dropped(sid)
        raise
    return json_response({"ok": True})


async def close_session(request: web.Request) -> web.Response:
    sid = request.match_info["sid"]
    await svc(request).write(lambda ctx: sessions.close(ctx, sid))
    return json_response({"closed": True})


async def poll(request: web.Request) -> web.Response:
    ns, queue = request.match_info["ns"], request.match_info["queue"]
    msg = await read(request, PollRequest)
    kind, session = str(msg.kind), msg.session_id or ""
    limit = int(clamp(msg.max_tasks or None, 1, 1, 256))
    wait = clamp(msg.wait, 30.0, 0.0, 60.0)
    service = svc(request)

    async def claim() -> tuple[list[Any], float | None]:
        return await service.write(
            lambda ctx: dispatch.poll_claim(ctx, ns, queue, kind, session, limit, numbered))

    numbered = msg.request_no
    tasks = await service.matching.poll((ns, queue, kind), wait, claim, session, limit,
                                        numbered)
    if tasks:
        TASKS.labels(kind).inc(len(tasks))
    return json_response({"tasks": tasks})
