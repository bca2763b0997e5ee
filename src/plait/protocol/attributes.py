"""The attributes of each history event type, as stored and served (API.md, "History format").

The server writes these shapes and workers and ``plait replay`` read them; a history file
written by any earlier plait decodes into them (fields added later are optional).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from plait.protocol.common import (
    AttemptNo,
    Failure,
    Header,
    MarkerDetails,
    Memo,
    Payload,
    RetryPolicy,
    SearchAttributes,
)

__all__ = [
    "ActivityTaskCancelRequestedAttributes",
    "ActivityTaskCanceledAttributes",
    "ActivityTaskCompletedAttributes",
    "ActivityTaskFailedAttributes",
    "ActivityTaskScheduledAttributes",
    "ActivityTaskStartedAttributes",
    "ActivityTaskTimedOutAttributes",
    "ChildWorkflowExecutionCanceledAttributes",
    "ChildWorkflowExecutionCompletedAttributes",
    "ChildWorkflowExecutionFailedAttributes",
    "ChildWorkflowExecutionStartedAttributes",
    "ChildWorkflowExecutionTerminatedAttributes",
    "ChildWorkflowExecutionTimedOutAttributes",
    "ExternalWorkflowExecutionCancelRequestedAttributes",
    "ExternalWorkflowExecutionSignaledAttributes",
    "MarkerRecordedAttributes",
    "ParentRef",
    "RequestCancelExternalWorkflowExecutionInitiatedAttributes",
    "SignalExternalWorkflowExecutionInitiatedAttributes",
    "StartChildWorkflowExecutionInitiatedAttributes",
    "TimerCanceledAttributes",
    "TimerFiredAttributes",
    "TimerStartedAttributes",
    "UpsertSearchAttributesAttributes",
    "WorkflowExecutionCancelRequestedAttributes",
    "WorkflowExecutionCanceledAttributes",
    "WorkflowExecutionCompletedAttributes",
    "WorkflowExecutionContinuedAsNewAttributes",
    "WorkflowExecutionFailedAttributes",
    "WorkflowExecutionSignaledAttributes",
    "WorkflowExecutionStartedAttributes",
    "WorkflowExecutionTerminatedAttributes",
    "WorkflowExecutionTimedOutAttributes",
    "WorkflowExecutionUpdateAcceptedAttributes",
    "WorkflowExecutionUpdateCompletedAttributes",
    "WorkflowTaskCompletedAttributes",
    "WorkflowTaskFailedAttributes",
    "WorkflowTaskScheduledAttributes",
    "WorkflowTaskStartedAttributes",
    "WorkflowTaskTimedOutAttributes",
]


class _Attributes(Struct, kw_only=True, omit_defaults=True):
    """What every event's attributes share: fields left at their default are not written."""


class ParentRef(Struct, kw_only=True):
    """The run that started this one as its child."""

    namespace: str
    workflow_id: str
    run_id: str


class WorkflowExecutionStartedAttributes(_Attributes, kw_only=True):
    workflow_type: str
    task_queue: str
    input: list[Payload]
    execution_timeout: float | None = None
    task_timeout: float | None = None
    header: Header
    memo: Memo | None = None
    search_attributes: SearchAttributes | None = None
    attempt: AttemptNo
    """Counts runs of a retried workflow."""
    retry_policy: RetryPolicy | None = None
    first_run_id: str
    """The first run of a continue-as-new or retry chain."""
    identity: str | None = None
    parent: ParentRef | None = None
    continued_from_run_id: str | None = None
    start_delay: float | None = None
    """Seconds the first workflow task waited (the start's `start_delay`)."""


class WorkflowExecutionCompletedAttributes(_Attributes, kw_only=True):
    result: Payload | None


class WorkflowExecutionFailedAttributes(_Attributes, kw_only=True):
    failure: Failure
    new_execution_run_id: str | None = None
    """The next run, when a workflow retry policy starts one."""


class WorkflowExecutionCanceledAttributes(_Attributes, kw_only=True):
    details: Any = None
    """Any JSON value."""


class WorkflowExecutionTerminatedAttributes(_Attributes, kw_only=True):
    reason: str
    new_execution_run_id: str | None = None
    """The run that takes this one's place, when a reset terminated it."""


class WorkflowExecutionTimedOutAttributes(_Attributes, kw_only=True):
    timeout_type: Literal["execution"]
    """Always `execution` (:attr:`~plait.protocol.enums.TimeoutType.EXECUTION`)."""


class WorkflowExecutionContinuedAsNewAttributes(_Attributes, kw_only=True):
    new_execution_run_id: str
    workflow_type: str
    task_queue: str
    input: list[Payload]


class WorkflowExecutionCancelRequestedAttributes(_Attributes, kw_only=True):
    reason: str
    identity: str | None = None


class WorkflowExecutionSignaledAttributes(_Attributes, kw_only=True):
    signal_name: str
    input: list[Payload]
    header: Header | None = None
    identity: str | None = None


class WorkflowExecutionUpdateAcceptedAttributes(_Attributes, kw_only=True):
    update_id: str
    update_name: str
    input: list[Payload]
    header: Header | None = None
    """The update's header (its handler's interceptors see it, in replay too)."""


class WorkflowExecutionUpdateCompletedAttributes(_Attributes, kw_only=True):
    update_id: str
    result: Payload | None = None
    failure: Failure | None = None


class WorkflowTaskScheduledAttributes(_Attributes, kw_only=True):
    task_queue: str
    attempt: AttemptNo


class WorkflowTaskStartedAttributes(_Attributes, kw_only=True):
    scheduled_event_id: int
    identity: str
    """The worker session that ran the task."""
    attempt: AttemptNo


