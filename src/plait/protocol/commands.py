"""The commands a workflow task's completion carries: what the workflow asks the server to do.

Each command writes one history event (:data:`plait.protocol.events.COMMAND_EVENTS`); replay
matches a run's commands against those events by kind and position, so a worker must issue
the same commands in the same order when it replays. ``kind`` tells them apart on the wire
(a tagged union: decoding picks the struct by it). Ids (``activity_id``, ``timer_id``,
``seq``) are chosen by the worker, unique in the run; the Python runtime numbers them 1, 2,
3, ... in one sequence.
"""

from __future__ import annotations

from typing import Annotated, Any

from msgspec import Meta, Struct

from plait.protocol.common import (
    Failure,
    Header,
    MarkerDetails,
    Memo,
    Name,
    Payload,
    RetryPolicy,
    RunId,
    SearchAttributes,
    Seconds,
)
from plait.protocol.enums import IdReusePolicy, ParentClosePolicy

__all__ = [
    "CLOSING",
    "AcceptUpdateCommand",
    "CancelExternalCommand",
    "CancelTimerCommand",
    "CancelWorkflowCommand",
    "Command",
    "CompleteUpdateCommand",
    "CompleteWorkflowCommand",
    "ContinueAsNewCommand",
    "FailWorkflowCommand",
    "RecordMarkerCommand",
    "RequestCancelActivityCommand",
    "ScheduleActivityCommand",
    "SignalExternalCommand",
    "StartChildWorkflowCommand",
    "StartTimerCommand",
    "UpsertSearchAttributesCommand",
]


ActivityTimeout = Annotated[float, Meta(ge=0)] | None
"""An activity's timeout in seconds; 0 or null is none (the server has always read 0 so)."""


class _Command(Struct, kw_only=True, omit_defaults=True, tag_field="kind"):
    """What every command shares: the ``kind`` tag (a :class:`~plait.protocol.events.CommandKind`
    value) that picks its struct."""


class ScheduleActivityCommand(_Command, kw_only=True, tag="schedule_activity"):
    """Schedule an activity (at least one of `start_to_close_timeout` and
    `schedule_to_close_timeout` is required). Writes ACTIVITY_TASK_SCHEDULED; its outcome
    arrives as ACTIVITY_TASK_COMPLETED, _FAILED, _TIMED_OUT or _CANCELED."""

    activity_id: Name
    activity_type: Name
    task_queue: str | None = None
    """Defaults to the workflow's queue."""
    input: list[Payload] | None = None
    start_to_close_timeout: ActivityTimeout = None
    """Seconds one attempt may run."""
    schedule_to_close_timeout: ActivityTimeout = None
    """Seconds all attempts together may take, waits between them included."""
    schedule_to_start_timeout: ActivityTimeout = None
    """Seconds the activity may wait for a worker (not retried)."""
    heartbeat_timeout: ActivityTimeout = None
    """Seconds between heartbeats after which the attempt is presumed lost."""
    retry_policy: RetryPolicy | None = None
    rate_limit_key: str | None = None
    header: Header | None = None


class StartTimerCommand(_Command, kw_only=True, tag="start_timer"):
    """A durable timer. Writes TIMER_STARTED; TIMER_FIRED follows after `duration` seconds."""

    timer_id: Name
    duration: float
    """Seconds; a negative duration fires at once, as 0 does."""


class CancelTimerCommand(_Command, kw_only=True, tag="cancel_timer"):
    """Writes TIMER_CANCELED."""

    timer_id: Name


class RequestCancelActivityCommand(_Command, kw_only=True, tag="request_cancel_activity"):
    """Writes ACTIVITY_TASK_CANCEL_REQUESTED. An activity not yet started ends as cancelled
    at once; a running one learns it from its next heartbeat."""

    activity_id: Name


class RecordMarkerCommand(_Command, kw_only=True, tag="record_marker"):
    """Writes MARKER_RECORDED (the Python runtime records patches as markers named `patch`)."""

    marker_name: Name
    details: MarkerDetails | None = None


class UpsertSearchAttributesCommand(_Command, kw_only=True, tag="upsert_search_attributes"):
    """Merge into the run's search attributes. Writes UPSERT_SEARCH_ATTRIBUTES."""

    search_attributes: SearchAttributes


