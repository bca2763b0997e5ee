"""Schedules on the wire: what to start and when, and what a schedule has done.

A schedule's definition is one struct (:class:`ScheduleDefinition`) that the create request,
the store's row and ``describe`` all carry, so a field added once travels everywhere. Times
are Unix timestamps and durations seconds, as everywhere in the API.
"""

from __future__ import annotations

from typing import Annotated

from msgspec import UNSET, Meta, Struct, UnsetType

from plait.protocol.common import (
    Header,
    Memo,
    Name,
    Payload,
    RequestId,
    RetryPolicy,
    SearchAttributes,
    Seconds,
)
from plait.protocol.enums import ScheduleOverlap

__all__ = [
    "BackfillRequest",
    "CreateScheduleRequest",
    "NoteRequest",
    "ScheduleAction",
    "ScheduleDefinition",
    "ScheduleDescription",
    "ScheduleList",
    "ScheduleListEntry",
    "ScheduleUpdate",
    "Scheduled",
    "TriggerRequest",
]

Count = Annotated[int, Meta(ge=0)]


class ScheduleDefinition(Struct, kw_only=True, omit_defaults=True):
    """What a schedule starts, when, and what it does when runs overlap."""

    workflow_type: Name
    task_queue: Name
    input: list[Payload] | None = None
    cron: str | None = None
    """5 fields, or 6 with seconds first; evaluated in `timezone`. Exactly one of `cron` and
    `interval` is set."""
    interval: Seconds = None
    """Seconds between due times, aligned to the Unix epoch plus `offset`."""
    offset: float = 0.0
    timezone: str = "UTC"
    """An IANA time zone name."""
    overlap: ScheduleOverlap = ScheduleOverlap.SKIP
    catchup_window: float = 365 * 86400.0
    """After downtime, due times older than this are skipped (at least 10 s)."""
    jitter: float = 0.0
    """Each start is delayed by up to this many seconds (the same delay on every server)."""
    start_at: float | None = None
    end_at: float | None = None
    limited_actions: Count | None = None
    """Scheduled starts left; null: unlimited."""
    paused: bool = False
    note: str = ""
    workflow_id: str | None = None
    """The started runs' workflow id prefix (default: the schedule id)."""
    search_attributes: SearchAttributes | None = None
    memo: Memo | None = None
    execution_timeout: Seconds = None
    retry_policy: RetryPolicy | None = None
    header: Header | None = None


class CreateScheduleRequest(ScheduleDefinition, kw_only=True, omit_defaults=True):
    """Create a schedule (409 `schedule_already_exists` if the id is taken)."""

    schedule_id: Name
    request_id: RequestId = None


class ScheduleUpdate(Struct, kw_only=True, omit_defaults=True):
    """Change a schedule: only the fields present change (null clears an optional one)."""

    workflow_type: Name | UnsetType = UNSET
    task_queue: Name | UnsetType = UNSET
    input: list[Payload] | UnsetType | None = UNSET
    cron: str | UnsetType | None = UNSET
    interval: Seconds | UnsetType = UNSET
    offset: float | UnsetType = UNSET
    timezone: str | UnsetType = UNSET
    overlap: ScheduleOverlap | UnsetType = UNSET
    catchup_window: float | UnsetType = UNSET
    jitter: float | UnsetType = UNSET
    start_at: float | UnsetType | None = UNSET
    end_at: float | UnsetType | None = UNSET
    limited_actions: Count | UnsetType | None = UNSET
    paused: bool | UnsetType = UNSET
    note: str | UnsetType = UNSET
    workflow_id: str | UnsetType | None = UNSET
    search_attributes: SearchAttributes | UnsetType | None = UNSET
    memo: Memo | UnsetType | None = UNSET
    execution_timeout: Seconds | UnsetType = UNSET
    retry_policy: RetryPolicy | UnsetType | None = UNSET
    header: Header | UnsetType | None = UNSET
    request_id: RequestId = None


class NoteRequest(Struct, kw_only=True, omit_defaults=True):
    """Pause or unpause, with a note saying why."""

    note: str = ""
    request_id: RequestId = None


class TriggerRequest(Struct, kw_only=True, omit_defaults=True):
    """Start one run now (also on a paused schedule)."""

    overlap: ScheduleOverlap | None = None
    """Default: the schedule's own policy."""
    request_id: RequestId = None


class BackfillRequest(Struct, kw_only=True, omit_defaults=True):
    """Act on every due time in `[start, end)`, in order, now (at most 1,000)."""

    start: float
    end: float
    overlap: ScheduleOverlap | None = None
    request_id: RequestId = None


class ScheduleAction(Struct, kw_only=True):
    """One run a schedule started."""

    scheduled_time: float
    """The due time (before jitter); the workflow id carries it."""
    actual_time: float
    workflow_id: str
    run_id: str


class ScheduleDescription(Struct, kw_only=True):
    """A schedule: its definition and what it has done."""

    schedule_id: str
    definition: ScheduleDefinition
    next_action_times: list[float]
    """The next five due times (fewer when the spec ends)."""
    recent_actions: list[ScheduleAction]
    """The last ten starts, newest last."""
    running_workflow_ids: list[str]
    num_actions: int
    num_skipped: int
    buffered: int
    """Due times waiting for the running workflow to close (buffer policies)."""
    remaining_actions: int | None
    """Scheduled starts left under `limited_actions`; null: unlimited."""


class ScheduleListEntry(Struct, kw_only=True):
    schedule_id: str
    workflow_type: str
    paused: bool
    next_action_time: float | None


class ScheduleList(Struct, kw_only=True):
    schedules: list[ScheduleListEntry]
    next_page_token: str | None = None
    """Pass as `next_page_token` for the next page; null on the last one."""


class Scheduled(Struct, kw_only=True):
    """The answer of a change to a schedule: its id, and the runs the change started."""

    schedule_id: str
    started: list[ScheduleAction] = []
