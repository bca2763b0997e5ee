"""Resetting a workflow to an event of one of its runs: the repair path after a bad step.

A reset makes a new run of the same workflow id from the base run's history up to a point,
and terminates the workflow's running run, in one transaction. The point N is a
``WORKFLOW_TASK_COMPLETED`` (or the run's first ``WORKFLOW_TASK_SCHEDULED``):

- Reset to a completed workflow task N: the new run's history is a copy of events 1..N-1
  (which ends with that task's ``WORKFLOW_TASK_STARTED``), then ``WORKFLOW_TASK_FAILED``
  with cause ``reset_workflow`` in place of N, then a new ``WORKFLOW_TASK_SCHEDULED``. The
  replay engine treats a failed task as one that produced nothing and folds its inputs into
  the next task (:func:`plait.runtime.activations.split`), so a worker replays everything
  before that task and runs the task itself live, on the code deployed now: its decisions
  (N's commands) are made again, a ``workflow.patched`` branch is taken there, and nothing
  decided before it runs again. This is Temporal's shape for the same operation. Copying N
  itself instead would make the new code reproduce N's commands exactly, which leaves the
  step a repair is meant to change out of reach.
- Reset to the first ``WORKFLOW_TASK_SCHEDULED``: events before it are copied (the start,
  any signal-with-start) and the first task is scheduled again: the run starts over with
  its input.

``last_workflow_task`` is the last completed task that left the run open: a task whose
commands closed the run (after a step failed, the workflow failing) would only decide the same
again from the same inputs, so for a run that a failed step ended, "last" is the task that
scheduled that step, which runs again (and so does the step, on the fixed code).

What the run was waiting for at that point is derived from the copied events
(:func:`plait.server.rebuild.rebuild`): activities scheduled and not closed are pending again
(attempt 1, due now; an activity the workflow had asked to stop is recorded as cancelled
instead, since nothing runs it), timers started and not fired are set again for the time they
were due, accepted updates are known. Signals the base run received after the point are
appended again when asked (``reapply_signals``). A point with a child workflow still open is
refused: the child belongs to the base run, and nothing could report its end to the new one.

The runs name each other (``RunState.reset_from`` / ``reset_to_run_id``, shown by describe),
and the termination carries the new run's id, so the base run's parent is not told of a close
and ``result()`` follows on to the new run.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from typing import Literal

import msgspec

from plait.protocol import history as h
from plait.protocol.common import RunRef
from plait.protocol.events import COMMAND_EVENTS, EventType
from plait.protocol.history import EVENT_STRUCTS, Event
from plait.server import activities, closing
from plait.server.errors import BadRequest
from plait.server.observed import RunStarted
from plait.server.rebuild import Prefix, decode_events, rebuild
from plait.server.run import RUNNING, Ctx, Run
from plait.store.base import ExecutionRow
from plait.store.history import StoredEvent
from plait.store.run_state import ResetFrom, RunState
from plait.store.task_data import ActivityOptions, ActivityTaskData, TimerData

__all__ = ["FIRST", "LAST", "ResetPoint", "reset", "reset_event_id"]

FIRST = "first_workflow_task"
LAST = "last_workflow_task"
ResetPoint = int | Literal["first_workflow_task", "last_workflow_task"]
"""An event id, or a named point of the base run's history."""