class StartChildWorkflowCommand(_Command, kw_only=True, tag="start_child_workflow"):
    """Start a child workflow. Writes START_CHILD_WORKFLOW_EXECUTION_INITIATED; then
    CHILD_WORKFLOW_EXECUTION_STARTED (or _FAILED with `start_failed`), and later its closing
    CHILD_WORKFLOW_EXECUTION_* event."""

    seq: Name
    workflow_id: Name
    workflow_type: Name
    task_queue: str | None = None
    """Defaults to the parent's queue."""
    input: list[Payload] | None = None
    parent_close_policy: ParentClosePolicy | None = None  # documented default: 'terminate'
    execution_timeout: Seconds = None
    task_timeout: Seconds = None
    id_reuse_policy: IdReusePolicy | None = None
    memo: Memo | None = None
    search_attributes: SearchAttributes | None = None
    header: Header | None = None


class SignalExternalCommand(_Command, kw_only=True, tag="signal_external"):
    """Signal another workflow. Writes SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED, then
    EXTERNAL_WORKFLOW_EXECUTION_SIGNALED (with `failure` if it could not be delivered)."""

    seq: Name
    workflow_id: Name
    run_id: RunId = None
    signal_name: Name
    input: list[Payload] | None = None
    header: Header | None = None


class CancelExternalCommand(_Command, kw_only=True, tag="cancel_external"):
    """Ask another workflow to cancel. Writes
    REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED, then
    EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED."""

    seq: Name
    workflow_id: Name
    run_id: RunId = None


class ContinueAsNewCommand(_Command, kw_only=True, tag="continue_as_new"):
    """Close this run as CONTINUED_AS_NEW and start the next run of the same workflow id,
    with a fresh history."""

    input: list[Payload] | None = None
    workflow_type: str | None = None
    """Defaults to this workflow's type."""
    task_queue: str | None = None
    """Defaults to this workflow's queue."""
    header: Header | None = None


class AcceptUpdateCommand(_Command, kw_only=True, tag="accept_update"):
    """The update's validator passed. Writes WORKFLOW_EXECUTION_UPDATE_ACCEPTED."""

    update_id: Name


class CompleteUpdateCommand(_Command, kw_only=True, tag="complete_update"):
    """The update's handler returned (`result`) or raised (`failure`). Writes
    WORKFLOW_EXECUTION_UPDATE_COMPLETED."""

    update_id: Name
    result: Payload | None = None
    failure: Failure | None = None


class CompleteWorkflowCommand(_Command, kw_only=True, tag="complete_workflow"):
    """Close the run as COMPLETED. Writes WORKFLOW_EXECUTION_COMPLETED."""

    result: Payload | None = None


class FailWorkflowCommand(_Command, kw_only=True, tag="fail_workflow"):
    """Close the run as FAILED (or start its retry, under a workflow retry policy). Writes
    WORKFLOW_EXECUTION_FAILED."""

    failure: Failure


class CancelWorkflowCommand(_Command, kw_only=True, tag="cancel_workflow"):
    """Close the run as CANCELED (after a cancellation request). Writes
    WORKFLOW_EXECUTION_CANCELED."""

    details: Any = None
    """Any JSON value."""


Command = (ScheduleActivityCommand | StartTimerCommand | CancelTimerCommand |
           RequestCancelActivityCommand | RecordMarkerCommand | UpsertSearchAttributesCommand |
           StartChildWorkflowCommand | SignalExternalCommand | CancelExternalCommand |
           ContinueAsNewCommand | AcceptUpdateCommand | CompleteUpdateCommand |
           CompleteWorkflowCommand | FailWorkflowCommand | CancelWorkflowCommand)
"""One thing a workflow task asks for, tagged by `kind`. Each writes one history event (e.g.
`schedule_activity` writes ACTIVITY_TASK_SCHEDULED); replay matches a run's commands against
those events by kind and position, so a worker must issue the same commands in the same order
when it replays. `complete_workflow`, `fail_workflow`, `cancel_workflow` and `continue_as_new`
close the run. Ids (`activity_id`, `timer_id`, `seq`) are chosen by the worker, unique in the
run."""

CLOSING = (CompleteWorkflowCommand, FailWorkflowCommand, CancelWorkflowCommand,
           ContinueAsNewCommand)
"""The commands that close the run: nothing after one of them is applied."""
