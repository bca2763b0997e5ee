"""Operators pausing a run, or one activity of it, and letting it go again.

A paused run keeps living: attempts already out finish and are recorded, timers fire into the
history, signals and updates are accepted and kept. What stops is the handing out of work: no
workflow task and no new activity attempt of the run goes to a worker. The pause is in the
run's state (``RunState.paused``), so it survives a restart, and the run's unleased tasks are
*held*: their ``visible_at`` is pushed past :data:`~plait.store.task_data.HELD`, where no
claim looks. Every change of a paused run holds whatever it scheduled or re-offered as it is
saved (:meth:`plait.server.run.Run.hold_tasks`); unpausing takes the offset off again, so a
task keeps the due time it had (an activity's retry backoff, say), or is due now.

An activity is paused alone the same way, with the flag in its task data: its running attempt
goes on, and no next attempt starts until it is unpaused. Resetting an activity starts its
attempt count again at 1 (and its next attempt now); the log keeps numbering every try.
"""

from __future__ import annotations

from plait.protocol.common import RunRef
from plait.protocol.enums import ErrorCode
from plait.server.errors import Conflict, NotFound
from plait.server.run import Ctx, Run
from plait.store.base import TaskRow
from plait.store.run_state import PauseInfo
from plait.store.task_data import HELD, ActivityTaskData, TimerData

__all__ = ["pause", "pause_activity", "reset_activity", "unpause", "unpause_activity"]


def _running(ctx: Ctx, ns: str, wid: str, rid: str | None, doing: str) -> Run:
    run = Run.load(ctx, ns, wid, rid)
    if not run.running:
        raise Conflict(f"cannot {doing} workflow {wid!r}: it is not running "
                       f"(it is {run.row.status})", code=ErrorCode.WORKFLOW_NOT_RUNNING)
    return run


def pause(ctx: Ctx, ns: str, wid: str, rid: str | None, reason: str,
          identity: str) -> RunRef:
    """Pause a running run (pausing a paused one changes nothing, not even the reason)."""
    run = _running(ctx, ns, wid, rid, "pause")
    if run.state.paused is None:
        run.state.paused = PauseInfo(time=ctx.now, reason=reason, identity=identity)
        run.save()  # the save holds the run's tasks
    return RunRef(workflow_id=wid, run_id=run.rid)


def unpause(ctx: Ctx, ns: str, wid: str, rid: str | None) -> RunRef:
    """Let a paused run go on: its held tasks are due again (an unpaused run: no-op)."""
    run = _running(ctx, ns, wid, rid, "unpause")
    if run.state.paused is not None:
        run.state.paused = None
        for task in run.txn.tasks_of_run(run.ns, run.wid, run.rid):
            if task.kind == "activity" and task.activity.paused:
                continue  # paused on its own: it stays held
            _release(ctx, task)
        run.save()
    return RunRef(workflow_id=wid, run_id=run.rid)


def _held(task: TaskRow) -> bool:
    return task.kind != "query" and task.lease_session is None and task.visible_at >= HELD


def _release(ctx: Ctx, task: TaskRow) -> None:
    """A held task gets its due time back (now, if that has passed); its pollers wake."""
    if not _held(task):
        return
    at = max(task.visible_at - HELD, ctx.now)
    ctx.txn.release_task(task.task_id, at, task.payload)
    ctx.effects.wake_queue(task.namespace, task.task_queue, task.kind)
    if at > ctx.now:
        ctx.effects.timer(at)


def _activity(run: Run, activity_id: str) -> tuple[TaskRow, ActivityTaskData]:
    task = run.txn.get_task_by_ref(run.ns, run.wid, run.rid, "activity", activity_id)
    if task is None:
        raise NotFound(f"workflow {run.wid!r} has no pending activity {activity_id!r}",
                       code=ErrorCode.ACTIVITY_NOT_FOUND)
    return task, task.activity


def pause_activity(ctx: Ctx, ns: str, wid: str, rid: str | None, activity_id: str) -> RunRef:
    """No new attempt of the activity starts until it is unpaused (a running one goes on)."""
    run = _running(ctx, ns, wid, rid, "pause an activity of")
    task, p = _activity(run, activity_id)
    p.paused = True
    if task.lease_session is None and task.visible_at < HELD:
        ctx.txn.release_task(task.task_id, task.visible_at + HELD, p)
    else:
        ctx.txn.update_task_payload(task.task_id, p)
    return RunRef(workflow_id=wid, run_id=run.rid)


def unpause_activity(ctx: Ctx, ns: str, wid: str, rid: str | None,
                     activity_id: str) -> RunRef:
    """The activity's next attempt may start again (once the run is not paused either)."""
    run = _running(ctx, ns, wid, rid, "unpause an activity of")
    task, p = _activity(run, activity_id)
    p.paused = False
    ctx.txn.update_task_payload(task.task_id, p)
    if run.state.paused is None:
        _release(ctx, task)
    return RunRef(workflow_id=wid, run_id=run.rid)


def reset_activity(ctx: Ctx, ns: str, wid: str, rid: str | None, activity_id: str) -> RunRef:
    """Start the activity's attempt count again at 1. A waiting activity is offered at once
    (unless paused); a running attempt goes on, its result is taken as usual, and should it
    fail, the next attempt counts as the first and starts at once."""
    run = _running(ctx, ns, wid, rid, "reset an activity of")
    task, p = _activity(run, activity_id)
    if task.lease_session is not None:
        p.reset_requested = True
        ctx.txn.update_task_payload(task.task_id, p)
        return RunRef(workflow_id=wid, run_id=run.rid)
    p.attempt_base = p.attempt - 1
    p.rate_limited_until = None
    held = p.paused or run.state.paused is not None
    ctx.txn.release_task(task.task_id, ctx.now + (HELD if held else 0.0), p)
    s2s = p.options.schedule_to_start_timeout
    if s2s:  # a new attempt: its wait to start counts from now
        ctx.txn.set_timer(ns, wid, run.rid, "act_s2s", activity_id, ctx.now + s2s,
                          TimerData(attempt=p.attempt))
        ctx.effects.timer(ctx.now + s2s)
    if not held:
        ctx.effects.wake_queue(ns, task.task_queue, "activity")
    return RunRef(workflow_id=wid, run_id=run.rid)
