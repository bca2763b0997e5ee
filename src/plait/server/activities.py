"""Activity lifecycle on the server: schedule, attempt, retry with backoff, time out, finish.

Retries add no history events: the history holds the final outcome (one
``ACTIVITY_TASK_STARTED`` + the closing event), the ``attempts`` table every try. The pending
activity *is* its task row, so describe() derives its state instead of storing it twice.
"""

from __future__ import annotations

import msgspec

from plait.protocol.commands import ScheduleActivityCommand
from plait.protocol.common import Failure as WireFailure
from plait.protocol.common import Payload
from plait.protocol.enums import PendingActivityState
from plait.protocol.events import EventType
from plait.protocol.failure import Failure
from plait.protocol.responses import Attempt, PendingActivity
from plait.protocol.tasks import ActivityTask
from plait.retry import RetryPolicy
from plait.server.errors import BadRequest
from plait.server.observed import AttemptEnded, RetryScheduled
from plait.server.run import Ctx, Input, Run
from plait.store.base import TaskRow, Txn
from plait.store.task_data import HELD, ActivityOptions, ActivityTaskData, TimerData

__all__ = ["add_pending", "attempt_failed", "complete", "dispatch_payload", "end_abandoned",
           "fire_timeout", "heartbeat", "pending_info", "request_cancel", "schedule",
           "worker_lost"]

ASYNC_LEASE = "async-completion"
"""The lease of an attempt handed over for completion from outside (no session holds it)."""

_OPTIONS = ("start_to_close_timeout", "schedule_to_close_timeout", "schedule_to_start_timeout",
            "heartbeat_timeout")


def schedule(run: Run, cmd: ScheduleActivityCommand) -> tuple[int, str, str]:
    """Apply a schedule_activity command; returns the new task's id, queue and type."""
    aid, atype = cmd.activity_id, cmd.activity_type
    opts = ActivityOptions(**{k: float(v) if (v := getattr(cmd, k)) else None
                              for k in _OPTIONS}, retry_policy=cmd.retry_policy)
    if not opts.start_to_close_timeout and not opts.schedule_to_close_timeout:
        raise BadRequest("schedule_activity needs start_to_close_timeout or "
                         "schedule_to_close_timeout")
    queue = cmd.task_queue or run.row.task_queue
    inputs, header = cmd.input or [], cmd.header or {}
    event_id = run.append(EventType.ACTIVITY_TASK_SCHEDULED, {
        "activity_id": aid, "activity_type": atype, "task_queue": queue,
        "input": inputs, "header": header, "rate_limit_key": cmd.rate_limit_key,
        **msgspec.structs.asdict(opts)})
    payload = ActivityTaskData(activity_type=atype, input=inputs, attempt=1,
                               scheduled_event_id=event_id, scheduled_time=run.ctx.now,
                               options=opts, workflow_type=run.row.workflow_type,
                               header=header, rate_limit_key=cmd.rate_limit_key)
    return add_pending(run, aid, queue, payload), queue, atype


def add_pending(run: Run, aid: str, queue: str, payload: ActivityTaskData) -> int:
    """Make a scheduled activity pending: its task row, due now, and its schedule timeouts
    counted from now. Also how a reset gives its new run the activities that were pending at
    the reset point (:mod:`plait.server.resetting`). Returns the task's id."""
    now = run.ctx.now
    opts = payload.options
    task_id = run.txn.insert_task(ns=run.ns, task_queue=queue, kind="activity", wid=run.wid,
                                  rid=run.rid, ref=aid, visible_at=now, payload=payload)
    run.state.pending_activities += 1  # the limit's count (plait.server.limits)
    if opts.schedule_to_close_timeout:
        _timer(run, "act_s2c", aid, now + opts.schedule_to_close_timeout, TimerData(attempt=0))
    if opts.schedule_to_start_timeout:
        _timer(run, "act_s2s", aid, now + opts.schedule_to_start_timeout, TimerData(attempt=1))
    run.ctx.effects.wake_queue(run.ns, queue, "activity")
    return task_id


_TIMER_OPTION = {"act_stc": "start_to_close_timeout", "act_hb": "heartbeat_timeout",
                 "act_s2c": "schedule_to_close_timeout", "act_s2s": "schedule_to_start_timeout"}


