"""Recovery: a task leased to a worker that died (or never acknowledged it) goes back to work.

Sessions (:mod:`plait.server.sessions`) decide that a worker is gone; this module decides what
each of its tasks becomes: a query is offered again, a workflow task is retried, an activity
attempt ends as lost and is retried under its policy.
"""

from __future__ import annotations

from plait.protocol.events import EventType
from plait.server import activities
from plait.server.run import RUNNING, Ctx, Run
from plait.store.base import TaskRow

__all__ = ["redispatch_lost"]


def redispatch_lost(ctx: Ctx, task: TaskRow, why: str) -> None:
    """A task leased to a dead (or never-answering) worker goes back to the queue at once."""
    if task.kind == "query":  # offered again to any worker; its asker is still waiting
        ctx.txn.release_task(task.task_id, ctx.now, task.payload)
        ctx.effects.wake_queue(task.namespace, task.task_queue, "query")
        return
    if task.lease_session == activities.ASYNC_LEASE:
        return  # completed from outside: its timeouts, not a session, watch it
    if task.kind == "activity" and why == "unacknowledged":
        activities.undelivered(ctx, task)
        return
    row = ctx.txn.get_execution(task.namespace, task.workflow_id, task.run_id)
    if row is None or row.status != RUNNING:
        ctx.txn.delete_task(task.task_id)
        return
    run = Run(ctx, row)
    if task.kind == "workflow":
        run.retry_wt(task, EventType.WORKFLOW_TASK_TIMED_OUT, {"timeout_type": why}, 0.0)
    else:
        activities.worker_lost(run, task, why)
    run.save()
