"""Queries: read a workflow's current state through a worker, without touching its history.

A query is a short-lived task row (kind ``query``) on the workflow's task queue, offered
first to the worker that holds the run in its cache. The asking request waits for the answer:
an in-memory future when the answer reaches this server, else a short re-read of the row (the
answering worker may talk to another server). The row is deleted either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any

from plait.protocol.completions import RespondQueryRequest
from plait.protocol.jsoncodec import plain
from plait.protocol.requests import QueryRequest
from plait.protocol.tasks import QueryTask
from plait.server.errors import ApiError, BadRequest
from plait.server.fencing import fenced_task
from plait.server.run import STICKY_SECONDS, Ctx, Run
from plait.store.base import TaskRow, Txn
from plait.store.task_data import QueryAnswer, QueryTaskData

__all__ = ["QueryTimeout", "answer", "dispatch_payload", "post", "wait_answer"]

RECHECK = 0.05


class QueryTimeout(ApiError):
    status = 504
    code = "query_timeout"


def post(ctx: Ctx, ns: str, wid: str, rid: str | None, req: QueryRequest,
         timeout: float) -> int:
    run = Run.load(ctx, ns, wid, rid)
    as_of = req.as_of_event
    last = run.row.next_event_id - 1
    if as_of is not None and as_of > last:
        raise BadRequest(f"as_of_event {as_of} is beyond the history of workflow {wid!r} "
                         f"(run {run.rid}), which has events 1 to {last}")
    # A query of the past is answered by a fresh replay: any worker will do.
    sticky = run.live_sticky() if as_of is None else None
    task_id = ctx.txn.insert_task(
        ns=ns, task_queue=run.row.task_queue, kind="query", wid=run.wid, rid=run.rid,
        ref=f"q-{uuid.uuid4().hex}", visible_at=ctx.now,
        payload=QueryTaskData(req.query_name, req.input or [], run.row.workflow_type,
                              ctx.now + timeout, as_of_event=as_of, header=req.header),
        sticky_session=sticky, sticky_until=ctx.now + STICKY_SECONDS / 3 if sticky else None)
    ctx.effects.wake_queue(ns, run.row.task_queue, "query")
    return task_id


def dispatch_payload(task: TaskRow) -> QueryTask:
    p = task.query
    return QueryTask(token=f"{task.task_id}.{task.dispatch_no}", namespace=task.namespace,
                     workflow_id=task.workflow_id, run_id=task.run_id,
                     workflow_type=p.workflow_type, task_queue=task.task_queue,
                     query_name=p.query_name, input=p.input, as_of_event=p.as_of_event,
                     header=p.header)


def answer(ctx: Ctx, msg: RespondQueryRequest) -> int:
    task = fenced_task(ctx.txn, msg.token, "query")
    p = task.query
    p.answer = QueryAnswer(msg.result, plain(msg.failure), msg.code)
    ctx.txn.update_task_payload(task.task_id, p)
    return task.task_id


def _read(txn: Txn, task_id: int) -> QueryAnswer | None:
    task = txn.get_task(task_id)
    return task.query.answer if task else None


async def wait_answer(store: Any, fut: asyncio.Future[None], task_id: int,
                      timeout: float) -> QueryAnswer | None:
    deadline = time.monotonic() + timeout
    while True:
        got: QueryAnswer | None = await store.read(lambda t: _read(t, task_id))
        if got is not None:
            return got
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(min(RECHECK, left)):
                await asyncio.shield(fut)
