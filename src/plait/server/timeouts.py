"""What happens when a durable timer is due: a user timer fires into the history, a run's
execution timeout closes it, an activity's timeout ends its attempt."""

from __future__ import annotations

from plait.protocol.events import EventType
from plait.server import activities, closing
from plait.server.observed import TimerFired
from plait.server.run import RUNNING, Ctx, Run
from plait.store.base import TaskRow
from plait.store.task_data import TimerData

__all__ = ["fire_timer", "time_out_attempt"]


def fire_timer(ctx: Ctx, ns: str, wid: str, rid: str, kind: str, ref: str) -> None:
    timer = ctx.txn.get_timer(ns, wid, rid, kind, ref)
    if timer is None or timer.fire_at > ctx.now:
        return  # already handled, or moved later (a heartbeat)
    ctx.txn.delete_timer(ns, wid, rid, kind, ref)
    ctx.effects.observe(TimerFired(ns, ctx.now - timer.fire_at))
    row = ctx.txn.get_execution(ns, wid, rid)
    if row is None or row.status != RUNNING:
        return
    run = Run(ctx, row)
    if kind == "user":
        run.add_input([(EventType.TIMER_FIRED, {
            "timer_id": ref, "started_event_id": timer.data.started_event_id})])
    elif kind == "execution":
        run.flush_buffer()
        closing.close_run(run, "TIMED_OUT", EventType.WORKFLOW_EXECUTION_TIMED_OUT,
                          {"timeout_type": "execution"})
    elif kind.startswith("act_"):
        activities.fire_timeout(run, kind, ref, timer.data)
    run.save()


def time_out_attempt(ctx: Ctx, task: TaskRow) -> None:
    """A held activity attempt ran past its start-to-close timeout (seen at a heartbeat)."""
    row = ctx.txn.get_execution(task.namespace, task.workflow_id, task.run_id)
    if row is None or row.status != RUNNING:
        ctx.txn.delete_task(task.task_id)
        return
    run = Run(ctx, row)
    activities.fire_timeout(run, "act_stc", task.ref, TimerData(attempt=task.activity.attempt))
    run.save()
