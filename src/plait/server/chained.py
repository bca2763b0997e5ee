"""Chained steps: an activity result reported together with the workflow task it unblocks.

On a chain of activities every step used to cost two state changes: the activity's result
(which schedules a workflow task and hands it back to the worker) and that task's completion.
A worker that holds the run in its cache can run the task itself as soon as the activity
returns, and report both in one completion item: the result plus the task's commands
(``workflow_step``). The server records exactly the events of the two changes (the activity's
``STARTED``/``COMPLETED``, then ``WORKFLOW_TASK_SCHEDULED``/``STARTED``/``COMPLETED`` and the
command events) in one transaction, so the history, replay and the UI cannot tell the
difference, and a step costs one transaction, one fsync share and one round trip.

The worker ran the task on what its cache had seen, so the step is taken only when that is
still the whole story: nothing was appended since the worker's last task, no workflow task is
scheduled or out, nothing is buffered, no update waits, and the run is sticky to this
worker's session. Otherwise the result is recorded alone, as without a step, and the answer
says why the step was refused; the worker drops its instance (it has applied a result the
history does not yet show there) and replays when the next task comes.

The task's time (``workflow.now()``) is the worker's estimate of the server's clock, carried
forward from its last task by a monotonic clock. The server records it as the task's start,
and refuses a step whose time is more than :data:`MAX_SKEW` away from its own: later than
its clock now, or earlier than its clock when the request arrived (what the request then
waited on a busy server is not the worker's skew; refusing it turned a slow server's
steps into workflow tasks, history fetches and replays, more work when it had least).
"""

from __future__ import annotations

from plait.protocol.common import Payload
from plait.protocol.completions import WorkflowStep
from plait.server import activities, limits, steps, updates
from plait.server.answers import WorkflowTaskAnswer
from plait.server.run import Ctx, Run
from plait.store.base import TaskRow

__all__ = ["MAX_SKEW", "apply", "refusal"]

MAX_SKEW = 2.0
"""Seconds a chained step's start time may differ from the server's clock."""


def refusal(ctx: Ctx, run: Run, session: str, step: WorkflowStep,
            arrived: float | None = None) -> str | None:
    """Why the step cannot be recorded as run, or None when it can. ``arrived``: when its
    request reached this server; the time it then waited here for the store (a busy server)
    is not the worker's clock skew."""
    if run.state.paused is not None:
        return "paused"  # no workflow task runs while an operator has the run paused
    if run.state.wt is not None:
        return "workflow_task_pending"
    if run.has_buffered():
        return "buffered_events"
    if updates.requested(run.state):
        return "updates_pending"
    if run.state.sticky != session:
        return "not_sticky"
    if run.row.next_event_id != step.upto + 1:
        return "history_moved"
    earliest = (ctx.now if arrived is None else min(arrived, ctx.now)) - MAX_SKEW
    if not earliest <= step.started_time <= ctx.now + MAX_SKEW:
        return "clock_skew"
    if limits.commands_over(run, step.commands, finishing=1) is not None:
        return "limit_exceeded"  # the task runs as a dispatched one, and fails there
    return None


def apply(ctx: Ctx, run: Run, task: TaskRow, session: str, step: WorkflowStep,
          result: Payload | None, request: int | None) -> WorkflowTaskAnswer:
    """Record the activity's result and the workflow task the worker ran on it
    (``request``: the worker's number of the request carrying them)."""
    started = step.started_time
    # The worker finished the activity and ran the task at ``started`` by its estimate of this
    # server's clock: the history says so, in order (never before the attempt began, never
    # after now), while the task's own start stays exactly the time its code saw.
    finished = max(task.dispatched_at or ctx.now, min(started, ctx.now))
    run.wt_ran = True
    try:
        activities.complete(run, task, result, at=finished)
    finally:
        run.wt_ran = False
    run.record_ran_wt(session, started, scheduled=min(finished, started))
    return steps.apply_step(ctx, run, session, step, request)