def _armed(task: TaskRow, kind: str) -> bool:
    """Whether a timer of this kind can exist: it follows from the activity's options, so
    finishing an activity deletes only timers that were set (no empty DELETEs). An attempt a
    worker's session holds has no start-to-close timer: the session's heartbeat enforces it
    (:func:`overdue`); only an attempt handed over for async completion gets one."""
    if kind == "act_stc" and task.lease_session != ASYNC_LEASE:
        return False
    return bool(getattr(task.activity.options, _TIMER_OPTION[kind]))


def _delete_timers(txn: Txn, task: TaskRow, *kinds: str) -> None:
    for kind in kinds:
        if _armed(task, kind):
            txn.delete_timer(task.namespace, task.workflow_id, task.run_id, kind, task.ref)


def _timer(run: Run, kind: str, aid: str, at: float, data: TimerData) -> None:
    run.txn.set_timer(run.ns, run.wid, run.rid, kind, aid, at, data)
    run.ctx.effects.timer(at)


def dispatch_payload(ctx: Ctx, task: TaskRow) -> ActivityTask:
    """Arm the attempt's timeouts and build what the worker gets. The attempt log gets its
    row when the attempt ends (``_end_attempt``); until then the leased task is the record
    of a running attempt (``running_attempts``)."""
    p = task.activity
    opts = p.options
    now = ctx.now
    txn = ctx.txn
    _delete_timers(txn, task, "act_s2s")
    deadline = None
    if opts.schedule_to_close_timeout:
        deadline = p.scheduled_time + opts.schedule_to_close_timeout
    if opts.heartbeat_timeout:
        fire = now + opts.heartbeat_timeout
        txn.set_timer(task.namespace, task.workflow_id, task.run_id, "act_hb", task.ref, fire,
                      TimerData(attempt=p.attempt))
        ctx.effects.timer(fire)
    return ActivityTask(
        token=f"{task.task_id}.{task.dispatch_no}", namespace=task.namespace,
        workflow_id=task.workflow_id, run_id=task.run_id, workflow_type=p.workflow_type,
        activity_id=task.ref, activity_type=p.activity_type, task_queue=task.task_queue,
        attempt=p.attempt - p.attempt_base, input=p.input, header=p.header,
        scheduled_time=p.scheduled_time,
        started_time=now, start_to_close_timeout=opts.start_to_close_timeout,
        heartbeat_timeout=opts.heartbeat_timeout, deadline=deadline,
        heartbeat_details=p.heartbeat_details)


def overdue(task: TaskRow, now: float) -> bool:
    """Whether a held attempt has run past its start-to-close timeout (checked at each of its
    session's heartbeats: a timer row per attempt would cost two writes per activity, and the
    worker stops the attempt at that deadline itself)."""
    timeout = task.activity.options.start_to_close_timeout
    return timeout is not None and timeout > 0 and task.dispatched_at is not None \
        and now - task.dispatched_at > timeout


def hand_over(ctx: Ctx, task: TaskRow) -> None:
    """The attempt leaves its worker's session to be completed from outside: from now on a
    timer enforces its start-to-close timeout, since no heartbeat will."""
    ctx.txn.hand_task_over(task.task_id, ASYNC_LEASE)
    # Its lease no longer names the worker that started it: the log keeps that now.
    p = task.activity
    ctx.txn.open_attempt(task.namespace, task.workflow_id, task.run_id, task.ref,
                         p.attempt, p.activity_type,
                         started_at=task.dispatched_at or ctx.now, worker=task.lease_session)
    timeout = p.options.start_to_close_timeout
    if timeout:
        fire = (task.dispatched_at or ctx.now) + float(timeout)
        _timer_at(ctx, task, "act_stc", fire, TimerData(attempt=p.attempt))


def _timer_at(ctx: Ctx, task: TaskRow, kind: str, at: float, data: TimerData) -> None:
    ctx.txn.set_timer(task.namespace, task.workflow_id, task.run_id, kind, task.ref, at, data)
    ctx.effects.timer(at)


