"""History events and the history document: what ``GET .../history`` serves, what workflow
tasks carry, and the file format of ``plait replay``.

An event is tagged by ``event_type``, so decoding one picks the struct whose ``attributes``
fit that type; every :class:`~plait.protocol.events.EventType` has exactly one struct here
(a test pins it).
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, Struct

from plait.protocol import attributes as attrs
from plait.protocol.events import EventType

__all__ = ["EVENT_STRUCTS", "Event", "History"]


class _Event(Struct, kw_only=True, omit_defaults=True, tag_field="event_type"):
    """One entry of a run's history. `event_id` counts from 1 with no gaps and gives the
    order; `timestamp` (RFC 3339, UTC) says when it happened, as seen by the server.
    `attributes` depend on `event_type`."""

    event_id: Annotated[int, Meta(ge=1)]
    timestamp: Annotated[str, Meta(extra_json_schema={
        "format": "date-time", "examples": ["2025-01-31T12:00:00.123456Z"]})]


class WorkflowExecutionStartedEvent(_Event, kw_only=True,
                                    tag=EventType.WORKFLOW_EXECUTION_STARTED.value):
    attributes: attrs.WorkflowExecutionStartedAttributes


class WorkflowExecutionCompletedEvent(_Event, kw_only=True,
                                      tag=EventType.WORKFLOW_EXECUTION_COMPLETED.value):
    attributes: attrs.WorkflowExecutionCompletedAttributes


class WorkflowExecutionFailedEvent(_Event, kw_only=True,
                                   tag=EventType.WORKFLOW_EXECUTION_FAILED.value):
    attributes: attrs.WorkflowExecutionFailedAttributes


class WorkflowExecutionCanceledEvent(_Event, kw_only=True,
                                     tag=EventType.WORKFLOW_EXECUTION_CANCELED.value):
    attributes: attrs.WorkflowExecutionCanceledAttributes


class WorkflowExecutionTerminatedEvent(_Event, kw_only=True,
                                       tag=EventType.WORKFLOW_EXECUTION_TERMINATED.value):
    attributes: attrs.WorkflowExecutionTerminatedAttributes


class WorkflowExecutionTimedOutEvent(_Event, kw_only=True,
                                     tag=EventType.WORKFLOW_EXECUTION_TIMED_OUT.value):
    attributes: attrs.WorkflowExecutionTimedOutAttributes


class WorkflowExecutionContinuedAsNewEvent(_Event, kw_only=True,
                                           tag=EventType.WORKFLOW_EXECUTION_CONTINUED_AS_NEW.value):
    attributes: attrs.WorkflowExecutionContinuedAsNewAttributes


class WorkflowExecutionCancelRequestedEvent(_Event, kw_only=True,
                                            tag=EventType.WORKFLOW_EXECUTION_CANCEL_REQUESTED.value):
    attributes: attrs.WorkflowExecutionCancelRequestedAttributes


class WorkflowExecutionSignaledEvent(_Event, kw_only=True,
                                     tag=EventType.WORKFLOW_EXECUTION_SIGNALED.value):
    attributes: attrs.WorkflowExecutionSignaledAttributes


class WorkflowExecutionUpdateAcceptedEvent(_Event, kw_only=True,
                                           tag=EventType.WORKFLOW_EXECUTION_UPDATE_ACCEPTED.value):
    attributes: attrs.WorkflowExecutionUpdateAcceptedAttributes


class WorkflowExecutionUpdateCompletedEvent(_Event, kw_only=True,
                                            tag=EventType.WORKFLOW_EXECUTION_UPDATE_COMPLETED.value):
    attributes: attrs.WorkflowExecutionUpdateCompletedAttributes


class WorkflowTaskScheduledEvent(_Event, kw_only=True, tag=EventType.WORKFLOW_TASK_SCHEDULED.value):
    attributes: attrs.WorkflowTaskScheduledAttributes


class WorkflowTaskStartedEvent(_Event, kw_only=True, tag=EventType.WORKFLOW_TASK_STARTED.value):
    attributes: attrs.WorkflowTaskStartedAttributes


class WorkflowTaskCompletedEvent(_Event, kw_only=True, tag=EventType.WORKFLOW_TASK_COMPLETED.value):
    attributes: attrs.WorkflowTaskCompletedAttributes


class WorkflowTaskFailedEvent(_Event, kw_only=True, tag=EventType.WORKFLOW_TASK_FAILED.value):
    attributes: attrs.WorkflowTaskFailedAttributes


class WorkflowTaskTimedOutEvent(_Event, kw_only=True, tag=EventType.WORKFLOW_TASK_TIMED_OUT.value):
    attributes: attrs.WorkflowTaskTimedOutAttributes


class ActivityTaskScheduledEvent(_Event, kw_only=True, tag=EventType.ACTIVITY_TASK_SCHEDULED.value):
    attributes: attrs.ActivityTaskScheduledAttributes


class ActivityTaskStartedEvent(_Event, kw_only=True, tag=EventType.ACTIVITY_TASK_STARTED.value):
    attributes: attrs.ActivityTaskStartedAttributes


class ActivityTaskCompletedEvent(_Event, kw_only=True, tag=EventType.ACTIVITY_TASK_COMPLETED.value):
    attributes: attrs.ActivityTaskCompletedAttributes


class ActivityTaskFailedEvent(_Event, kw_only=True, tag=EventType.ACTIVITY_TASK_FAILED.value):
    attributes: attrs.ActivityTaskFailedAttributes


class ActivityTaskTimedOutEvent(_Event, kw_only=True, tag=EventType.ACTIVITY_TASK_TIMED_OUT.value):
    attributes: attrs.ActivityTaskTimedOutAttributes


class ActivityTaskCancelRequestedEvent(_Event, kw_only=True,
                                       tag=EventType.ACTIVITY_TASK_CANCEL_REQUESTED.value):
    attributes: attrs.ActivityTaskCancelRequestedAttributes


class ActivityTaskCanceledEvent(_Event, kw_only=True, tag=EventType.ACTIVITY_TASK_CANCELED.value):
    attributes: attrs.ActivityTaskCanceledAttributes


class TimerStartedEvent(_Event, kw_only=True, tag=EventType.TIMER_STARTED.value):
    attributes: attrs.TimerStartedAttributes


class TimerFiredEvent(_Event, kw_only=True, tag=EventType.TIMER_FIRED.value):
    attributes: attrs.TimerFiredAttributes


class TimerCanceledEvent(_Event, kw_only=True, tag=EventType.TIMER_CANCELED.value):
    attributes: attrs.TimerCanceledAttributes


class MarkerRecordedEvent(_Event, kw_only=True, tag=EventType.MARKER_RECORDED.value):
    attributes: attrs.MarkerRecordedAttributes


class StartChildWorkflowExecutionInitiatedEvent(_Event, kw_only=True,
                                                tag=EventType.START_CHILD_WORKFLOW_EXECUTION_INITIATED.value):
    attributes: attrs.StartChildWorkflowExecutionInitiatedAttributes


class ChildWorkflowExecutionStartedEvent(_Event, kw_only=True,
                                         tag=EventType.CHILD_WORKFLOW_EXECUTION_STARTED.value):
    attributes: attrs.ChildWorkflowExecutionStartedAttributes


class ChildWorkflowExecutionCompletedEvent(_Event, kw_only=True,
                                           tag=EventType.CHILD_WORKFLOW_EXECUTION_COMPLETED.value):
    attributes: attrs.ChildWorkflowExecutionCompletedAttributes


class ChildWorkflowExecutionFailedEvent(_Event, kw_only=True,
                                        tag=EventType.CHILD_WORKFLOW_EXECUTION_FAILED.value):
    attributes: attrs.ChildWorkflowExecutionFailedAttributes


class ChildWorkflowExecutionCanceledEvent(_Event, kw_only=True,
                                          tag=EventType.CHILD_WORKFLOW_EXECUTION_CANCELED.value):
    attributes: attrs.ChildWorkflowExecutionCanceledAttributes


class ChildWorkflowExecutionTerminatedEvent(_Event, kw_only=True,
                                            tag=EventType.CHILD_WORKFLOW_EXECUTION_TERMINATED.value):
    attributes: attrs.ChildWorkflowExecutionTerminatedAttributes


class ChildWorkflowExecutionTimedOutEvent(_Event, kw_only=True,
                                          tag=EventType.CHILD_WORKFLOW_EXECUTION_TIMED_OUT.value):
    attributes: attrs.ChildWorkflowExecutionTimedOutAttributes


class SignalExternalWorkflowExecutionInitiatedEvent(_Event, kw_only=True,
                                                    tag=EventType.SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED.value):
    attributes: attrs.SignalExternalWorkflowExecutionInitiatedAttributes


class ExternalWorkflowExecutionSignaledEvent(_Event, kw_only=True,
                                             tag=EventType.EXTERNAL_WORKFLOW_EXECUTION_SIGNALED.value):
    attributes: attrs.ExternalWorkflowExecutionSignaledAttributes


class RequestCancelExternalWorkflowExecutionInitiatedEvent(_Event, kw_only=True,
                                                           tag=EventType.REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED.value):
    attributes: attrs.RequestCancelExternalWorkflowExecutionInitiatedAttributes


class ExternalWorkflowExecutionCancelRequestedEvent(_Event, kw_only=True,
                                                    tag=EventType.EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED.value):
    attributes: attrs.ExternalWorkflowExecutionCancelRequestedAttributes


class UpsertSearchAttributesEvent(_Event, kw_only=True,
                                  tag=EventType.UPSERT_SEARCH_ATTRIBUTES.value):
    attributes: attrs.UpsertSearchAttributesAttributes


Event = (WorkflowExecutionStartedEvent | WorkflowExecutionCompletedEvent |
         WorkflowExecutionFailedEvent | WorkflowExecutionCanceledEvent |
         WorkflowExecutionTerminatedEvent | WorkflowExecutionTimedOutEvent |
         WorkflowExecutionContinuedAsNewEvent | WorkflowExecutionCancelRequestedEvent |
         WorkflowExecutionSignaledEvent | WorkflowExecutionUpdateAcceptedEvent |
         WorkflowExecutionUpdateCompletedEvent | WorkflowTaskScheduledEvent |
         WorkflowTaskStartedEvent | WorkflowTaskCompletedEvent | WorkflowTaskFailedEvent |
         WorkflowTaskTimedOutEvent | ActivityTaskScheduledEvent | ActivityTaskStartedEvent |
         ActivityTaskCompletedEvent | ActivityTaskFailedEvent | ActivityTaskTimedOutEvent |
         ActivityTaskCancelRequestedEvent | ActivityTaskCanceledEvent | TimerStartedEvent |
         TimerFiredEvent | TimerCanceledEvent | MarkerRecordedEvent |
         StartChildWorkflowExecutionInitiatedEvent | ChildWorkflowExecutionStartedEvent |
         ChildWorkflowExecutionCompletedEvent | ChildWorkflowExecutionFailedEvent |
         ChildWorkflowExecutionCanceledEvent | ChildWorkflowExecutionTerminatedEvent |
         ChildWorkflowExecutionTimedOutEvent | SignalExternalWorkflowExecutionInitiatedEvent |
         ExternalWorkflowExecutionSignaledEvent |
         RequestCancelExternalWorkflowExecutionInitiatedEvent |
         ExternalWorkflowExecutionCancelRequestedEvent | UpsertSearchAttributesEvent)
"""One entry of a run's history, tagged by `event_type`: `event_id` counts from 1 with no gaps
and gives the order; `timestamp` (RFC 3339, UTC) says when it happened, as seen by the server;
`attributes` depend on `event_type`."""

EVENT_STRUCTS: dict[EventType, type[Struct]] = {
    EventType(cls.__struct_config__.tag): cls for cls in Event.__args__}
"""The struct of each event type."""


class History(Struct, kw_only=True):
    """A run's history (API.md, "History format")."""

    format: Literal[1]
    """The history format version (:data:`~plait.protocol.events.HISTORY_FORMAT`)."""
    workflow_id: str
    run_id: str
    events: list[Event]
