"""What a schedule's due time does: start a run, or skip, buffer, cancel or terminate under
its overlap policy; and the timer service's side, firing the schedules that are due.

A schedule's next look is its row's ``next_fire_at`` (durable time), which the timer service
reads beside the timers table and the time-skipping server jumps to like any other deadline.
Every decision about a due time, the run it starts and the schedule's new state commit in one
transaction. The started run's workflow id carries the scheduled time, so a due time that a
second server (or a retry) decides again finds its run and starts nothing.

The running runs' status is read from their rows at each look. A due time buffered behind a
running run starts when that run closes: closing a run brings its schedule's next look
forward to that moment (``closing._hasten_schedule``, which only moves ``next_fire_at``: no
module below this one calls into it). ``RECHECK`` stays as the backstop, for a run closed
without that (its ``ScheduleId`` search attribute overwritten by the workflow).
"""

from __future__ import annotations

import logging

import msgspec

from plait.protocol.enums import IdConflictPolicy, IdReusePolicy, ScheduleOutcome, ScheduleOverlap
from plait.protocol.requests import StartWorkflowRequest
from plait.protocol.schedules import ScheduleAction, ScheduleDefinition
from plait.server import closing, lifecycle, messages
from plait.server.run import RUNNING, Ctx, Run
from plait.server.schedule_spec import MIN_CATCHUP, Spec, jitter_of, workflow_id_for
from plait.store.schedules import ScheduleRow

__all__ = ["RECENT", "RECHECK", "RUNNING_KEPT", "act", "arm", "count", "fire_due", "spec_of",
           "start_buffered"]

log = logging.getLogger("plait.server.schedules")
RECENT = 10
"""How many of its latest starts a schedule remembers (describe's ``recent_actions``)."""
RUNNING_KEPT = 100
"""Running runs a schedule keeps track of (``allow_all`` may have any number running)."""
RECHECK = 30.0
"""Seconds between looks while due times wait behind a running run: a backstop, since the
run's close brings the look forward (see the module docstring)."""
MAX_DUE_PER_LOOK = 1000
"""Due times decided in one transaction; a schedule further behind continues at once after."""
RETRY_AFTER = 5.0
"""Seconds before a schedule whose look failed is looked at again (not in a tight loop)."""


def spec_of(d: ScheduleDefinition) -> Spec:
    """The definition's due-time rule (raises ``SpecError`` naming a bad field)."""
    return Spec(cron=d.cron, interval=d.interval, offset=d.offset, timezone=d.timezone,
                start_at=d.start_at, end_at=d.end_at)


def fire_due(ctx: Ctx, limit: int) -> int:
    """Act on the schedules due now, each in its own savepoint; how many were claimed."""
    due = ctx.txn.claim_due_schedules(ctx.now, limit)
    for ns, sid in due:
        try:
            with ctx.txn.savepoint():
                row = ctx.txn.get_schedule(ns, sid, lock=True)
                if row is not None and row.next_fire_at is not None \
                        and row.next_fire_at <= ctx.now:
                    _look(ctx, row)
        except Exception as exc:  # rolled back alone; looked at again a little later
            log.error("firing schedule %s/%s failed: %s", ns, sid, exc)
            ctx.txn.set_schedule_fire_at(ns, sid, ctx.now + RETRY_AFTER)
    return len(due)


def _look(ctx: Ctx, row: ScheduleRow) -> None:
    """Start what waited behind closed runs, then decide every due time that has come."""
    d, st = row.definition, row.state
    start_buffered(ctx, row)
    spec = spec_of(d)
    decided = 0
    while not d.paused and st.next_due is not None and decided < MAX_DUE_PER_LOOK \
            and _fire_time(row, st.next_due) <= ctx.now:
        due = st.next_due
        if ctx.now - due > max(d.catchup_window, MIN_CATCHUP):
            count(ctx, row, ScheduleOutcome.SKIPPED_MISSED)  # the server was down
        elif act(ctx, row, due, d.overlap) in _TAKEN and st.remaining is not None:
            st.remaining -= 1  # a due time buffered to start later is one of the actions
        st.next_due = None if st.remaining == 0 else spec.next_after(due)
        decided += 1
    arm(ctx, row)
    ctx.txn.save_schedule(row)


_TAKEN = (ScheduleOutcome.STARTED, ScheduleOutcome.BUFFERED)
"""Outcomes that use one of ``limited_actions``."""


def _fire_time(row: ScheduleRow, due: float) -> float:
    return due + jitter_of(row.schedule_id, due, row.definition.jitter)


def arm(ctx: Ctx, row: ScheduleRow) -> None:
    """Set when the timer service looks next: the next due time (with its jitter; none while
    paused), sooner while due times wait behind a running run (those were accepted before a
    pause, or by a trigger or backfill, so they start even while paused)."""
    st = row.state
    at: float | None = None
    if not row.definition.paused and st.next_due is not None:
        at = _fire_time(row, st.next_due)
    if st.buffered:
        at = min(at if at is not None else float("inf"), ctx.now + RECHECK)
    row.next_fire_at = at
    if at is not None:
        ctx.effects.timer(at)