def complete(run: Run, task: TaskRow, result: Payload | None, at: float | None = None) -> None:
    """The attempt completed (``at``: when, if earlier than now: a chained step's)."""
    _end_attempt(run, task, "completed", None, at)
    _finish(run, task, EventType.ACTIVITY_TASK_COMPLETED, {"result": result}, at)


def request_cancel(run: Run, aid: str) -> None:
    """The workflow asks an activity to stop: at once if it has not started, else at its
    next heartbeat (the worker then reports it cancelled)."""
    task = run.txn.get_task_by_ref(run.ns, run.wid, run.rid, "activity", aid)
    run.append(EventType.ACTIVITY_TASK_CANCEL_REQUESTED, {
        "activity_id": aid,
        "scheduled_event_id": task.activity.scheduled_event_id if task else None})
    if task is None:
        return  # it already finished; its outcome is in (or on its way to) the history
    if task.lease_session is None:
        _finish(run, task, EventType.ACTIVITY_TASK_CANCELED, {"details": None})
        return
    task.activity.cancel_requested = True
    run.txn.update_task_payload(task.task_id, task.payload)


def heartbeat(ctx: Ctx, task: TaskRow, details: list[Payload]) -> bool:
    """Record progress; returns whether the workflow asked the activity to stop."""
    p = task.activity
    p.heartbeat_details = details
    ctx.txn.update_task_payload(task.task_id, p)
    hb = p.options.heartbeat_timeout
    if hb:
        ctx.txn.set_timer(task.namespace, task.workflow_id, task.run_id, "act_hb", task.ref,
                          ctx.now + hb, TimerData(attempt=p.attempt))
    return p.cancel_requested


def attempt_failed(run: Run, task: TaskRow, failure: Failure, *,
                   timeout_type: str | None = None, immediate: bool = False) -> None:
    """One attempt ended badly: retry it later, or fail the activity for good."""
    p = task.activity
    attempt = p.attempt
    if p.cancel_requested or failure.get("kind") == "cancelled":
        _end_attempt(run, task, "cancelled", failure)
        _finish(run, task, EventType.ACTIVITY_TASK_CANCELED, {"details": failure.get("message")})
        return
    _end_attempt(run, task, "timed_out" if timeout_type else "failed", failure)
    policy = RetryPolicy.from_wire(p.options.retry_policy)
    # The policy counts attempts since the last reset; one reset while this attempt ran
    # makes the next attempt the first, started at once (:mod:`plait.server.pausing`).
    counted = 0 if p.reset_requested else attempt - p.attempt_base
    delay = 0.0 if immediate or p.reset_requested else policy.backoff(counted)
    s2c = p.options.schedule_to_close_timeout
    deadline = p.scheduled_time + s2c if s2c else None
    retry_state: str | None = None
    if not policy.allows_another(counted, failure.get("type", ""),
                                 bool(failure.get("non_retryable"))):
        maxed = policy.maximum_attempts and counted >= policy.maximum_attempts
        retry_state = "maximum_attempts" if maxed else "non_retryable"
    elif deadline is not None and run.ctx.now + delay >= deadline:
        retry_state = "timeout"
    if retry_state is None:
        _retry_later(run, task, failure, delay)
        return
    if timeout_type:
        final = {"kind": "timeout", "timeout_type": timeout_type, "type": "TimeoutError",
                 "message": failure.get("message", f"activity {timeout_type} timeout"),
                 "cause": p.last_failure}
        _finish(run, task, EventType.ACTIVITY_TASK_TIMED_OUT,
                {"failure": final, "retry_state": retry_state})
    else:
        _finish(run, task, EventType.ACTIVITY_TASK_FAILED,
                {"failure": failure, "retry_state": retry_state})


def _retry_later(run: Run, task: TaskRow, failure: Failure, delay: float) -> None:
    p = task.activity
    run.ctx.effects.observe(RetryScheduled(run.ns, p.activity_type))
    if p.reset_requested:
        p.attempt_base, p.reset_requested = p.attempt, False
    p.attempt += 1
    p.last_failure = failure
    at = run.ctx.now + delay
    _clear_attempt_timers(run, task)
    # A paused activity's next attempt is held back (a paused run's: by the run's save).
    run.txn.release_task(task.task_id, at + HELD if p.paused else at, p)
    s2s = p.options.schedule_to_start_timeout
    if s2s:
        _timer(run, "act_s2s", task.ref, at + s2s, TimerData(attempt=p.attempt))
    run.ctx.effects.wake_queue(run.ns, task.task_queue, "activity")
    if delay > 0:
        run.ctx.effects.timer(at)


