"""Schedules as the client sees them: a handle per schedule id, what ``describe`` and
``list_schedules`` return, and the create/update keywords turned into the wire's fields.

Durations may be given as ``timedelta`` or seconds, instants as aware ``datetime``; the wire
carries seconds and Unix timestamps. A definition the server refuses (a bad cron field, time
zone, interval or policy) raises ``ValueError`` with the server's message, which names it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Awaitable, Mapping
from datetime import timedelta
from typing import Any, TypeVar

import msgspec

from plait import errors
from plait._api import Api, wire_member
from plait.protocol import common
from plait.protocol import schedules as wire
from plait.protocol.enums import ScheduleOverlap
from plait.retry import RetryPolicy

__all__ = ["ScheduleAction", "ScheduleDescription", "ScheduleHandle", "ScheduleListEntry",
           "create_request", "schedule_changes", "wire_retry_policy"]

T = TypeVar("T")
_SECONDS = ("interval", "offset", "catchup_window", "jitter", "execution_timeout")
_INSTANTS = ("start_at", "end_at")
OPTIONS = frozenset({
    "task_queue", "cron", "interval", "offset", "timezone", "overlap", "catchup_window",
    "jitter", "start_at", "end_at", "limited_actions", "paused", "note", "workflow_id",
    "search_attributes", "memo", "execution_timeout", "retry_policy"})
"""The keywords ``create_schedule`` and ``update`` share."""


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


def wire_retry_policy(policy: RetryPolicy | None) -> common.RetryPolicy | None:
    """A retry policy as requests carry it."""
    if policy is None:
        return None
    return msgspec.convert(policy.to_dict(), common.RetryPolicy)


def schedule_changes(options: Mapping[str, Any]) -> wire.ScheduleUpdate:
    """Create/update keywords in wire units (seconds, Unix timestamps, the wire's retry
    policy), as the update struct: a keyword not given stays unset."""
    unknown = set(options) - OPTIONS - {"workflow_type", "input"}
    if unknown:
        raise TypeError(f"unknown schedule option(s): {', '.join(sorted(unknown))}")
    changes = wire.ScheduleUpdate()
    for key, value in options.items():
        if value is not None and key in _SECONDS and isinstance(value, timedelta):
            value = value.total_seconds()
        elif value is not None and key in _INSTANTS:
            value = _timestamp(key, value)
        elif isinstance(value, RetryPolicy):
            value = wire_retry_policy(value)
        elif key == "overlap" and isinstance(value, str):
            value = wire_member(ScheduleOverlap, value)
        elif key in ("search_attributes", "memo") and isinstance(value, Mapping):
            value = dict(value)
        setattr(changes, key, value)
    return changes


def create_request(schedule_id: str, options: Mapping[str, Any]) -> wire.CreateScheduleRequest:
    """The create request of ``create_schedule``'s keywords (one given as None is the
    server's default)."""
    changes = schedule_changes(options)
    if not isinstance(changes.workflow_type, str) or not isinstance(changes.task_queue, str):
        raise TypeError("a schedule needs a workflow type and a task queue")
    request = wire.CreateScheduleRequest(
        schedule_id=schedule_id, workflow_type=changes.workflow_type,
        task_queue=changes.task_queue, request_id=_request_id())
    for name in changes.__struct_fields__:
        value = getattr(changes, name)
        if value is not msgspec.UNSET and value is not None:
            setattr(request, name, value)
    return request


def _timestamp(key: str, value: object) -> float:
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise ValueError(f"{key} must be an aware datetime")
    return value.timestamp()


async def refused_as_value_error(call: Awaitable[T]) -> T:
    """A definition the server refuses is the caller's ``ValueError`` (API.md)."""
    try:
        return await call
    except errors.RPCError as e:
        if e.status == 400:
            raise ValueError(e.message) from None
        raise


@dataclasses.dataclass(frozen=True)
class ScheduleAction:
    """One run a schedule started."""

    scheduled_time: dt.datetime
    """The due time (before jitter), which the workflow id carries."""
    actual_time: dt.datetime
    workflow_id: str
    run_id: str

    @staticmethod
    def from_wire(a: wire.ScheduleAction) -> ScheduleAction:
        return ScheduleAction(_utc(a.scheduled_time), _utc(a.actual_time), a.workflow_id,
                              a.run_id)


