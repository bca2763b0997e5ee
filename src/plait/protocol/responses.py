"""What the server answers clients: starts, outcomes, descriptions, lists, updates, queries.

Clients must ignore fields they do not know (responses may gain fields), so none of these
forbids unknown fields.
"""

from __future__ import annotations

from typing import Any, Literal

from msgspec import Struct

from plait.protocol.common import AttemptNo, Failure, Memo, Payload, SearchAttributes
from plait.protocol.enums import PendingActivityState, UpdateStatus, WorkflowStatus

__all__ = [
    "Attempt",
    "Count",
    "Health",
    "PauseState",
    "PendingActivity",
    "Poller",
    "QueryResponse",
    "QueueBacklog",
    "StartWorkflowResponse",
    "TaskFailureInfo",
    "TaskQueueDescription",
    "UpdateOutcome",
    "WorkflowDescription",
    "WorkflowList",
    "WorkflowOutcome",
    "WorkflowResult",
    "WorkflowSummary",
]


class WorkflowOutcome(Struct, kw_only=True):
    """How a closed run ended: `status` plus the attributes of its closing event (`result`
    for COMPLETED, `failure` for FAILED, `reason` for TERMINATED, `details` for CANCELED,
    `timeout_type` for TIMED_OUT; `new_execution_run_id` when another run follows:
    continue-as-new, a workflow retry, or a reset that terminated this run)."""

    status: WorkflowStatus
    result: Payload | None = None
    failure: Failure | None = None
    reason: str | None = None
    timeout_type: str | None = None
    new_execution_run_id: str | None = None
    details: Any = None
    """CANCELED: what the cancellation carried."""
    workflow_type: str | None = None
    """CONTINUED_AS_NEW: the next run's workflow type."""
    task_queue: str | None = None
    """CONTINUED_AS_NEW: the next run's task queue."""
    input: list[Payload] | None = None
    """CONTINUED_AS_NEW: the next run's arguments."""


class WorkflowResult(Struct, kw_only=True):
    """A run's outcome, or `closed` false when it was still running when the wait ended."""

    workflow_id: str
    run_id: str
    status: WorkflowStatus
    closed: bool
    result: WorkflowOutcome | None


class StartWorkflowResponse(Struct, kw_only=True):
    """The run a start made (201, `started`) or found (200: `use_existing`, a signal-with-start
    on a running id, or a repeated request id)."""

    workflow_id: str
    run_id: str
    started: bool
    outcome: WorkflowResult | None = None
    """Only with `wait_result`: the run's outcome as `/result` answers it (`closed` false if
    it was still running when the wait ended)."""


class WorkflowSummary(Struct, kw_only=True):
    """One run, as listed."""

    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    status: WorkflowStatus
    start_time: float
    """Unix timestamp."""
    close_time: float | None
    search_attributes: SearchAttributes


class WorkflowList(Struct, kw_only=True):
    """A page of runs, newest first."""

    workflows: list[WorkflowSummary]
    next_page_token: str | None
    """Pass back to get the next page; null on the last page."""


class Count(Struct, kw_only=True, omit_defaults=True):
    """How many runs match the filters."""

    count: int
    by_status: dict[WorkflowStatus, int] | None = None
    """With `group_by=status`: how many of them have each status (every status, 0 for
    none); absent otherwise."""


class PendingActivity(Struct, kw_only=True):
    """An activity the run waits for."""

    activity_id: str
    activity_type: str
    attempt: AttemptNo
    """The current or next attempt's number."""
    state: PendingActivityState
    last_failure: Failure | None = None
    next_attempt_time: float | None = None
    """When a backing-off (or rate-limited) activity is tried next (Unix timestamp)."""
    scheduled_time: float | None = None
    task_queue: str | None = None
    heartbeat_details: list[Payload] | None = None
    paused: bool = False
    """An operator paused it: no new attempt starts until it is unpaused."""


class Attempt(Struct, kw_only=True):
    """One try of an activity, from the attempt log."""

    activity_id: str
    attempt: int
    activity_type: str
    started_at: float
    ended_at: float | None = None
    outcome: str | None
    """An :class:`~plait.protocol.enums.AttemptOutcome`; null while it runs."""
    failure: Failure | None = None
    worker: str | None = None


class TaskFailureInfo(Struct, kw_only=True):
    """The latest failure of the workflow's task (workflow code bug), while it is retried."""

    message: str | None = None
    type: str | None = None
    traceback: str | None = None
    attempts: int | None = None
    time: float | None = None
    cause: str | None = None


class PauseState(Struct, kw_only=True, omit_defaults=True):
    """Why and since when an operator has a run paused."""

    time: float
    """When it was paused (Unix timestamp)."""
    reason: str = ""
    identity: str = ""


class WorkflowDescription(WorkflowSummary, kw_only=True):
    """A run in detail: its summary plus what it waits for and how its activities went."""

    history_length: int
    history_size_bytes: int = 0
    """The stored size of the run's events (the server's `--max-history-bytes` limit counts
    it; a run started before servers kept it counts from then on)."""
    memo: Memo | None = None
    pending_activities: list[PendingActivity]
    attempts: list[Attempt]
    last_task_failure: TaskFailureInfo | None = None
    pending_workflow_task: bool
    result: WorkflowOutcome | None = None
    """The outcome, once the run is closed."""
    start_delay: float | None = None
    """Seconds the start delayed the first workflow task by (`start_delay`), if it did."""
    paused: PauseState | None = None
    """Set while the run is paused: no workflow task or new activity attempt is handed out."""
    reset_from_run_id: str | None = None
    """This run was made by resetting that run (`reset_event_id` of its history)."""
    reset_event_id: int | None = None
    reset_reason: str | None = None
    """Why this run was made by a reset (the reset's `reason`)."""
    reset_to_run_id: str | None = None
    """A reset of this run made that run (the latest, if it was reset more than once)."""


class UpdateOutcome(Struct, kw_only=True):
    """Where an update is; final once `completed`, `rejected` or `failed`."""

    update_id: str
    run_id: str | None = None
    status: UpdateStatus
    """`requested` and `accepted` are not final: ask again. `completed` carries `result`
    or, when the handler raised, `failure`; `rejected` (the validator refused it) and
    `failed` (the workflow closed first) carry `failure`."""
    result: Payload | None = None
    failure: Failure | None = None


class QueryResponse(Struct, kw_only=True):
    """A worker's answer to a query."""

    result: Payload | None


class Health(Struct, kw_only=True):
    """The server can reach its database."""

    status: Literal["ok"]


class Poller(Struct, kw_only=True):
    """A worker session polling the queue (its lease not expired)."""

    session_id: str
    identity: str
    """Who the worker is (host, pid), as it said."""
    workflow_types: list[str]
    activity_types: list[str]
    lease_expires_at: float
    """When the session's lease runs out unless it is renewed (Unix timestamp): a worker
    renews it about every second."""


class QueueBacklog(Struct, kw_only=True):
    """Tasks of one kind ready now that no worker holds."""

    kind: str
    """workflow | activity | query"""
    count: int
    oldest_ready_time: float
    """When the longest-waiting of them became ready (Unix timestamp)."""


class TaskQueueDescription(Struct, kw_only=True):
    """Who polls a task queue and what waits on it."""

    task_queue: str
    pollers: list[Poller]
    """Empty: no worker serves the queue, and its tasks wait."""
    backlog: list[QueueBacklog]
    """Per kind of task; tasks waiting out a retry backoff or a rate limit are not counted."""

