"""A workflow task's answer: its commands applied (a completion) or its retry (a failure).

A completion writes the task's events, applies its commands, makes the run sticky to the
worker that ran it, and hands straight back what it created that this worker can take (eager
dispatch): the activities it offered slots for and the next workflow task.
"""

from __future__ import annotations

import logging
from typing import Any

from plait.protocol.events import CLOSE_COMMANDS, EventType
from plait.server import dispatch, updates
from plait.server.commands import apply_commands
from plait.server.errors import BadRequest
from plait.server.fencing import fenced_task
from plait.server.observed import WorkflowTaskFailed
from plait.server.run import Ctx, Run

__all__ = ["apply_step", "complete_workflow_task", "fail_workflow_task"]

log = logging.getLogger("plait.server")
WT_RETRY_CAP = 60.0
"""The longest backoff between attempts of a failing workflow task, in seconds."""


def complete_workflow_task(ctx: Ctx, token: str, req: dict[str, Any]) -> dict[str, Any]:
    task = fenced_task(ctx.txn, token, "workflow")
    run = Run.load(ctx, task.namespace, task.workflow_id, task.run_id)
    commands = req.get("commands")
    if not isinstance(commands, list):
        raise BadRequest("commands must be a list")
    session = task.lease_session or ""
    closing = any(c.get("kind") in CLOSE_COMMANDS for c in commands)
    updates.reject(run, req.get("update_rejections") or [])
    accepted = {str(c.get("update_id")) for c in commands if c.get("kind") == "accept_update"}
    unseen = [u for u in updates.requested(run.state) if u["update_id"] not in accepted]
    if closing and (run.has_buffered() or unseen):
        # New events arrived while the task was out: closing now would drop them.
        run.end_wt(task, EventType.WORKFLOW_TASK_FAILED, {
            "cause": "unhandled_events",
            "failure": {"message": "new events arrived while the workflow was closing; "
                                   "the task runs again with them", "type": "UnhandledEvents"}})
        run.flush_buffer()
        run.state.sticky = None
        run.schedule_wt()
        run.save()
        return {"rejected": True, "reason": "unhandled_events"}
    run.alive = session
    run.end_wt(task, EventType.WORKFLOW_TASK_COMPLETED, {"identity": session})
    return apply_step(ctx, run, session, commands, req)


def apply_step(ctx: Ctx, run: Run, session: str, commands: list[dict[str, Any]],
               req: dict[str, Any]) -> dict[str, Any]:
    """What follows a completed workflow task's events: its commands, the run's stickiness
    to the worker that ran it, the save, and the eager hand-back of what it created."""
    scheduled = apply_commands(run, commands)
    run.state.upto = run.row.next_event_id - 1  # before the held inputs are written
    run.state.last_task_failure = None
    run.state.sticky = session if run.running else None
    if run.running and (run.flush_buffer() or updates.requested(run.state)):
        run.schedule_wt()
    run.save()
    out: dict[str, Any] = {"upto": run.state.upto}
    _eager(ctx, run, session, scheduled, req, out)
    return out


def _eager(ctx: Ctx, run: Run, session: str, scheduled: list[tuple[int, str, str]],
           req: dict[str, Any], out: dict[str, Any]) -> None:
    """Hand the tasks this completion created straight back to the worker (no poll): the
    activities it can run (its queue, its types, up to the slots it offered) and the next
    workflow task."""
    want = int(req.get("eager_activities") or 0)
    if want and scheduled:
        info = dispatch.session_info(ctx, session, cached=True)
        mine = set(info.get("activity_types") or [])
        ids = [tid for tid, queue, atype in scheduled
               if queue == info.get("task_queue") and atype in mine][:want]
        out["activity_tasks"] = dispatch.claim_ids(ctx, ids, session, run)
    wt = run.state.wt
    if req.get("eager_workflow") and run.running and wt:
        wts = dispatch.claim_ids(ctx, [wt.task_id], session, run)
        if wts:
            out["workflow_task"] = wts[0]


# -- workflow task failure -----------------------------------------------------------------------
def fail_workflow_task(ctx: Ctx, token: str, req: dict[str, Any]) -> dict[str, Any]:
    task = fenced_task(ctx.txn, token, "workflow")
    run = Run.load(ctx, task.namespace, task.workflow_id, task.run_id)
    failure = req.get("failure") or {"message": "workflow task failed"}
    attempt = run.state.wt.attempt if run.state.wt else 1
    run.state.last_task_failure = {
        "message": failure.get("message", ""), "type": failure.get("type", ""),
        "traceback": failure.get("stack_trace", ""), "attempts": attempt, "time": ctx.now,
        "cause": req.get("cause", "workflow_error"),
    }
    log.warning("workflow task failed: namespace=%s workflow_id=%s run_id=%s attempt=%d: %s: %s",
                run.ns, run.wid, run.rid, attempt, failure.get("type") or "Error",
                failure.get("message", ""))
    delay = min(WT_RETRY_CAP, 2.0 ** (attempt - 1))
    run.retry_wt(task, EventType.WORKFLOW_TASK_FAILED,
                 {"cause": req.get("cause", "workflow_error"), "failure": failure}, delay)
    run.save()
    ctx.effects.observe(WorkflowTaskFailed(run.ns, run.row.workflow_type))
    return {"next_attempt_in": delay}
