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
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any, TypeVar

from plait import errors
from plait._api import Api, Json
from plait.retry import RetryPolicy

__all__ = ["ScheduleAction", "ScheduleDescription", "ScheduleHandle", "ScheduleListEntry",
           "definition_fields"]

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


def definition_fields(options: dict[str, Any]) -> Json:
    """The wire fields of create/update keywords (only those given)."""
    unknown = set(options) - OPTIONS - {"workflow_type", "input"}
    if unknown:
        raise TypeError(f"unknown schedule option(s): {', '.join(sorted(unknown))}")
    body: Json = {}
    for key, value in options.items():
        if value is not None and key in _SECONDS and isinstance(value, timedelta):
            value = value.total_seconds()
        elif value is not None and key in _INSTANTS:
            if not isinstance(value, dt.datetime) or value.tzinfo is None:
                raise ValueError(f"{key} must be an aware datetime")
            value = value.timestamp()
        elif isinstance(value, RetryPolicy):
            value = value.to_dict()
        body[key] = value
    return body


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
    def from_dict(d: Json) -> ScheduleAction:
        return ScheduleAction(_utc(d["scheduled_time"]), _utc(d["actual_time"]),
                              d["workflow_id"], d["run_id"])


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
    def from_dict(d: Json) -> ScheduleDescription:
        defn = d["definition"]
        interval = defn.get("interval")
        return ScheduleDescription(
            schedule_id=d["schedule_id"], workflow_type=defn["workflow_type"],
            task_queue=defn["task_queue"], cron=defn.get("cron"),
            interval=timedelta(seconds=interval) if interval is not None else None,
            timezone=defn.get("timezone", "UTC"), overlap=defn.get("overlap", "skip"),
            paused=bool(defn.get("paused")), note=defn.get("note", ""),
            next_action_times=[_utc(t) for t in d["next_action_times"]],
            recent_actions=[ScheduleAction.from_dict(a) for a in d["recent_actions"]],
            running_workflow_ids=list(d["running_workflow_ids"]),
            num_actions=d["num_actions"], num_skipped=d["num_skipped"],
            remaining_actions=d.get("remaining_actions"), buffered=d.get("buffered", 0))


@dataclasses.dataclass(frozen=True)
class ScheduleListEntry:
    schedule_id: str
    workflow_type: str
    paused: bool
    next_action_time: dt.datetime | None

    @staticmethod
    def from_dict(d: Json) -> ScheduleListEntry:
        nxt = d.get("next_action_time")
        return ScheduleListEntry(d["schedule_id"], d["workflow_type"], bool(d["paused"]),
                                 _utc(nxt) if nxt is not None else None)


class ScheduleHandle:
    """A schedule by id (it need not exist yet: calls raise ``ScheduleNotFoundError``)."""

    def __init__(self, api: Api, schedule_id: str) -> None:
        self.api = api
        self.id = schedule_id

    async def describe(self) -> ScheduleDescription:
        return ScheduleDescription.from_dict(await self.api.describe_schedule(self.id))

    async def pause(self, note: str = "") -> None:
        """Due times that pass while paused are skipped, not run on unpause."""
        await self.api.pause_schedule(self.id, _with_id({"note": note}))

    async def unpause(self, note: str = "") -> None:
        await self.api.unpause_schedule(self.id, _with_id({"note": note}))

    async def trigger(self, overlap: str | None = None) -> list[ScheduleAction]:
        """Start one run now (also while paused), under ``overlap`` or the schedule's own
        policy; the runs started (none when the policy skipped or buffered it)."""
        resp = await refused_as_value_error(
            self.api.trigger_schedule(self.id, _with_id({"overlap": overlap})))
        return [ScheduleAction.from_dict(a) for a in resp.get("started", [])]

    async def backfill(self, start: dt.datetime, end: dt.datetime,
                       overlap: str | None = None) -> list[ScheduleAction]:
        """Act on every due time in ``[start, end)``, in order, now; the runs started."""
        body = definition_fields({"start_at": start, "end_at": end})
        resp = await refused_as_value_error(self.api.backfill_schedule(self.id, _with_id({
            "start": body["start_at"], "end": body["end_at"], "overlap": overlap})))
        return [ScheduleAction.from_dict(a) for a in resp.get("started", [])]

    async def update(self, **changes: Any) -> None:
        """Change only the keywords given (the same as ``create_schedule``'s)."""
        await refused_as_value_error(
            self.api.update_schedule(self.id, _with_id(definition_fields(changes))))

    async def delete(self) -> None:
        """Runs already started are not touched."""
        await self.api.delete_schedule(self.id)


def _with_id(body: Json) -> Json:
    """Every change carries a request id, so a retry after a lost answer acts once."""
    return {**body, "request_id": str(uuid.uuid4())}
