"""Handing tasks to workers: claim ready tasks, fence them, and build what the worker gets.

A claimed workflow task carries the events the worker has not seen: only the new ones when it
goes to the worker that holds the run in its cache (sticky), the full history otherwise.
"""

from __future__ import annotations

from typing import Any

from plait.runtime.activations import wire_time
from plait.server import activities, chained, history, queries, sessions, updates
from plait.server.run import RUNNING, Ctx, Run
from plait.store.base import TaskRow

__all__ = ["claim", "claim_ids", "complete_activity", "fail_activity", "heartbeat_activity",
           "session_info"]


_INFO_CACHE: dict[str, dict[str, Any]] = {}
_INFO_CACHE_SIZE = 4096


def session_info(ctx: Ctx, session: str, *, cached: bool = False) -> dict[str, Any]:
    """What a session serves (queue, types). ``cached``: a session's info never changes, so
    a caller that does not need to know the session is still alive may take a cached copy."""
    if cached and session in _INFO_CACHE:
        return _INFO_CACHE[session]
    row = ctx.txn.one("get_session", session=session)
    if row is None:
        raise sessions.unknown(session)
    from plait.protocol.jsoncodec import loads

    info: dict[str, Any] = loads(row[4])
    if len(_INFO_CACHE) >= _INFO_CACHE_SIZE:
        _INFO_CACHE.pop(next(iter(_INFO_CACHE)))
    _INFO_CACHE[session] = info
    return info


def claim(ctx: Ctx, ns: str, queue: str, kind: str, session: str,
          limit: int) -> list[dict[str, Any]]:
    session_info(ctx, session)
    tasks = ctx.txn.claim_tasks(ns=ns, task_queue=queue, kind=kind, session=session,
                                now=ctx.now, limit=max(1, min(limit, 256)))
    if tasks:
        sessions.note_dispatch(session)
    out = []
    for task in tasks:
        payload = _dispatch(ctx, task)
        if payload is not None:
            out.append(payload)
    return out


def claim_ids(ctx: Ctx, task_ids: list[int], session: str,
              run: Run | None = None) -> list[dict[str, Any]]:
    """Claim specific tasks for one session (eager dispatch in a completion's response).
    ``run``: the run these tasks belong to, just saved in this transaction (not read again).
    The tasks were made ready in this same change, so their pollers need not wake for them."""
    out = []
    for task_id in task_ids:
        claimed = ctx.txn.claim_task_by_id(task_id, session, ctx.now)
        if claimed is not None:
            sessions.note_dispatch(session)
            ctx.effects.taken(claimed.namespace, claimed.task_queue, claimed.kind)
            payload = _dispatch(ctx, claimed, run)
            if payload is not None:
                out.append(payload)
    return out


def _dispatch(ctx: Ctx, task: TaskRow, run: Run | None = None) -> dict[str, Any] | None:
    if task.kind == "query":  # closed workflows can be queried too
        if task.payload.get("expires_at", ctx.now) < ctx.now:
            ctx.txn.delete_task(task.task_id)  # its asker gave up (or its server died)
            return None
        return queries.dispatch_payload(task)
    if task.kind == "activity":
        # No need to read the run: closing a run deletes its tasks in the same transaction,
        # so an activity task that exists belongs to a running workflow.
        return activities.dispatch_payload(ctx, task)
    mine = run is not None and run.rid == task.run_id and run.wid == task.workflow_id
    row = run.row if run is not None and mine else \
        ctx.txn.get_execution(task.namespace, task.workflow_id, task.run_id)
    if row is None or row.status != RUNNING:
        ctx.txn.delete_task(task.task_id)
        return None
    state = row.state
    upto = int(state.get("upto", 0))
    after = upto if state.get("sticky") == task.lease_session else 0
    saved = run.saved if run is not None and mine else []
    return {
        "kind": "workflow", "token": f"{task.task_id}.{task.dispatch_no}",
        "namespace": task.namespace, "workflow_id": task.workflow_id, "run_id": task.run_id,
        "workflow_type": row.workflow_type, "task_queue": row.task_queue,
        "attempt": task.payload.get("attempt", 1), "previous_upto": upto,
        "started_event_id": row.next_event_id, "started_time": wire_time(ctx.now),
        "events": saved if _covers(saved, after, row.next_event_id)
        else ctx.txn.events(task.namespace, task.workflow_id, task.run_id, after),
        "updates": updates.requested(state),
    }


