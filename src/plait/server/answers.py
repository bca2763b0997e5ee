"""The shapes of the server's answers that carry stored JSON as it was stored.

Most answers are the wire structs of :mod:`plait.protocol` themselves. These few hold values
the server keeps as JSON and hands on without reshaping (a run's outcome is its closing
event's attributes; failures are kept as workers reported them; workflow tasks carry their
events as stored text), so they are typed dicts named after the struct that documents them
(``tests/unit/test_answers.py`` pins that every key is one of that struct's fields).
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

import msgspec

from plait.protocol.common import Memo, Payload, SearchAttributes
from plait.protocol.failure import Failure
from plait.protocol.responses import Attempt, PauseState, PendingActivity, TaskFailureInfo
from plait.protocol.tasks import ActivityTask, QueryTask, UpdateRequested
from plait.store.history import EventAttributes

__all__ = [
    "ActivityResultAnswer",
    "Description",
    "Dispatched",
    "OutgoingWorkflowTask",
    "RefusedStep",
    "RunOutcome",
    "StartAnswer",
    "StepAnswer",
    "StoredHistory",
    "UpdateAnswer",
    "WorkflowTaskAnswer",
]


class OutgoingWorkflowTask(msgspec.Struct, kw_only=True, tag_field="kind", tag="workflow"):
    """A :class:`~plait.protocol.tasks.WorkflowTask` as the server sends it: the same fields
    (a test pins them), with the events as the JSON text they were stored as, so handing a
    worker its history parses nothing and encodes nothing again."""

    token: str
    namespace: str
    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    attempt: int
    previous_upto: int
    started_event_id: int
    started_time: float
    events: list[msgspec.Raw]
    updates: list[UpdateRequested]


Dispatched = OutgoingWorkflowTask | ActivityTask | QueryTask
"""A task as it leaves in a poll's (or an eager completion's) answer."""


class StoredHistory(msgspec.Struct, kw_only=True):
    """:class:`~plait.protocol.history.History` as served: the events as stored."""

    format: int
    workflow_id: str
    run_id: str
    events: list[msgspec.Raw]


class Description(TypedDict):
    """:class:`~plait.protocol.responses.WorkflowDescription`: the run's summary fields,
    what it waits for, its attempt log, and its outcome as recorded once it closed."""

    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    status: str
    start_time: float
    close_time: float | None
    search_attributes: SearchAttributes
    history_length: int
    history_size_bytes: int
    memo: Memo | None
    pending_activities: list[PendingActivity]
    attempts: list[Attempt]
    last_task_failure: TaskFailureInfo | None
    pending_workflow_task: bool
    result: EventAttributes | None
    start_delay: NotRequired[float]
    paused: NotRequired[PauseState]
    reset_from_run_id: NotRequired[str]
    reset_event_id: NotRequired[int]
    reset_reason: NotRequired[str]
    reset_to_run_id: NotRequired[str]


class RunOutcome(TypedDict):
    """:class:`~plait.protocol.responses.WorkflowResult`: ``result`` is the status plus the
    closing event's attributes, as recorded."""

    workflow_id: str
    run_id: str
    status: str
    closed: bool
    result: EventAttributes | None


class StartAnswer(TypedDict):
    """:class:`~plait.protocol.responses.StartWorkflowResponse`."""

    workflow_id: str
    run_id: str
    started: bool
    outcome: NotRequired[RunOutcome]


class WorkflowTaskAnswer(TypedDict, total=False):
    """:class:`~plait.protocol.completions.CompleteWorkflowTaskResponse`."""

    upto: int
    activity_tasks: list[ActivityTask]
    workflow_task: OutgoingWorkflowTask
    rejected: bool
    reason: str


class RefusedStep(TypedDict):
    """:class:`~plait.protocol.completions.WorkflowStepAnswer` of a chained step that was
    not recorded (the result was, alone), and why."""

    refused: str


StepAnswer = WorkflowTaskAnswer | RefusedStep
"""A chained step recorded (the completion's answer), or refused."""


class ActivityResultAnswer(TypedDict):
    """:class:`~plait.protocol.completions.CompleteActivityTaskResponse`."""

    recorded: bool
    workflow_step: NotRequired[StepAnswer]
    workflow_task: NotRequired[OutgoingWorkflowTask]


class UpdateAnswer(TypedDict):
    """:class:`~plait.protocol.responses.UpdateOutcome`."""

    update_id: str
    status: str
    run_id: NotRequired[str]
    result: NotRequired[Payload | None]
    failure: NotRequired[Failure | None]
