"""Applying a workflow task's commands: each writes its event and the work it implies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plait.protocol import commands as c
from plait.protocol.events import CLOSE_COMMANDS, EventType
from plait.server import activities, children, closing, updates
from plait.server.run import Run
from plait.store.task_data import TimerData

__all__ = ["CLOSE_COMMANDS", "apply_commands"]


def apply_commands(run: Run, commands: list[c.Command]) -> list[tuple[int, str, str]]:
    """Apply commands in order (stopping once the run closes); returns the new activity
    tasks (id, queue, type).

    Inputs produced on the way (an activity cancelled before it started) are held in the
    buffer and written after the command events.
    """
    scheduled: list[tuple[int, str, str]] = []
    run.holding = True
    try:
        for cmd in commands:
            if not run.running:
                break
            if isinstance(cmd, c.ScheduleActivityCommand):
                scheduled.append(activities.schedule(run, cmd))
            else:
                _APPLY[type(cmd)](run, cmd)
    finally:
        run.holding = False
    return scheduled


def _start_timer(run: Run, cmd: c.StartTimerCommand) -> None:
    duration = max(0.0, float(cmd.duration))
    started = run.append(EventType.TIMER_STARTED, {"timer_id": cmd.timer_id,
                                                   "duration": duration})
    fire_at = run.ctx.now + duration
    run.txn.set_timer(run.ns, run.wid, run.rid, "user", cmd.timer_id, fire_at,
                      TimerData(started_event_id=started))
    run.ctx.effects.timer(fire_at)


def _cancel_timer(run: Run, cmd: c.CancelTimerCommand) -> None:
    tid = cmd.timer_id
    timer = run.txn.get_timer(run.ns, run.wid, run.rid, "user", tid)
    run.append(EventType.TIMER_CANCELED, {
        "timer_id": tid, "started_event_id": timer.data.started_event_id if timer else None})
    run.txn.delete_timer(run.ns, run.wid, run.rid, "user", tid)


def _complete(run: Run, cmd: c.CompleteWorkflowCommand) -> None:
    closing.close_run(run, "COMPLETED", EventType.WORKFLOW_EXECUTION_COMPLETED,
                      {"result": cmd.result})


def _cancel(run: Run, cmd: c.CancelWorkflowCommand) -> None:
    closing.close_run(run, "CANCELED", EventType.WORKFLOW_EXECUTION_CANCELED,
                      {"details": cmd.details})


def _marker(run: Run, cmd: c.RecordMarkerCommand) -> None:
    run.append(EventType.MARKER_RECORDED, {"marker_name": cmd.marker_name,
                                           "details": cmd.details or {}})


def _upsert(run: Run, cmd: c.UpsertSearchAttributesCommand) -> None:
    run.append(EventType.UPSERT_SEARCH_ATTRIBUTES,
               {"search_attributes": cmd.search_attributes})
    run.txn.upsert_search_attributes(run.row, cmd.search_attributes)


_APPLY: dict[type[Any], Callable[[Run, Any], None]] = {
    c.RequestCancelActivityCommand: lambda run, cmd: activities.request_cancel(
        run, cmd.activity_id),
    c.StartTimerCommand: _start_timer,
    c.CancelTimerCommand: _cancel_timer,
    c.CompleteWorkflowCommand: _complete,
    c.FailWorkflowCommand: lambda run, cmd: children.fail_or_retry(run, cmd.failure),
    c.RecordMarkerCommand: _marker,
    c.AcceptUpdateCommand: updates.accept,
    c.CompleteUpdateCommand: updates.complete,
    c.UpsertSearchAttributesCommand: _upsert,
    c.StartChildWorkflowCommand: children.start_child,
    c.SignalExternalCommand: children.signal_external,
    c.CancelExternalCommand: children.cancel_external,
    c.ContinueAsNewCommand: children.continue_as_new,
    c.CancelWorkflowCommand: _cancel,
}
"""How each command kind (but ``schedule_activity``, which returns its task) is applied; the
wire decoder only makes commands of these types."""
