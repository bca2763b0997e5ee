"""The closed vocabularies of the wire: statuses, kinds, policies and error codes.

Each is a :class:`~enum.StrEnum` whose values are the strings the API has always carried, so
a member is equal to (and encodes as) its old literal: code may adopt the names one module
at a time while the wire, the database and the history stay byte-for-byte the same. One
list per concept also gives the OpenAPI document its ``enum``s and lets mypy catch a typo
that a string literal would carry to production.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "CLOSED_STATUSES",
    "FAILED_STATUSES",
    "AttemptOutcome",
    "BatchOperation",
    "BatchState",
    "CancellationType",
    "ErrorCode",
    "FailureKind",
    "IdConflictPolicy",
    "IdReusePolicy",
    "ParentClosePolicy",
    "PendingActivityState",
    "RetryState",
    "ScheduleOutcome",
    "ScheduleOverlap",
    "TaskKind",
    "TimeoutType",
    "TimerKind",
    "UpdateStatus",
    "WorkflowStatus",
]


class WorkflowStatus(StrEnum):
    """Where a run is: running, or the one closed state it ended in (promise 1)."""

    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    TERMINATED = "TERMINATED"
    CONTINUED_AS_NEW = "CONTINUED_AS_NEW"
    TIMED_OUT = "TIMED_OUT"

    @property
    def closed(self) -> bool:
        return self is not WorkflowStatus.RUNNING


CLOSED_STATUSES = frozenset(s for s in WorkflowStatus if s.closed)
"""The statuses a run can end in; ``status in CLOSED_STATUSES`` also works for plain str."""

FAILED_STATUSES = frozenset({WorkflowStatus.FAILED, WorkflowStatus.CANCELED,
                             WorkflowStatus.TERMINATED, WorkflowStatus.TIMED_OUT})
"""The closed statuses ``allow_duplicate_failed_only`` lets an id start again after."""


class TaskKind(StrEnum):
    """What a poll asks for, and what a task row is: one queue per kind on a task queue."""

    WORKFLOW = "workflow"
    ACTIVITY = "activity"
    QUERY = "query"


class TimerKind(StrEnum):
    """The durable timers the timer service fires, keyed by (run, kind, ref)."""

    USER = "user"
    """``workflow.sleep`` / a ``start_timer`` command; ref is the timer id."""
    EXECUTION = "execution"
    """The run's ``execution_timeout``; ref is empty."""
    ACTIVITY_START_TO_CLOSE = "act_stc"
    ACTIVITY_HEARTBEAT = "act_hb"
    ACTIVITY_SCHEDULE_TO_CLOSE = "act_s2c"
    ACTIVITY_SCHEDULE_TO_START = "act_s2s"


class TimeoutType(StrEnum):
    """Which timeout fired (``TimeoutError.timeout_type``, API.md)."""

    START_TO_CLOSE = "start_to_close"
    SCHEDULE_TO_CLOSE = "schedule_to_close"
    SCHEDULE_TO_START = "schedule_to_start"
    HEARTBEAT = "heartbeat"
    EXECUTION = "execution"


class RetryState(StrEnum):
    """Why retrying stopped (``ActivityError.retry_state``)."""

    MAXIMUM_ATTEMPTS = "maximum_attempts"
    NON_RETRYABLE = "non_retryable"
    TIMEOUT = "timeout"
    CANCEL = "cancel"
    WORKER_LOST = "worker_lost"


class FailureKind(StrEnum):
    """Which error class a failure turns back into (:mod:`plait.protocol.failure`)."""

    APPLICATION = "application"
    TIMEOUT = "timeout"
    ACTIVITY = "activity"
    CHILD_WORKFLOW = "child_workflow"
    CANCELLED = "cancelled"
    TERMINATED = "terminated"


class IdReusePolicy(StrEnum):
    """Whether a *closed* workflow's id may start again."""

    ALLOW_DUPLICATE = "allow_duplicate"
    ALLOW_DUPLICATE_FAILED_ONLY = "allow_duplicate_failed_only"
    REJECT_DUPLICATE = "reject_duplicate"


class IdConflictPolicy(StrEnum):
    """What a start does when its id is *running*."""

    FAIL = "fail"
    USE_EXISTING = "use_existing"
    TERMINATE_EXISTING = "terminate_existing"


class ParentClosePolicy(StrEnum):
    """What happens to a child when its parent closes."""

    TERMINATE = "terminate"
    REQUEST_CANCEL = "request_cancel"
    ABANDON = "abandon"