class WorkflowTaskCompletedAttributes(_Attributes, kw_only=True):
    scheduled_event_id: int
    started_event_id: int
    identity: str | None = None


class WorkflowTaskFailedAttributes(_Attributes, kw_only=True):
    scheduled_event_id: int
    started_event_id: int
    cause: str
    """`workflow_error`, `unhandled_events`, or `reset_workflow`: the first event after a
    reset's copy of the earlier run's history (the task it stood for runs again)."""
    failure: Failure | None = None
    base_run_id: str | None = None
    """`reset_workflow`: the run this one was reset from."""


class WorkflowTaskTimedOutAttributes(_Attributes, kw_only=True):
    scheduled_event_id: int
    started_event_id: int
    timeout_type: str


class ActivityTaskScheduledAttributes(_Attributes, kw_only=True):
    activity_id: str
    activity_type: str
    task_queue: str
    input: list[Payload]
    header: Header | None = None
    rate_limit_key: str | None = None
    start_to_close_timeout: float | None = None
    schedule_to_close_timeout: float | None = None
    schedule_to_start_timeout: float | None = None
    heartbeat_timeout: float | None = None
    retry_policy: RetryPolicy | None = None


class ActivityTaskStartedAttributes(_Attributes, kw_only=True):
    activity_id: str
    scheduled_event_id: int
    attempt: AttemptNo
    """The final attempt (earlier ones are in the attempt log)."""
    identity: str | None = None
    last_failure: Failure | None = None


class ActivityTaskCompletedAttributes(_Attributes, kw_only=True):
    activity_id: str
    scheduled_event_id: int
    activity_type: str
    attempt: AttemptNo
    result: Payload | None


class ActivityTaskFailedAttributes(_Attributes, kw_only=True):
    activity_id: str
    scheduled_event_id: int
    activity_type: str
    attempt: AttemptNo
    failure: Failure
    retry_state: str


class ActivityTaskTimedOutAttributes(_Attributes, kw_only=True):
    activity_id: str
    scheduled_event_id: int
    activity_type: str
    attempt: AttemptNo
    failure: Failure
    retry_state: str


class ActivityTaskCancelRequestedAttributes(_Attributes, kw_only=True):
    activity_id: str
    scheduled_event_id: int | None = None


class ActivityTaskCanceledAttributes(_Attributes, kw_only=True):
    activity_id: str
    scheduled_event_id: int
    activity_type: str
    attempt: AttemptNo
    details: Any = None
    """Any JSON value."""


class TimerStartedAttributes(_Attributes, kw_only=True):
    timer_id: str
    duration: Annotated[float, Meta(ge=0)]


class TimerFiredAttributes(_Attributes, kw_only=True):
    timer_id: str
    started_event_id: int | None = None


class TimerCanceledAttributes(_Attributes, kw_only=True):
    timer_id: str
    started_event_id: int | None = None


class MarkerRecordedAttributes(_Attributes, kw_only=True):
    marker_name: str
    details: MarkerDetails | None = None


class StartChildWorkflowExecutionInitiatedAttributes(_Attributes, kw_only=True):
    seq: str
    workflow_id: str
    workflow_type: str
    task_queue: str
    input: list[Payload]
    parent_close_policy: str


class ChildWorkflowExecutionStartedAttributes(_Attributes, kw_only=True):
    seq: str
    workflow_id: str
    run_id: str
    workflow_type: str
    initiated_event_id: int


class ChildWorkflowExecutionCompletedAttributes(_Attributes, kw_only=True):
    seq: str
    workflow_id: str
    run_id: str
    workflow_type: str | None = None
    initiated_event_id: int
    result: Payload | None = None


class ChildWorkflowExecutionFailedAttributes(_Attributes, kw_only=True):
    seq: str
    workflow_id: str
    run_id: str | None = None
    workflow_type: str | None = None
    initiated_event_id: int
    failure: Failure
    start_failed: bool | None = None
    """The child could not be started (its id was taken); no `run_id` then."""
    new_execution_run_id: str | None = None


class ChildWorkflowExecutionCanceledAttributes(_Attributes, kw_only=True):
    seq: str
    workflow_id: str
    run_id: str
    workflow_type: str | None = None
    initiated_event_id: int
    details: Any = None
    """Any JSON value."""


class ChildWorkflowExecutionTerminatedAttributes(_Attributes, kw_only=True):
    seq: str
    workflow_id: str
    run_id: str
    workflow_type: str | None = None
    initiated_event_id: int
    reason: str | None = None


class ChildWorkflowExecutionTimedOutAttributes(_Attributes, kw_only=True):
    seq: str
    workflow_id: str
    run_id: str
    workflow_type: str | None = None
    initiated_event_id: int
    timeout_type: str | None = None


class SignalExternalWorkflowExecutionInitiatedAttributes(_Attributes, kw_only=True):
    seq: str
    workflow_id: str
    run_id: str | None = None
    signal_name: str
    input: list[Payload]


class ExternalWorkflowExecutionSignaledAttributes(_Attributes, kw_only=True):
    seq: str
    initiated_event_id: int
    workflow_id: str
    failure: Failure | None = None
    """Present when it could not be delivered (no such workflow"""


class RequestCancelExternalWorkflowExecutionInitiatedAttributes(_Attributes, kw_only=True):
    seq: str
    workflow_id: str
    run_id: str | None = None


class ExternalWorkflowExecutionCancelRequestedAttributes(_Attributes, kw_only=True):
    seq: str
    initiated_event_id: int
    workflow_id: str
    failure: Failure | None = None
    """Present when it could not be delivered (no such workflow"""


class UpsertSearchAttributesAttributes(_Attributes, kw_only=True):
    search_attributes: SearchAttributes
