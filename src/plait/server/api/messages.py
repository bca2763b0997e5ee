"""Queries and updates: routes that wait for a worker's answer.

A query is a task a worker answers without touching the history; an update is recorded. The
waiting request is woken by the answer's commit on this server (the service's
:class:`~plait.server.matching.WakeUps`), and re-reads the row otherwise."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from plait.protocol.completions import (
    RespondQueryRequest,
)
from plait.protocol.enums import ErrorCode
from plait.protocol.requests import (
    QueryRequest,
    UpdateRequest,
)
from plait.server import (
    queries,
    updates,
)
from plait.server.answers import UpdateAnswer
from plait.server.api.http import clamp, json_response, number, read, svc
from plait.server.errors import BadRequest, NotFound
from plait.server.run import Ctx, Run

__all__ = ["answer_query", "query_workflow", "update_outcome", "update_workflow"]

async def query_workflow(request: web.Request) -> web.Response:
    ns, wid = request.match_info["ns"], request.match_info["wid"]
    msg = await read(request, QueryRequest)
    rid = msg.run_id or None
    timeout = clamp(msg.timeout or None, 10.0, 0.1, 60.0)
    service = svc(request)
    task_id = await service.write(lambda ctx: queries.post(ctx, ns, wid, rid, msg, timeout))
    try:
        with service.query_answers.listening(task_id) as answered:
            got = await queries.wait_answer(service.store, answered, task_id, timeout)
    finally:
        await service.write(lambda ctx: ctx.txn.delete_task(task_id))
    if got is None:
        raise queries.QueryTimeout(f"no worker answered query {msg.query_name!r} within "
                                   f"{timeout:g} s; is a worker for workflow {wid!r} running?")
    if got.failure:
        raise BadRequest(got.failure.get("message") or "query failed",
                         code=got.code or ErrorCode.QUERY_FAILED)
    return json_response({"result": got.result})


async def _await_update(request: web.Request, ns: str, wid: str, rid: str, uid: str,
                        wait: float, stage: str | None) -> UpdateAnswer:
    service = svc(request)
    with service.update_outcomes.listening(uid) as settled:
        return await updates.wait_outcome(service.store, settled, (ns, wid, rid, uid), wait,
                                          until_accepted=stage == "accepted")


async def update_workflow(request: web.Request) -> web.Response:
    ns, wid = request.match_info["ns"], request.match_info["wid"]
    msg = await read(request, UpdateRequest)
    rid = msg.run_id or None
    wait = clamp(msg.wait, 30.0, 0.0, 60.0)
    state = await svc(request).write(lambda ctx: _request_update(ctx, ns, wid, rid, msg))
    enough = updates.FINAL | ({"accepted"} if msg.wait_for_stage == "accepted" else set())
    if state["status"] not in enough and wait > 0:
        state = await _await_update(request, ns, wid, state["run_id"], state["update_id"], wait,
                                    msg.wait_for_stage)
    return json_response(state)


def _request_update(ctx: Ctx, ns: str, wid: str, rid: str | None,
                    req: UpdateRequest) -> UpdateAnswer:
    run = Run.load(ctx, ns, wid, rid)
    answer = updates.request(ctx, run, req)
    answer["run_id"] = run.rid
    return answer


async def update_outcome(request: web.Request) -> web.Response:
    ns, wid, uid = request.match_info["ns"], request.match_info["wid"], request.match_info["uid"]
    rid = request.query.get("run_id") or None
    wait = number(request.query.get("wait"), "wait", 30.0, 0.0, 60.0)
    stage = request.query.get("wait_for_stage") or None
    if stage not in (None, "accepted", "completed"):
        raise BadRequest(f"wait_for_stage must be accepted or completed, not {stage!r}")

    def read(t: Any) -> str:
        run_id = rid or t.current_run(ns, wid)
        if run_id is None:
            raise NotFound(f"workflow {wid!r} not found", code=ErrorCode.WORKFLOW_NOT_FOUND)
        return str(run_id)
    run_id = await svc(request).store.read(read)
    return json_response(await _await_update(request, ns, wid, run_id, uid, wait, stage))


async def answer_query(request: web.Request) -> web.Response:
    msg = await read(request, RespondQueryRequest)
    service = svc(request)
    task_id = await service.write(lambda ctx: queries.answer(ctx, msg))
    service.query_answers.wake(task_id)
    return json_response({"recorded": True})
