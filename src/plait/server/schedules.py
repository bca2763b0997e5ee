"""Schedules as the API changes them: create, update, pause, unpause, trigger, backfill,
delete, and describe/list. Each change is one transaction; what a due time does is
:mod:`plait.server.schedule_actions`.

A definition is checked whole (its spec, policies and start options) before anything is
stored, and refused with 400 ``invalid_schedule`` naming the bad field.
"""

from __future__ import annotations

import math

import msgspec

from plait.protocol.enums import ErrorCode, ScheduleOutcome, ScheduleOverlap
from plait.protocol.schedules import (
    CreateScheduleRequest,
    ScheduleAction,
    Scheduled,
    ScheduleDefinition,
    ScheduleDescription,
    ScheduleList,
    ScheduleListEntry,
    ScheduleUpdate,
)
from plait.retry import RetryPolicy
from plait.server import schedule_actions as actions
from plait.server.errors import BadRequest, Conflict, NotFound
from plait.server.run import Ctx
from plait.server.schedule_spec import LATEST, MIN_CATCHUP, SpecError
from plait.store.base import Txn
from plait.store.schedules import ScheduleRow, ScheduleState

__all__ = ["MAX_BACKFILL", "backfill", "create", "delete", "describe", "list_page", "pause",
           "trigger", "update"]

MAX_BACKFILL = 1000
"""Due times one backfill request may act on."""
MAX_SKIPPED_COUNTED = 100_000
"""Due times counted as skipped on unpause at most (a fast schedule paused for long)."""
NEXT_TIMES = 5


def create(ctx: Ctx, ns: str, req: CreateScheduleRequest) -> Scheduled:
    fields = msgspec.structs.asdict(req)
    del fields["schedule_id"], fields["request_id"]
    d = _checked(ScheduleDefinition(**fields))
    row = ScheduleRow(ns, req.schedule_id, d, ScheduleState(remaining=d.limited_actions), None)
    row.state.next_due = _first_due(ctx, row)
    actions.arm(ctx, row)
    if not ctx.txn.insert_schedule(row):
        raise Conflict(f"schedule {req.schedule_id!r} already exists in namespace {ns!r}",
                       code=ErrorCode.SCHEDULE_ALREADY_EXISTS)
    return Scheduled(schedule_id=req.schedule_id)


def update(ctx: Ctx, ns: str, sid: str, upd: ScheduleUpdate) -> Scheduled:
    """Change only the fields given; the next due time is computed again from now."""
    row = _load(ctx.txn, ns, sid)
    changes = {f: v for f in upd.__struct_fields__ if f != "request_id"
               and (v := getattr(upd, f)) is not msgspec.UNSET}
    for given, other in (("cron", "interval"), ("interval", "cron")):
        if changes.get(given) is not None and other not in changes:
            changes[other] = None  # a new cron replaces an interval, and the other way round
    row.definition = _checked(msgspec.structs.replace(row.definition, **changes))
    if "limited_actions" in changes:
        row.state.remaining = row.definition.limited_actions
    row.state.next_due = _first_due(ctx, row)
    return _save(ctx, row)


def pause(ctx: Ctx, ns: str, sid: str, paused: bool, note: str) -> Scheduled:
    """Due times that pass while paused are skipped, not run on unpause (API.md); they are
    counted as skipped (up to :data:`MAX_SKIPPED_COUNTED` of them) when it is unpaused."""
    row = _load(ctx.txn, ns, sid)
    if row.definition.paused != paused:
        row.definition = msgspec.structs.replace(row.definition, paused=paused, note=note)
        if not paused:
            _count_paused(ctx, row)
            row.state.next_due = _first_due(ctx, row)
    elif note:
        row.definition = msgspec.structs.replace(row.definition, note=note)
    return _save(ctx, row)


def _count_paused(ctx: Ctx, row: ScheduleRow) -> None:
    """Count the due times that came while the schedule was paused: from the first it did
    not act on (its ``next_due`` stood still) up to now."""
    first = row.state.next_due
    if first is None or first > ctx.now:
        return
    spec = actions.spec_of(row.definition)
    for _ in spec.between(first, ctx.now, MAX_SKIPPED_COUNTED):
        actions.count(ctx, row, ScheduleOutcome.SKIPPED_PAUSED)


def trigger(ctx: Ctx, ns: str, sid: str, overlap: ScheduleOverlap | None) -> Scheduled:
    """Act now, as if a due time had come this millisecond (also while paused)."""
    row = _load(ctx.txn, ns, sid)
    started: list[ScheduleAction] = []
    actions.act(ctx, row, math.floor(ctx.now * 1000) / 1000, overlap or row.definition.overlap,
                started)
    return _save(ctx, row, started)


