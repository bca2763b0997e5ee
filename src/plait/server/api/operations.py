"""Operating running workflows: pause and unpause a run, reset it to an event, delete a run,
and pause, unpause or reset one of its activities (:mod:`plait.server.pausing`,
:mod:`plait.server.resetting`, :mod:`plait.server.deletion`).

Each is a state change deduplicated by its request id, like terminate.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from plait.protocol.common import RunRef
from plait.protocol.requests import (
    ActivityControlRequest,
    PauseRequest,
    ResetRequest,
    UnpauseRequest,
)
from plait.server import deletion, pausing, resetting
from plait.server.api.http import json_response, read, svc
from plait.server.dedupe import deduped
from plait.server.errors import BadRequest
from plait.server.run import Ctx

__all__ = ["add_routes"]


async def pause_workflow(request: web.Request) -> web.Response:
    ns, wid = request.match_info["ns"], request.match_info["wid"]
    msg = await read(request, PauseRequest)
    return json_response(await svc(request).write(deduped(
        ns, msg.request_id, lambda ctx: pausing.pause(
            ctx, ns, wid, msg.run_id or None, msg.reason or "", msg.identity or ""), RunRef)))


async def unpause_workflow(request: web.Request) -> web.Response:
    ns, wid = request.match_info["ns"], request.match_info["wid"]
    msg = await read(request, UnpauseRequest)
    return json_response(await svc(request).write(deduped(
        ns, msg.request_id, lambda ctx: pausing.unpause(ctx, ns, wid, msg.run_id or None),
        RunRef)))


async def reset_workflow(request: web.Request) -> web.Response:
    ns, wid = request.match_info["ns"], request.match_info["wid"]
    msg = await read(request, ResetRequest)
    point = reset_point(msg)
    return json_response(await svc(request).write(deduped(
        ns, msg.request_id, lambda ctx: resetting.reset(
            ctx, ns, wid, msg.run_id or None, point, reason=msg.reason or "",
            reapply_signals=msg.reapply_signals), RunRef)))


def reset_point(msg: ResetRequest) -> resetting.ResetPoint:
    """The one reset point a request names (an event id or ``to``), checked where it
    arrives."""
    if (msg.event_id is None) == (msg.to is None):
        raise BadRequest("give the reset point as event_id or as to "
                         "(first_workflow_task | last_workflow_task), not both or neither")
    if msg.event_id is not None:
        return msg.event_id
    return "first_workflow_task" if msg.to == "first_workflow_task" else "last_workflow_task"


async def delete_workflow(request: web.Request) -> web.Response:
    ns, wid = request.match_info["ns"], request.match_info["wid"]
    rid = request.query.get("run_id") or None
    request_id = request.query.get("request_id") or None
    return json_response(await svc(request).write(deduped(
        ns, request_id, lambda ctx: deletion.delete(ctx, ns, wid, rid), RunRef)))


Control = Callable[[Ctx, str, str, str | None, str], RunRef]
_CONTROLS: dict[str, Control] = {"pause": pausing.pause_activity,
                                 "unpause": pausing.unpause_activity,
                                 "reset": pausing.reset_activity}


def _activity_control(action: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    control = _CONTROLS[action]

    async def handler(request: web.Request) -> web.Response:
        ns, wid = request.match_info["ns"], request.match_info["wid"]
        aid = request.match_info["aid"]
        msg = await read(request, ActivityControlRequest)
        return json_response(await svc(request).write(deduped(
            ns, msg.request_id, lambda ctx: control(ctx, ns, wid, msg.run_id or None, aid),
            RunRef)))
    return handler


def add_routes(app: web.Application, wf: str) -> None:
    """The routes under a workflow's path ``wf``."""
    app.router.add_post(wf + "/pause", pause_workflow)
    app.router.add_post(wf + "/unpause", unpause_workflow)
    app.router.add_post(wf + "/reset", reset_workflow)
    app.router.add_delete(wf, delete_workflow)
    for action in _CONTROLS:
        app.router.add_post(wf + "/activities/{aid}/" + action, _activity_control(action))