def reset(
    ctx: Ctx,
    ns: str,
    wid: str,
    rid: str | None,
    point: ResetPoint,
    *,
    reason: str = "",
    reapply_signals: bool = True,
) -> RunRef:
    """Reset run ``rid`` (default: the workflow's latest run) to ``point``; returns the new
    run. The workflow's running run, if any, is terminated with a reason naming the reset.
    One call per run, so a batch reset is a loop of these."""
    base = Run.load(ctx, ns, wid, rid)
    raw = ctx.txn.events(ns, wid, base.rid)
    events = decode_events(raw)
    n = reset_event_id(events, point)
    prefix = rebuild(events[: n - 1])
    if prefix.children:
        seq, child = next(iter(prefix.children.items()))
        raise BadRequest(
            f"cannot reset workflow {wid!r} to event {n}: child workflow "
            f"{child!r} (seq {seq}) is still open at that point; pick an event "
            "before it was started or after it closed"
        )
    new_rid = str(uuid.uuid4())
    note = f"reset to event {n} of run {base.rid}" + (f": {reason}" if reason else "")
    parent = base.state.parent if base.running else None
    _terminate_current(ctx, ns, wid, note, new_rid)
    base = Run.load(ctx, ns, wid, base.rid)  # reloaded: it may have just been terminated
    later = decode_events(ctx.txn.events(ns, wid, base.rid, after=n - 1))
    run = _new_run(base, new_rid, n, prefix, reason)
    run.state.parent = parent
    # The per-run limits count the copied history too (plait.server.limits, Run.save).
    run.state.history_bytes = sum(len(r) for r in raw[: n - 1])
    run.state.signals = sum(
        isinstance(ev, h.WorkflowExecutionSignaledEvent) for ev in events[: n - 1]
    )
    _fail_reset_task(run, events, n, note)
    _restore_pending(run, prefix)
    if reapply_signals:
        _reapply_signals(run, later)
    if run.state.deadline is not None:
        ctx.txn.set_timer(ns, wid, new_rid, "execution", "", run.state.deadline)
        ctx.effects.timer(run.state.deadline)
    run.schedule_wt()
    run.save()
    # The copy keeps each event's stored text: ids, times and attributes as first written.
    copy = [StoredEvent(ev.event_id, bytes(r).decode()) for ev, r in zip(events, raw, strict=True)]
    ctx.txn.insert_events(ns, wid, new_rid, copy[: n - 1])
    base.state.reset_to_run_id = new_rid
    base.save()
    ctx.effects.observe(RunStarted(ns, run.row.workflow_type))
    return RunRef(workflow_id=wid, run_id=new_rid)


def reset_event_id(events: Sequence[Event], point: ResetPoint) -> int:
    """The event a reset of a run with ``events`` goes to; a clear refusal if ``point`` is
    not a ``WORKFLOW_TASK_COMPLETED`` or the first ``WORKFLOW_TASK_SCHEDULED``."""
    first = next(
        (ev.event_id for ev in events if isinstance(ev, h.WorkflowTaskScheduledEvent)), None
    )
    if first is None:
        raise BadRequest("cannot reset: the run has no workflow task yet")
    if point == FIRST:
        return first
    if point == LAST:
        return _last_open_task(events) or first
    if isinstance(point, str):
        raise BadRequest(f"unknown reset point {point!r}: give an event id, {FIRST!r} or {LAST!r}")
    if not 1 <= point <= len(events):
        raise BadRequest(
            f"cannot reset to event {point}: the run's history has events 1..{len(events)}"
        )
    ev = events[point - 1]
    completed = (
        isinstance(ev, h.WorkflowTaskCompletedEvent)
        and point >= 2
        and isinstance(events[point - 2], h.WorkflowTaskStartedEvent)
    )
    if not completed and point != first:
        kind = type(ev).__struct_config__.tag
        raise BadRequest(
            f"cannot reset to event {point} ({kind}): a reset point is "
            "a WORKFLOW_TASK_COMPLETED event or the first "
            f"WORKFLOW_TASK_SCHEDULED (event {first})"
        )
    return point


_CLOSING = (
    h.WorkflowExecutionCompletedEvent,
    h.WorkflowExecutionFailedEvent,
    h.WorkflowExecutionCanceledEvent,
    h.WorkflowExecutionContinuedAsNewEvent,
)
_COMMANDS = tuple(EVENT_STRUCTS[e] for e in COMMAND_EVENTS)


def _last_open_task(events: Sequence[Event]) -> int | None:
    """The last ``WORKFLOW_TASK_COMPLETED`` whose commands left the run open. A task that
    closed the run (its result, its failure) would decide the same again from the same
    inputs, so the last point worth going back to is the one before that decision: after a
    step failed the workflow, it is the task that scheduled that step."""
    last = None
    for i, ev in enumerate(events):
        if isinstance(ev, h.WorkflowTaskCompletedEvent) and not _closes(events, i):
            last = ev.event_id
    return last


def _closes(events: Sequence[Event], i: int) -> bool:
    """Whether the commands of the task completed at ``events[i]`` closed the run."""
    for ev in itertools.islice(events, i + 1, None):
        if isinstance(ev, _CLOSING):
            return True
        if not isinstance(ev, _COMMANDS):
            return False
    return False


