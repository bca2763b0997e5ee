"""Activity results: an attempt's completion, failure or heartbeat, fenced by its token.

A completion may carry the workflow task the worker already ran on it (a chained step,
:mod:`plait.server.chained`); otherwise it schedules the workflow task and, when this worker
can take it, hands it straight back (eager dispatch).
"""

from __future__ import annotations

from plait.protocol.common import Recorded
from plait.protocol.completions import (
    ActivityCancelRequested,
    CompleteActivityTaskRequest,
    FailActivityTaskRequest,
    HandedOver,
    HeartbeatActivityRequest,
)
from plait.protocol.failure import Failure
from plait.protocol.jsoncodec import plain
from plait.server import activities, chained
from plait.server.answers import ActivityResultAnswer, OutgoingWorkflowTask
from plait.server.dispatch import claim_ids, session_info
from plait.server.fencing import fenced_task
from plait.server.run import RUNNING, Ctx, Run
from plait.store.base import TaskRow

__all__ = ["complete_activity", "complete_async", "fail_activity", "heartbeat_activity"]


def complete_activity(ctx: Ctx, msg: CompleteActivityTaskRequest,
                      arrived: float | None = None) -> ActivityResultAnswer:
    """Record an activity's result, and the workflow step a worker chained to it when it can
    be (``arrived``: when the request reached the server, for the step's clock check)."""
    task = fenced_task(ctx.txn, msg.token, "activity")
    session = task.lease_session or ""
    run = _run_of(ctx, task)
    if run is None:
        return {"recorded": False}
    run.alive = session
    step = msg.workflow_step
    refused = step and chained.refusal(ctx, run, session, step, arrived)
    if step and not refused:
        return {"recorded": True,
                "workflow_step": chained.apply(ctx, run, task, session, step, msg.result,
                                               msg.request_no)}
    had_wt = run.state.wt is not None
    activities.complete(run, task, msg.result)
    run.save()
    out: ActivityResultAnswer = {"recorded": True}
    if step and refused:
        out["workflow_step"] = {"refused": refused}
    wt = run.state.wt
    if msg.eager_workflow and wt and not had_wt and _can_run(ctx, run, session):
        tasks = claim_ids(ctx, [wt.task_id], session, run, msg.request_no)
        if tasks and isinstance(tasks[0], OutgoingWorkflowTask):
            out["workflow_task"] = tasks[0]
    return out


def _can_run(ctx: Ctx, run: Run, session: str) -> bool:
    """Whether the session that just completed an activity should take the workflow task
    this created: it serves the run's queue and type, and the run is not sticky elsewhere."""
    info = session_info(ctx, session, cached=True)
    return (info.task_queue == run.row.task_queue
            and run.row.workflow_type in info.workflow_types
            and run.state.sticky in (None, session))


def fail_activity(ctx: Ctx, msg: FailActivityTaskRequest) -> Recorded:
    task = fenced_task(ctx.txn, msg.token, "activity")
    run = _run_of(ctx, task)
    if run is None:
        return Recorded(recorded=False)
    failure: Failure = plain(msg.failure) if msg.failure else {"message": "activity failed"}
    # A worker that stops an attempt at its own start_to_close deadline reports a timeout:
    # treat it exactly like the server's timer firing.
    timeout_type = failure.get("timeout_type") if failure.get("kind") == "timeout" else None
    activities.attempt_failed(run, task, failure, timeout_type=timeout_type)
    run.save()
    return Recorded(recorded=True)


def complete_async(ctx: Ctx, token: str) -> HandedOver:
    task = fenced_task(ctx.txn, token, "activity")
    activities.hand_over(ctx, task)
    return HandedOver(token=token)


def heartbeat_activity(ctx: Ctx, msg: HeartbeatActivityRequest) -> ActivityCancelRequested:
    task = fenced_task(ctx.txn, msg.token, "activity")
    return ActivityCancelRequested(
        cancel_requested=activities.heartbeat(ctx, task, msg.details or []))


def _run_of(ctx: Ctx, task: TaskRow) -> Run | None:
    row = ctx.txn.get_execution(task.namespace, task.workflow_id, task.run_id)
    if row is None or row.status != RUNNING:
        ctx.txn.delete_task(task.task_id)
        return None
    return Run(ctx, row)