class CancellationType(StrEnum):
    """How a workflow waits for a cancelled activity (worker side; not on the wire)."""

    TRY_CANCEL = "try_cancel"
    WAIT_CANCELLATION_COMPLETED = "wait_cancellation_completed"
    ABANDON = "abandon"


class UpdateStatus(StrEnum):
    """An update's life: requested (not durable) → accepted → completed, or rejected/failed."""

    REQUESTED = "requested"
    ACCEPTED = "accepted"
    COMPLETED = "completed"
    REJECTED = "rejected"
    FAILED = "failed"


class PendingActivityState(StrEnum):
    """What a pending activity is doing (``describe().pending_activities[].state``)."""

    SCHEDULED = "scheduled"
    STARTED = "started"
    BACKING_OFF = "backing_off"
    WAITING_FOR_RATE_LIMIT = "waiting_for_rate_limit"


class AttemptOutcome(StrEnum):
    """How one activity attempt ended (the attempt log, and the metrics' ``outcome``)."""

    COMPLETED = "completed"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELED = "canceled"


class ScheduleOverlap(StrEnum):
    """What a schedule does when a due time comes while its last run is still running."""

    SKIP = "skip"
    BUFFER_ONE = "buffer_one"
    BUFFER_ALL = "buffer_all"
    CANCEL_OTHER = "cancel_other"
    TERMINATE_OTHER = "terminate_other"
    ALLOW_ALL = "allow_all"


class ScheduleOutcome(StrEnum):
    """What became of one due time (the label of ``plait_schedule_actions_total``)."""

    STARTED = "started"
    SKIPPED_OVERLAP = "skipped_overlap"
    SKIPPED_MISSED = "skipped_missed"
    """Older than the catch-up window when the server saw it (it was down)."""
    SKIPPED_PAUSED = "skipped_paused"
    """It came while the schedule was paused (counted when it is unpaused)."""
    BUFFERED = "buffered"
    ALREADY_STARTED = "already_started"
    """Its workflow id existed: another server (or an earlier attempt) started it."""


class BatchOperation(StrEnum):
    """What a batch job does to each run it matches."""

    TERMINATE = "terminate"
    CANCEL = "cancel"
    SIGNAL = "signal"
    RESET = "reset"
    PAUSE = "pause"
    UNPAUSE = "unpause"


class BatchState(StrEnum):
    """Where a batch job is."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    """It could not go on (its operation is unknown to this server)."""
    CANCELED = "canceled"


class ErrorCode(StrEnum):
    """Every ``error.code`` the API answers: stable words clients map to exceptions."""

    # 400
    BAD_REQUEST = "bad_request"
    MALFORMED_JSON = "malformed_json"
    BAD_TOKEN = "bad_token"
    QUERY_FAILED = "query_failed"
    UNKNOWN_WORKFLOW_TYPE = "unknown_workflow_type"
    INVALID_SCHEDULE = "invalid_schedule"
    # 401 / 403 (API.md: servers started with --auth)
    UNAUTHENTICATED = "unauthenticated"
    PERMISSION_DENIED = "permission_denied"
    # 404
    NOT_FOUND = "not_found"
    NO_ROUTE = "no_route"
    NAMESPACE_NOT_FOUND = "namespace_not_found"
    WORKFLOW_NOT_FOUND = "workflow_not_found"
    SESSION_NOT_FOUND = "session_not_found"
    UPDATE_NOT_FOUND = "update_not_found"
    RATE_LIMIT_NOT_FOUND = "rate_limit_not_found"
    SCHEDULE_NOT_FOUND = "schedule_not_found"
    BATCH_NOT_FOUND = "batch_not_found"
    ACTIVITY_NOT_FOUND = "activity_not_found"
    # 405
    METHOD_NOT_ALLOWED = "method_not_allowed"
    # 409
    CONFLICT = "conflict"
    STALE_TASK = "stale_task"
    WORKFLOW_ALREADY_STARTED = "workflow_already_started"
    WORKFLOW_NOT_RUNNING = "workflow_not_running"
    SCHEDULE_ALREADY_EXISTS = "schedule_already_exists"
    NAMESPACE_ALREADY_EXISTS = "namespace_already_exists"
    # 413
    PAYLOAD_TOO_LARGE = "payload_too_large"
    # 415
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    # 429
    LIMIT_EXCEEDED = "limit_exceeded"
    RATE_LIMITED = "rate_limited"
    # 500 / 503 / 504
    INTERNAL = "internal"
    BUSY = "busy"
    UNAVAILABLE = "unavailable"
    QUERY_TIMEOUT = "query_timeout"