def _terminate_current(ctx: Ctx, ns: str, wid: str, note: str, new_rid: str) -> None:
    """The workflow's running run (the base run, or a later one) makes way for the new one."""
    current = ctx.txn.current_run(ns, wid)
    if current is None:
        return
    run = Run.load(ctx, ns, wid, current)
    if run.running:
        closing.terminate_run(run, note, new_run_id=new_rid)
        run.save()


def _new_run(base: Run, rid: str, n: int, prefix: Prefix, reason: str) -> Run:
    """The new run's row, its history to be the copy of events 1..n-1 (inserted after it)."""
    old = base.state
    state = RunState(
        activities_counted=True,  # from zero: add_pending counts what is pending again
        task_timeout=old.task_timeout,
        deadline=old.deadline,
        first_run_id=old.first_run_id or base.rid,
        attempt=old.attempt,
        retry_policy=old.retry_policy,
        input=old.input,
        header=old.header,
        updates=prefix.updates,
        cancel_requested=prefix.workflow_cancel_requested,
        reset_from=ResetFrom(run_id=base.rid, event_id=n, reason=reason),
    )
    row = ExecutionRow(
        base.ns,
        base.wid,
        rid,
        base.row.workflow_type,
        base.row.task_queue,
        RUNNING,
        base.ctx.now,
        None,
        n,
        state,
        None,
        prefix.search_attributes,
        base.row.memo,
    )
    return Run(base.ctx, row, new=True)


def _fail_reset_task(run: Run, events: Sequence[Event], n: int, note: str) -> None:
    """In place of a completed task N: that task failed, so its inputs go to the next one."""
    started = events[n - 2] if n >= 2 else None
    if not isinstance(events[n - 1], h.WorkflowTaskCompletedEvent) or not isinstance(
        started, h.WorkflowTaskStartedEvent
    ):
        return  # the first WORKFLOW_TASK_SCHEDULED: it is scheduled again
    base = run.state.reset_from
    run.append(
        EventType.WORKFLOW_TASK_FAILED,
        {
            "scheduled_event_id": started.attributes.scheduled_event_id,
            "started_event_id": started.event_id,
            "cause": "reset_workflow",
            "failure": {"message": note, "type": "ResetWorkflow"},
            "base_run_id": base.run_id if base else None,
        },
    )


def _reapply_signals(run: Run, later: Sequence[Event]) -> None:
    """The signals the base run received after the point, delivered to the new run again."""
    for ev in later:
        if isinstance(ev, h.WorkflowExecutionSignaledEvent):
            run.append(EventType.WORKFLOW_EXECUTION_SIGNALED, msgspec.to_builtins(ev.attributes))
            run.state.signals += 1


def _restore_pending(run: Run, prefix: Prefix) -> None:
    """What the base run waited for at the point: pending in the new run again."""
    for aid, ev in prefix.activities.items():
        a = ev.attributes
        if aid in prefix.cancel_requested:  # its stop was asked for, and nothing runs it
            run.append(
                EventType.ACTIVITY_TASK_CANCELED,
                {
                    "activity_id": aid,
                    "scheduled_event_id": ev.event_id,
                    "activity_type": a.activity_type,
                    "attempt": 1,
                    "details": None,
                },
            )
            continue
        opts = ActivityOptions(
            start_to_close_timeout=a.start_to_close_timeout,
            schedule_to_close_timeout=a.schedule_to_close_timeout,
            schedule_to_start_timeout=a.schedule_to_start_timeout,
            heartbeat_timeout=a.heartbeat_timeout,
            retry_policy=a.retry_policy,
        )
        activities.add_pending(
            run,
            aid,
            a.task_queue,
            ActivityTaskData(
                activity_type=a.activity_type,
                input=a.input,
                attempt=1,
                scheduled_event_id=ev.event_id,
                scheduled_time=run.ctx.now,
                options=opts,
                workflow_type=run.row.workflow_type,
                header=a.header or {},
                rate_limit_key=a.rate_limit_key,
            ),
        )
    for timer in prefix.timers.values():
        at = max(timer.fire_at, run.ctx.now)
        run.txn.set_timer(
            run.ns,
            run.wid,
            run.rid,
            "user",
            timer.timer_id,
            at,
            TimerData(started_event_id=timer.started_event_id),
        )
        run.ctx.effects.timer(at)
