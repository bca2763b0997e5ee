"""Applying a workflow task's commands: each writes its event and the work it implies."""

from __future__ import annotations

from typing import Any

from plait.protocol.events import CLOSE_COMMANDS, EventType
from plait.server import activities, children, closing, updates
from plait.server.errors import BadRequest
from plait.server.run import Run

__all__ = ["CLOSE_COMMANDS", "apply_commands"]


def apply_commands(run: Run, commands: list[dict[str, Any]]) -> list[tuple[int, str, str]]:
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
            _apply(run, cmd, scheduled)
    finally:
        run.holding = False
    return scheduled


def _apply(run: Run, cmd: dict[str, Any], scheduled: list[tuple[int, str, str]]) -> None:
    kind = cmd.get("kind")
    if kind == "schedule_activity":
        scheduled.append(activities.schedule(run, cmd))
    elif kind == "request_cancel_activity":
        activities.request_cancel(run, str(cmd.get("activity_id")))
    elif kind == "start_timer":
        _start_timer(run, cmd)
    elif kind == "cancel_timer":
        _cancel_timer(run, str(cmd.get("timer_id")))
    elif kind == "complete_workflow":
        closing.close_run(run, "COMPLETED", EventType.WORKFLOW_EXECUTION_COMPLETED,
                          {"result": cmd.get("result")})
    elif kind == "fail_workflow":
        children.fail_or_retry(run, cmd.get("failure") or {})
    elif kind == "record_marker":
        run.append(EventType.MARKER_RECORDED, {"marker_name": str(cmd.get("marker_name")),
                                               "details": cmd.get("details") or {}})
    elif kind == "accept_update":
        updates.accept(run, cmd)
    elif kind == "complete_update":
        updates.complete(run, cmd)
    elif kind == "upsert_search_attributes":
        attrs = cmd.get("search_attributes")
        if not isinstance(attrs, dict):
            raise BadRequest("search_attributes must be a JSON object")
        run.append(EventType.UPSERT_SEARCH_ATTRIBUTES, {"search_attributes": attrs})
        run.txn.upsert_search_attributes(run.row, attrs)
    elif kind == "start_child_workflow":
        children.start_child(run, cmd)
    elif kind == "signal_external":
        children.signal_external(run, cmd)
    elif kind == "cancel_external":
        children.cancel_external(run, cmd)
    elif kind == "continue_as_new":
        children.continue_as_new(run, cmd)
    elif kind == "cancel_workflow":
        closing.close_run(run, "CANCELED", EventType.WORKFLOW_EXECUTION_CANCELED,
                          {"details": cmd.get("details")})
    else:
        raise BadRequest(f"unknown command kind {kind!r}")


def _start_timer(run: Run, cmd: dict[str, Any]) -> None:
    tid = str(cmd.get("timer_id"))
    duration = max(0.0, float(cmd.get("duration", 0)))
    started = run.append(EventType.TIMER_STARTED, {"timer_id": tid, "duration": duration})
    fire_at = run.ctx.now + duration
    run.txn.set_timer(run.ns, run.wid, run.rid, "user", tid, fire_at,
                      {"started_event_id": started})
    run.ctx.effects.timer(fire_at)


def _cancel_timer(run: Run, tid: str) -> None:
    timer = run.txn.get_timer(run.ns, run.wid, run.rid, "user", tid)
    run.append(EventType.TIMER_CANCELED, {
        "timer_id": tid, "started_event_id": timer.data.get("started_event_id") if timer
        else None})
    run.txn.delete_timer(run.ns, run.wid, run.rid, "user", tid)