def undelivered(ctx: Ctx, task: TaskRow) -> None:
    """The attempt never reached its worker (the poll's response was lost): offer the same
    attempt again; it did not run, so it does not count."""
    p = task.activity
    ctx.txn.delete_attempt(task.namespace, task.workflow_id, task.run_id, task.ref,
                           p.attempt)
    _delete_timers(ctx.txn, task, "act_stc", "act_hb")
    row = None if p.paused else ctx.txn.get_execution(task.namespace, task.workflow_id,
                                                      task.run_id)
    held = row is None or row.state.paused is not None  # (an activity's run exists)
    ctx.txn.release_task(task.task_id, ctx.now + HELD if held else ctx.now, p)
    if not held:
        ctx.effects.wake_queue(task.namespace, task.task_queue, "activity")


def worker_lost(run: Run, task: TaskRow, why: str) -> None:
    attempt_failed(run, task, {"message": f"worker lost ({why}) while running the attempt",
                               "type": "WorkerLost", "kind": "application",
                               "non_retryable": False}, immediate=True)


def fire_timeout(run: Run, kind: str, aid: str, data: TimerData) -> None:
    task = run.txn.get_task_by_ref(run.ns, run.wid, run.rid, "activity", aid)
    if task is None:
        return
    p = task.activity
    attempt = p.attempt
    if kind == "act_s2c":
        _end_attempt(run, task, "timed_out", {"message": "schedule_to_close timeout"})
        final = {"kind": "timeout", "timeout_type": "schedule_to_close", "type": "TimeoutError",
                 "message": "activity schedule_to_close timeout",
                 "cause": p.last_failure}
        _finish(run, task, EventType.ACTIVITY_TASK_TIMED_OUT,
                {"failure": final, "retry_state": "timeout"})
        return
    if data.attempt != attempt:
        return  # a timer of an earlier attempt
    limited_until = p.rate_limited_until
    if kind == "act_s2s" and task.lease_session is None and limited_until:
        # Waiting for a rate-limit token counts toward schedule_to_close only.
        s2s = float(p.options.schedule_to_start_timeout or 0.0)
        p.rate_limited_until = None
        run.txn.update_task_payload(task.task_id, p)
        _timer(run, "act_s2s", aid, max(run.ctx.now, float(limited_until)) + s2s, data)
        return
    if kind == "act_s2s" and task.lease_session is None:
        final = {"kind": "timeout", "timeout_type": "schedule_to_start", "type": "TimeoutError",
                 "message": "activity schedule_to_start timeout",
                 "cause": p.last_failure}
        _finish(run, task, EventType.ACTIVITY_TASK_TIMED_OUT,
                {"failure": final, "retry_state": "timeout"})
    elif kind in ("act_stc", "act_hb") and task.lease_session is not None:
        ttype = "start_to_close" if kind == "act_stc" else "heartbeat"
        attempt_failed(run, task, {"message": f"activity {ttype} timeout", "kind": "timeout",
                                   "timeout_type": ttype, "type": "TimeoutError"},
                       timeout_type=ttype)


def end_abandoned(run: Run, tasks: list[TaskRow]) -> None:
    """The run closed while these of its tasks were out: an activity attempt that was running
    ends in the attempt log as canceled (its result, should it come, is refused), so the log
    still shows that it ran and for how long."""
    failure = {"message": f"the workflow closed ({run.row.status}) while the attempt ran",
               "type": "WorkflowClosed", "kind": "cancelled"}
    for task in tasks:
        if task.kind == "activity":
            _end_attempt(run, task, "canceled", failure)


def _end_attempt(run: Run, task: TaskRow, outcome: str, failure: Failure | None,
                 at: float | None = None) -> None:
    if task.lease_session is None:
        return
    p = task.activity
    started, ended = task.dispatched_at or run.ctx.now, at or run.ctx.now
    run.txn.end_attempt(run.ns, run.wid, run.rid, task.ref, p.attempt, p.activity_type,
                        started_at=started, worker=task.lease_session, ended_at=ended,
                        outcome=outcome, failure=failure)
    run.ctx.effects.observe(AttemptEnded(run.ns, p.activity_type, outcome, ended - started))