def act(ctx: Ctx, row: ScheduleRow, due: float, overlap: ScheduleOverlap,
        started: list[ScheduleAction] | None = None) -> ScheduleOutcome:
    """One due time under ``overlap``: start, skip, buffer, or make room and start; a run
    started is also added to ``started``."""
    st = row.state
    if overlap == ScheduleOverlap.ALLOW_ALL:  # nothing to look up: every due time starts
        return _start(ctx, row, due, started)
    running = _still_running(ctx, row)
    if running:
        if overlap == ScheduleOverlap.SKIP or (
                overlap == ScheduleOverlap.BUFFER_ONE and st.buffered):
            return count(ctx, row, ScheduleOutcome.SKIPPED_OVERLAP)
        if overlap in (ScheduleOverlap.BUFFER_ONE, ScheduleOverlap.BUFFER_ALL):
            st.buffered.append(due)
            return count(ctx, row, ScheduleOutcome.BUFFERED)
        if overlap == ScheduleOverlap.CANCEL_OTHER:
            for a in running:
                run = Run.load(ctx, row.namespace, a.workflow_id, a.run_id)
                if not run.state.cancel_requested:
                    messages.request_cancel(
                        ctx, run, f"schedule {row.schedule_id}: a newer run is due "
                                  "(cancel_other)")
            for _ in st.buffered:  # a newer due time replaces the one waiting
                count(ctx, row, ScheduleOutcome.SKIPPED_OVERLAP)
            st.buffered = [due]  # starts once the cancelled runs have closed
            return count(ctx, row, ScheduleOutcome.BUFFERED)
        for a in running:  # terminate_other
            run = Run.load(ctx, row.namespace, a.workflow_id, a.run_id)
            closing.terminate_run(run, f"schedule {row.schedule_id}: a newer run is due "
                                       "(terminate_other)")
            run.save()
        st.running = []
    return _start(ctx, row, due, started)


def start_buffered(ctx: Ctx, row: ScheduleRow) -> None:
    """Start the buffered due times, oldest first, while nothing of the schedule runs."""
    st = row.state
    while st.buffered and not _still_running(ctx, row):
        _start(ctx, row, st.buffered.pop(0))


def _still_running(ctx: Ctx, row: ScheduleRow) -> list[ScheduleAction]:
    """The schedule's runs that are still running (a chain's latest run counts as its run)."""
    alive = []
    for a in row.state.running:
        ex = ctx.txn.get_execution(row.namespace, a.workflow_id, a.run_id)
        if ex is not None and ex.status == RUNNING:
            alive.append(a)
            continue
        latest = ctx.txn.current_run(row.namespace, a.workflow_id)
        if latest and latest != a.run_id:
            nxt = ctx.txn.get_execution(row.namespace, a.workflow_id, latest)
            if nxt is not None and nxt.status == RUNNING:
                alive.append(msgspec.structs.replace(a, run_id=latest))
    row.state.running = alive
    return alive


def _start(ctx: Ctx, row: ScheduleRow, due: float,
           started: list[ScheduleAction] | None = None) -> ScheduleOutcome:
    d, st = row.definition, row.state
    wid = workflow_id_for(d.workflow_id or row.schedule_id, due)
    existing = ctx.txn.current_run(row.namespace, wid)
    if existing is not None:  # decided before (another server, an earlier attempt)
        ex = ctx.txn.get_execution(row.namespace, wid, existing)
        if ex is not None and ex.status == RUNNING \
                and all(a.workflow_id != wid for a in st.running):
            st.running.append(ScheduleAction(scheduled_time=due, actual_time=ex.start_time,
                                             workflow_id=wid, run_id=existing))
        return count(ctx, row, ScheduleOutcome.ALREADY_STARTED)
    begun = lifecycle.start_workflow(ctx, row.namespace, _start_request(row, wid))
    action = ScheduleAction(scheduled_time=due, actual_time=ctx.now, workflow_id=wid,
                            run_id=str(begun["run_id"]))
    st.running.append(action)
    if len(st.running) > RUNNING_KEPT:  # allow_all never looks: forget the closed ones
        st.running = _still_running(ctx, row)[-RUNNING_KEPT:]
    st.recent = [*st.recent, action][-RECENT:]
    if started is not None:
        started.append(action)
    st.num_actions += 1
    return count(ctx, row, ScheduleOutcome.STARTED)


def count(ctx: Ctx, row: ScheduleRow, outcome: ScheduleOutcome) -> ScheduleOutcome:
    if outcome in (ScheduleOutcome.SKIPPED_MISSED, ScheduleOutcome.SKIPPED_OVERLAP,
                   ScheduleOutcome.SKIPPED_PAUSED):
        row.state.num_skipped += 1
    ctx.effects.schedule_action(row.namespace, outcome)
    return outcome


def _start_request(row: ScheduleRow, wid: str) -> StartWorkflowRequest:
    """The start of one scheduled run, as a client would send it."""
    d = row.definition
    return StartWorkflowRequest(
        workflow_id=wid, workflow_type=d.workflow_type, task_queue=d.task_queue,
        input=d.input or [], header=d.header or {},
        search_attributes={**(d.search_attributes or {}), "ScheduleId": row.schedule_id},
        memo=d.memo, execution_timeout=d.execution_timeout, retry_policy=d.retry_policy,
        identity=f"schedule {row.schedule_id}",
        id_reuse_policy=IdReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy=IdConflictPolicy.FAIL)