@dataclasses.dataclass(frozen=True)
class ScheduleDescription:
    schedule_id: str
    workflow_type: str
    task_queue: str
    cron: str | None
    interval: timedelta | None
    timezone: str
    overlap: str
    paused: bool
    note: str
    next_action_times: list[dt.datetime]
    """The next five due times (aware UTC)."""
    recent_actions: list[ScheduleAction]
    """Newest last."""
    running_workflow_ids: list[str]
    num_actions: int
    num_skipped: int
    remaining_actions: int | None
    buffered: int
    """Due times waiting for a running run to close (buffer and cancel policies)."""

    @staticmethod
    def from_wire(d: wire.ScheduleDescription) -> ScheduleDescription:
        defn = d.definition
        return ScheduleDescription(
            schedule_id=d.schedule_id, workflow_type=defn.workflow_type,
            task_queue=defn.task_queue, cron=defn.cron,
            interval=timedelta(seconds=defn.interval) if defn.interval is not None else None,
            timezone=defn.timezone, overlap=defn.overlap.value, paused=defn.paused,
            note=defn.note, next_action_times=[_utc(t) for t in d.next_action_times],
            recent_actions=[ScheduleAction.from_wire(a) for a in d.recent_actions],
            running_workflow_ids=list(d.running_workflow_ids), num_actions=d.num_actions,
            num_skipped=d.num_skipped, remaining_actions=d.remaining_actions,
            buffered=d.buffered)


@dataclasses.dataclass(frozen=True)
class ScheduleListEntry:
    schedule_id: str
    workflow_type: str
    paused: bool
    next_action_time: dt.datetime | None

    @staticmethod
    def from_wire(e: wire.ScheduleListEntry) -> ScheduleListEntry:
        nxt = e.next_action_time
        return ScheduleListEntry(e.schedule_id, e.workflow_type, e.paused,
                                 _utc(nxt) if nxt is not None else None)


class ScheduleHandle:
    """A schedule by id (it need not exist yet: calls raise ``ScheduleNotFoundError``)."""

    def __init__(self, api: Api, schedule_id: str) -> None:
        self.api = api
        self.id = schedule_id

    async def describe(self) -> ScheduleDescription:
        return ScheduleDescription.from_wire(await self.api.describe_schedule(self.id))

    async def pause(self, note: str = "") -> None:
        """Due times that pass while paused are skipped, not run on unpause."""
        await self.api.pause_schedule(self.id, wire.NoteRequest(note=note,
                                                                request_id=_request_id()))

    async def unpause(self, note: str = "") -> None:
        await self.api.unpause_schedule(self.id, wire.NoteRequest(note=note,
                                                                  request_id=_request_id()))

    async def trigger(self, overlap: str | None = None) -> list[ScheduleAction]:
        """Start one run now (also while paused), under ``overlap`` or the schedule's own
        policy; the runs started (none when the policy skipped or buffered it)."""
        resp = await refused_as_value_error(self.api.trigger_schedule(
            self.id, wire.TriggerRequest(overlap=_overlap(overlap), request_id=_request_id())))
        return [ScheduleAction.from_wire(a) for a in resp.started]

    async def backfill(self, start: dt.datetime, end: dt.datetime,
                       overlap: str | None = None) -> list[ScheduleAction]:
        """Act on every due time in ``[start, end)``, in order, now; the runs started."""
        resp = await refused_as_value_error(self.api.backfill_schedule(
            self.id, wire.BackfillRequest(start=_timestamp("start_at", start),
                                          end=_timestamp("end_at", end),
                                          overlap=_overlap(overlap), request_id=_request_id())))
        return [ScheduleAction.from_wire(a) for a in resp.started]

    async def update(self, **changes: Any) -> None:
        """Change only the keywords given (the same as ``create_schedule``'s)."""
        update = schedule_changes(changes)
        update.request_id = _request_id()
        await refused_as_value_error(self.api.update_schedule(self.id, update))

    async def delete(self) -> None:
        """Runs already started are not touched."""
        await self.api.delete_schedule(self.id)


def _overlap(name: str | None) -> ScheduleOverlap | None:
    return wire_member(ScheduleOverlap, name) if name is not None else None


def _request_id() -> str:
    """Every change carries a request id, so a retry after a lost answer acts once."""
    return str(uuid.uuid4())