def backfill(ctx: Ctx, ns: str, sid: str, start: float, end: float,
             overlap: ScheduleOverlap | None) -> Scheduled:
    """Act on every due time in ``[start, end)``, in order, now."""
    if not 0 <= start < end <= LATEST:
        raise BadRequest("backfill: start and end must be Unix timestamps (1970-9999), end "
                         "after start", code=ErrorCode.INVALID_SCHEDULE)
    row = _load(ctx.txn, ns, sid)
    times = actions.spec_of(row.definition).between(start, end, MAX_BACKFILL + 1)
    if len(times) > MAX_BACKFILL:
        raise BadRequest(f"backfill: more than {MAX_BACKFILL} due times in the range; "
                         "split it", code=ErrorCode.INVALID_SCHEDULE)
    started: list[ScheduleAction] = []
    for due in times:
        actions.act(ctx, row, due, overlap or row.definition.overlap, started)
    return _save(ctx, row, started)


def delete(ctx: Ctx, ns: str, sid: str) -> None:
    """Runs already started are not touched."""
    if not ctx.txn.delete_schedule(ns, sid):
        raise _not_found(ns, sid)


def describe(txn: Txn, ns: str, sid: str, now: float) -> ScheduleDescription:
    """Runs in a read transaction: the row is read without a lock (PostgreSQL refuses
    ``FOR UPDATE`` there)."""
    row = _load(txn, ns, sid, lock=False)
    st = row.state
    running = [a.workflow_id for a in st.running
               if (ex := txn.get_execution(ns, a.workflow_id, a.run_id)) is not None
               and ex.status == "RUNNING"]
    return ScheduleDescription(
        schedule_id=sid, definition=row.definition, next_action_times=_next_times(row, now),
        recent_actions=list(st.recent), running_workflow_ids=running,
        num_actions=st.num_actions, num_skipped=st.num_skipped, buffered=len(st.buffered),
        remaining_actions=st.remaining)


def list_page(txn: Txn, ns: str, after: str, limit: int) -> ScheduleList:
    return ScheduleList(schedules=[
        ScheduleListEntry(schedule_id=r.schedule_id, workflow_type=r.definition.workflow_type,
                          paused=r.definition.paused,
                          next_action_time=None if r.definition.paused else r.state.next_due)
        for r in txn.list_schedules(ns, after, limit)])


def _next_times(row: ScheduleRow, now: float) -> list[float]:
    st = row.state
    count = NEXT_TIMES if st.remaining is None else min(NEXT_TIMES, st.remaining)
    if row.definition.paused or st.next_due is None:
        return actions.spec_of(row.definition).times(now, count) if st.remaining != 0 else []
    rest = actions.spec_of(row.definition).times(st.next_due, max(count - 1, 0))
    return [st.next_due, *rest][:count]


def _first_due(ctx: Ctx, row: ScheduleRow) -> float | None:
    if row.state.remaining == 0:
        return None
    return actions.spec_of(row.definition).next_after(ctx.now)


def _save(ctx: Ctx, row: ScheduleRow, started: list[ScheduleAction] | None = None
          ) -> Scheduled:
    actions.arm(ctx, row)
    ctx.txn.save_schedule(row)
    return Scheduled(schedule_id=row.schedule_id, started=started or [])


def _load(txn: Txn, ns: str, sid: str, *, lock: bool = True) -> ScheduleRow:
    row = txn.get_schedule(ns, sid, lock=lock)
    if row is None:
        raise _not_found(ns, sid)
    return row


def _not_found(ns: str, sid: str) -> NotFound:
    return NotFound(f"schedule {sid!r} not found in namespace {ns!r}",
                    code=ErrorCode.SCHEDULE_NOT_FOUND)


def _checked(d: ScheduleDefinition) -> ScheduleDefinition:
    """The definition, refused before anything is stored if any field makes no sense; a
    catch-up window under the minimum is raised to it (API.md)."""
    try:
        actions.spec_of(d)
    except SpecError as e:
        raise BadRequest(str(e), code=ErrorCode.INVALID_SCHEDULE) from None
    for name in ("jitter", "catchup_window"):
        value = getattr(d, name)
        if not 0 <= value <= LATEST:
            raise BadRequest(f"{name}: must be a number of seconds, 0 or more",
                             code=ErrorCode.INVALID_SCHEDULE)
    if d.retry_policy is not None:
        try:
            RetryPolicy.from_wire(d.retry_policy)
        except (TypeError, ValueError, OverflowError) as e:
            raise BadRequest(f"retry_policy: {e}", code=ErrorCode.INVALID_SCHEDULE) from None
    if d.catchup_window < MIN_CATCHUP:
        d = msgspec.structs.replace(d, catchup_window=MIN_CATCHUP)
    return d