def _clear_attempt_timers(run: Run, task: TaskRow) -> None:
    if task.lease_session is not None:
        _delete_timers(run.txn, task, "act_stc", "act_hb")


def _finish(run: Run, task: TaskRow, etype: EventType, attrs: dict[str, object],
            at: float | None = None) -> None:
    """The activity's outcome in the history: its last attempt's ``STARTED`` (stamped when
    that attempt was dispatched, so the history shows how long it ran) and its end."""
    p = task.activity
    run.txn.delete_task(task.task_id)
    # (Runs from before the count was kept may finish more than they counted.)
    run.state.pending_activities = max(0, run.state.pending_activities - 1)
    _clear_attempt_timers(run, task)
    _delete_timers(run.txn, task, "act_s2c", "act_s2s")
    events: list[Input] = []
    base = {"activity_id": task.ref, "scheduled_event_id": p.scheduled_event_id}
    if task.lease_session is not None or etype not in (EventType.ACTIVITY_TASK_TIMED_OUT,
                                                        EventType.ACTIVITY_TASK_CANCELED):
        started = {**base, "attempt": p.attempt - p.attempt_base,
                   "identity": task.lease_session or "",
                   "last_failure": p.last_failure}
        dispatched = task.dispatched_at if task.lease_session is not None else None
        events.append((EventType.ACTIVITY_TASK_STARTED, started, dispatched)
                      if dispatched is not None else (EventType.ACTIVITY_TASK_STARTED, started))
    end = {**base, "activity_type": p.activity_type, "attempt": p.attempt - p.attempt_base,
           **attrs}
    events.append((etype, end, at) if at is not None else (etype, end))
    run.add_input(events)


def pending_info(task: TaskRow, now: float) -> PendingActivity:
    p = task.activity
    limited_until = p.rate_limited_until
    due = task.visible_at - HELD if task.visible_at >= HELD else task.visible_at
    if task.lease_session is not None:
        state = "started"
    elif limited_until and limited_until > now:
        state = "waiting_for_rate_limit"
    elif due > now and p.attempt > 1:
        state = "backing_off"
    else:
        state = "scheduled"
    waiting = state in ("backing_off", "waiting_for_rate_limit")
    return PendingActivity(
        activity_id=task.ref, activity_type=p.activity_type, attempt=p.attempt - p.attempt_base,
        state=PendingActivityState(state), last_failure=_described_failure(p.last_failure),
        next_attempt_time=due if waiting else None, paused=p.paused,
        scheduled_time=p.scheduled_time, task_queue=task.task_queue,
        heartbeat_details=p.heartbeat_details)


def attempt_log(txn: Txn, ns: str, wid: str, rid: str, tasks: list[TaskRow]) -> list[Attempt]:
    """Every attempt of the run: the ended ones (and handed-over ones) from the log, the
    running ones from their leased tasks (``tasks``: the run's), in order of start."""
    log = [Attempt(activity_id=a.activity_id, attempt=a.attempt, activity_type=a.activity_type,
                   started_at=a.started_at, ended_at=a.ended_at, outcome=a.outcome,
                   failure=_described_failure(a.failure), worker=a.worker)
           for a in txn.attempts_of_run(ns, wid, rid)]
    logged = {(a.activity_id, a.attempt) for a in log}
    running = [Attempt(activity_id=t.ref, attempt=t.activity.attempt,
                       activity_type=t.activity.activity_type,
                       started_at=t.dispatched_at or 0.0,
                       outcome=None, worker=t.lease_session)
               for t in tasks if t.kind == "activity" and t.lease_session is not None
               and (t.ref, t.activity.attempt) not in logged]
    if not running:
        return log
    return sorted(log + running, key=lambda a: (a.started_at or 0.0, a.activity_id, a.attempt))


def _described_failure(failure: Failure | None) -> WireFailure | None:
    """A stored failure as the API describes it (keys it does not know are left out)."""
    if failure is None:
        return None
    return msgspec.convert(failure, WireFailure, strict=False)
