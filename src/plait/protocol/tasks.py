"""The tasks a poll (or an eager completion) hands a worker, tagged by ``kind``.

Every task carries its fencing token: the worker reports the outcome with it, and a token
from an earlier dispatch is refused (409 ``stale_task``), so a late reply from a worker
presumed dead never overwrites newer state.
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

from plait.protocol.common import AttemptNo, EventId, Header, Payload, TaskToken
from plait.protocol.enums import TaskKind
from plait.protocol.history import Event

__all__ = ["ActivityTask", "QueryTask", "Task", "UpdateRequested", "WorkflowTask"]


class _Task(Struct, kw_only=True, tag_field="kind"):
    """What every task shares: ``kind`` (a :class:`~plait.protocol.enums.TaskKind`)."""


class WorkflowTask(_Task, kw_only=True, tag=TaskKind.WORKFLOW.value):
    """Advance one workflow run. `events` are the events the worker has not seen: only the
    new ones (`event_id > previous_upto`) when this session has the run cached (sticky) or
    the history is longer than 2,000 events, the full history otherwise. Apply the new events
    to the cached instance only if it has seen exactly up to `previous_upto`; else rebuild it
    by replaying the full history (read with `GET .../history`, a page at a time, when
    `events` does not start at event 1). Events with `event_id >= started_event_id` are not
    part of this task. `updates` are the update requests to
    validate and accept or reject."""

    token: TaskToken
    namespace: str
    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    attempt: AttemptNo
    previous_upto: EventId
    """The last event the worker's cached instance must have seen."""
    started_event_id: Annotated[int, Meta(ge=1)]
    """The id the task's WORKFLOW_TASK_STARTED event will get."""
    started_time: float
    """The task's time: what workflow code sees as now (Unix timestamp)."""
    events: list[Event]
    updates: list[UpdateRequested]


class UpdateRequested(Struct, kw_only=True):
    """An update waiting for the workflow to validate and accept or reject it."""

    update_id: str
    update_name: str
    input: list[Payload]
    header: Header | None = None


class ActivityTask(_Task, kw_only=True, tag=TaskKind.ACTIVITY.value):
    """Run one attempt of an activity."""

    token: TaskToken
    namespace: str
    workflow_id: str
    run_id: str
    workflow_type: str
    activity_id: str
    activity_type: str
    task_queue: str
    attempt: AttemptNo
    input: list[Payload]
    header: Header
    scheduled_time: float
    started_time: float
    start_to_close_timeout: float | None
    """Stop the attempt after this many seconds."""
    heartbeat_timeout: float | None
    """Heartbeat at least this often (seconds)."""
    deadline: float | None
    """The schedule-to-close deadline (Unix timestamp)."""
    heartbeat_details: list[Payload]
    """The last details a previous attempt heartbeated (resume from there)."""


class QueryTask(_Task, kw_only=True, tag=TaskKind.QUERY.value):
    """Answer a query from the run's current state (cached, or rebuilt by replaying its
    history)."""

    token: TaskToken
    namespace: str
    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    query_name: str
    input: list[Payload]
    as_of_event: EventId | None = None
    """Answer from the state right after this event instead of the current one: replay the
    history up to the last WORKFLOW_TASK_COMPLETED at or before it, in a fresh instance."""
    header: Header | None = None
    """The query's header, as the client's interceptors set it."""


Task = WorkflowTask | ActivityTask | QueryTask
"""A task leased to a worker; `kind` says which."""