def _covers(saved: list[dict[str, Any]], after: int, next_event_id: int) -> bool:
    """Whether the events just saved are exactly those after ``after`` (the worker's cache
    has seen the rest): then they go out without reading them back."""
    return bool(after and saved) and saved[0]["event_id"] == after + 1 \
        and saved[-1]["event_id"] == next_event_id - 1


# -- activity results -------------------------------------------------------------------------
def complete_activity(ctx: Ctx, token: str, req: dict[str, Any]) -> dict[str, Any]:
    task = history.fenced_task(ctx.txn, token, "activity")
    session = task.lease_session or ""
    run = _run_of(ctx, task)
    if run is None:
        return {"recorded": False}
    run.alive = session
    step = req.get("workflow_step")
    refused = step and chained.refusal(ctx, run, session, step)
    if step and not refused:
        return {"recorded": True,
                "workflow_step": chained.apply(ctx, run, task, session, step, req.get("result"))}
    had_wt = run.state.get("wt") is not None
    activities.complete(run, task, req.get("result"))
    run.save()
    out: dict[str, Any] = {"recorded": True}
    if step:
        out["workflow_step"] = {"refused": refused}
    wt = run.state.get("wt")
    if req.get("eager_workflow") and wt and not had_wt and _can_run(ctx, run, session):
        tasks = claim_ids(ctx, [wt["task_id"]], session, run)
        if tasks:
            out["workflow_task"] = tasks[0]
    return out


def _can_run(ctx: Ctx, run: Run, session: str) -> bool:
    """Whether the session that just completed an activity should take the workflow task
    this created: it serves the run's queue and type, and the run is not sticky elsewhere."""
    info = session_info(ctx, session, cached=True)
    return (info.get("task_queue") == run.row.task_queue
            and run.row.workflow_type in (info.get("workflow_types") or [])
            and run.state.get("sticky") in (None, session))


def fail_activity(ctx: Ctx, token: str, req: dict[str, Any]) -> dict[str, Any]:
    task = history.fenced_task(ctx.txn, token, "activity")
    run = _run_of(ctx, task)
    if run is None:
        return {"recorded": False}
    failure = req.get("failure") or {"message": "activity failed"}
    # A worker that stops an attempt at its own start_to_close deadline reports a timeout:
    # treat it exactly like the server's timer firing.
    timeout_type = failure.get("timeout_type") if failure.get("kind") == "timeout" else None
    activities.attempt_failed(run, task, failure, timeout_type=timeout_type)
    run.save()
    return {"recorded": True}


def complete_async(ctx: Ctx, token: str) -> dict[str, Any]:
    task = history.fenced_task(ctx.txn, token, "activity")
    activities.hand_over(ctx, task)
    return {"token": token}


def heartbeat_activity(ctx: Ctx, token: str, req: dict[str, Any]) -> dict[str, Any]:
    task = history.fenced_task(ctx.txn, token, "activity")
    cancel = activities.heartbeat(ctx, task, list(req.get("details") or []))
    return {"cancel_requested": cancel}


def _run_of(ctx: Ctx, task: TaskRow) -> Run | None:
    row = ctx.txn.get_execution(task.namespace, task.workflow_id, task.run_id)
    if row is None or row.status != RUNNING:
        ctx.txn.delete_task(task.task_id)
        return None
    return Run(ctx, row)
