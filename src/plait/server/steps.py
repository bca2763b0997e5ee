"""A workflow task's answer: its commands applied (a completion) or its retry (a failure).

A completion writes the task's events, applies its commands, makes the run sticky to the
worker that ran it, and hands straight back what it created that this worker can take (eager
dispatch): the activities it offered slots for and the next workflow task.
"""

from __future__ import annotations

import logging

from plait.protocol.commands import CLOSING, AcceptUpdateCommand
from plait.protocol.common import Failure as WireFailure
from plait.protocol.completions import (
    CompleteWorkflowTaskRequest,
    FailWorkflowTaskRequest,
    NextAttempt,
    WorkflowStep,
)
from plait.protocol.events import EventType
from plait.protocol.responses import TaskFailureInfo
from plait.protocol.tasks import ActivityTask
from plait.server import dispatch, limits, updates
from plait.server.answers import OutgoingWorkflowTask, WorkflowTaskAnswer
from plait.server.commands import apply_commands
from plait.server.fencing import fenced_task
from plait.server.observed import LimitHit, WorkflowTaskFailed
from plait.server.run import Ctx, Run
from plait.store.base import TaskRow

__all__ = ["apply_step", "complete_workflow_task", "fail_workflow_task"]

log = logging.getLogger("plait.server")
WT_RETRY_CAP = 60.0
"""The longest backoff between attempts of a failing workflow task, in seconds."""


def complete_workflow_task(ctx: Ctx, msg: CompleteWorkflowTaskRequest) -> WorkflowTaskAnswer:
    task = fenced_task(ctx.txn, msg.token, "workflow")
    run = Run.load(ctx, task.namespace, task.workflow_id, task.run_id)
    commands = msg.commands
    session = task.lease_session or ""
    closing = any(isinstance(c, CLOSING) for c in commands)
    updates.reject(run, msg.update_rejections or [])
    accepted = {c.update_id for c in commands if isinstance(c, AcceptUpdateCommand)}
    unseen = [u for u in updates.requested(run.state) if u.update_id not in accepted]
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
    over = limits.commands_over(run, commands)
    if over is not None:
        # Applied, the commands would pass a per-run limit: the task fails as a whole,
        # visibly, and runs again after its backoff (by then its pending work may be done).
        ctx.effects.observe(LimitHit(run.ns, run.row.workflow_type, over.limit))
        _task_failed(ctx, run, task, WireFailure(message=over.message, type=over.failure_type),
                     over.cause)
        return {"rejected": True, "reason": over.cause}
    run.alive = session
    run.end_wt(task, EventType.WORKFLOW_TASK_COMPLETED, {"identity": session})
    return apply_step(ctx, run, session, msg, msg.request_no)


def apply_step(ctx: Ctx, run: Run, session: str,
               outcome: CompleteWorkflowTaskRequest | WorkflowStep,
               request: int | None) -> WorkflowTaskAnswer:
    """What follows a completed workflow task's events: its commands, the run's stickiness
    to the worker that ran it, the save, and the eager hand-back of what it created
    (``request``: the worker's number of the request carrying the outcome)."""
    scheduled = apply_commands(run, outcome.commands)
    run.state.upto = run.row.next_event_id - 1  # before the held inputs are written
    run.state.last_task_failure = None
    run.state.sticky = session if run.running else None
    force = isinstance(outcome, CompleteWorkflowTaskRequest) and bool(outcome.force_new_task)
    if run.running and (run.flush_buffer() or updates.requested(run.state) or force):
        run.schedule_wt()
    run.save()
    out: WorkflowTaskAnswer = {"upto": run.state.upto}
    _eager(ctx, run, session, scheduled, outcome, out, request)
    return out


def _eager(ctx: Ctx, run: Run, session: str, scheduled: list[tuple[int, str, str]],
           outcome: CompleteWorkflowTaskRequest | WorkflowStep, out: WorkflowTaskAnswer,
           request: int | None) -> None:
    """Hand the tasks this completion created straight back to the worker (no poll): the
    activities it can run (its queue, its types, up to the slots it offered) and the next
    workflow task (``request``: the worker's number of the request they answer)."""
    want = int(clamp(outcome.eager_activities or 0, 0, 256))
    if want and scheduled:
        info = dispatch.session_info(ctx, session, cached=True)
        mine = set(info.activity_types)
        ids = [tid for tid, queue, atype in scheduled
               if queue == info.task_queue and atype in mine][:want]
        out["activity_tasks"] = [t for t in dispatch.claim_ids(ctx, ids, session, run, request)
                                 if isinstance(t, ActivityTask)]
    wt = run.state.wt
    if outcome.eager_workflow and run.running and wt:
        wts = dispatch.claim_ids(ctx, [wt.task_id], session, run, request)
        if wts and isinstance(wts[0], OutgoingWorkflowTask):
            out["workflow_task"] = wts[0]


def clamp(value: int, low: int, high: int) -> int:
    return max(low, min(value, high))


# -- workflow task failure -----------------------------------------------------------------------
def fail_workflow_task(ctx: Ctx, msg: FailWorkflowTaskRequest) -> NextAttempt:
    task = fenced_task(ctx.txn, msg.token, "workflow")
    run = Run.load(ctx, task.namespace, task.workflow_id, task.run_id)
    failure = msg.failure or WireFailure(message="workflow task failed")
    delay = _task_failed(ctx, run, task, failure, msg.cause or "workflow_error")
    ctx.effects.observe(WorkflowTaskFailed(run.ns, run.row.workflow_type))
    return NextAttempt(next_attempt_in=delay)


def _task_failed(ctx: Ctx, run: Run, task: TaskRow, failure: WireFailure, cause: str) -> float:
    """Record the workflow task's failure (describe shows the latest), offer it again after
    a backoff that grows with each attempt; returns that backoff."""
    attempt = run.state.wt.attempt if run.state.wt else 1
    run.state.last_task_failure = TaskFailureInfo(
        message=failure.message, type=failure.type or "", traceback=failure.stack_trace or "",
        attempts=attempt, time=ctx.now, cause=cause)
    log.warning("workflow task failed: namespace=%s workflow_id=%s run_id=%s attempt=%d: %s: %s",
                run.ns, run.wid, run.rid, attempt, failure.type or "Error", failure.message)
    delay = min(WT_RETRY_CAP, 2.0 ** (attempt - 1))
    run.retry_wt(task, EventType.WORKFLOW_TASK_FAILED, {"cause": cause, "failure": failure},
                 delay)
    run.save()
    return delay
