"""How a worker reports task outcomes: workflow task completions (commands), activity
results and failures, query answers, heartbeats, and the batch of several at once.

Every report carries the task's fencing token; the batch route takes the same bodies as the
single routes, each tagged with ``type``, and answers each item on its own.
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

from plait.protocol.commands import Command
from plait.protocol.common import EventId, Failure, JsonObject, Payload, RequestNo, TaskToken
from plait.protocol.tasks import ActivityTask, WorkflowTask

__all__ = [
    "MAX_BATCH",
    "ActivityCancelRequested",
    "CompleteActivityTaskItem",
    "CompleteActivityTaskRequest",
    "CompleteActivityTaskResponse",
    "CompleteWorkflowTaskItem",
    "CompleteWorkflowTaskRequest",
    "CompleteWorkflowTaskResponse",
    "CompletionResult",
    "FailActivityTaskItem",
    "FailActivityTaskRequest",
    "FailWorkflowTaskItem",
    "FailWorkflowTaskRequest",
    "HandedOver",
    "HeartbeatActivityRequest",
    "ItemError",
    "NextAttempt",
    "RespondQueryRequest",
    "TaskCompletion",
    "TaskCompletionsRequest",
    "TaskCompletionsResponse",
    "TokenRequest",
    "UpdateRejection",
    "WorkflowStep",
    "WorkflowStepAnswer",
]

MAX_BATCH = 512
"""The most completions one batch request may carry."""


class TokenRequest(Struct, kw_only=True):
    """A request about one dispatched task."""

    token: TaskToken


class UpdateRejection(Struct, kw_only=True, omit_defaults=True):
    """An update whose validator refused it (no history event; its caller gets `rejected`)."""

    update_id: str | None = None
    failure: Failure | None = None


class _WorkflowTaskOutcome(Struct, kw_only=True, omit_defaults=True):
    """What a workflow task's completion and a chained step share."""

    commands: list[Command]
    """What the workflow asks for, in the order it asked. Applying stops after a command
    that closes the run."""
    update_rejections: list[UpdateRejection] | None = None
    """Updates whose validator refused them (no history event; their callers get
    `rejected`)."""
    eager_activities: int | None = None
    """Free activity slots (default 0, clamped to 0-256); activities this completion
    schedules on the worker's queue, of types it runs, come back in `activity_tasks`,
    already leased."""
    eager_workflow: bool | None = None
    """Hand back the run's next workflow task at once when there is one (e.g. an update
    arrived meanwhile)."""


class CompleteWorkflowTaskRequest(_WorkflowTaskOutcome, kw_only=True):
    """The workflow task ran: here is what the workflow asks for."""

    token: TaskToken
    request_no: RequestNo | None = None
    """The number of the request carrying this completion, when it asks for tasks back
    (`eager_activities`, `eager_workflow`; see `heartbeatSession`)."""
    force_new_task: bool | None = None
    """Schedule the run's next workflow task at once, even with nothing new in its history:
    the worker is still running local activities and answers this task so that it does not
    time out (a workflow task heartbeat). With `eager_workflow`, the new task comes back in
    the response."""


class WorkflowStep(_WorkflowTaskOutcome, kw_only=True):
    """A chained step: the workflow task this activity's result unblocks, already run by the
    worker that caches the run. Recorded with the result in one transaction, exactly as the
    two separate changes would be, when nothing was appended to the history since the
    worker's last task, no workflow task is scheduled, nothing is buffered, no update waits
    and the run is sticky to this session; otherwise refused (the result is still recorded
    and a workflow task scheduled as usual)."""

    upto: EventId
    """The last event the worker's instance had seen before this result (the `upto` of its
    last completion)."""
    started_time: float
    """The task's time as the workflow saw it (`workflow.now()`), seconds since the epoch;
    the server records it as the task's start and refuses a step more than 2 s away from its
    clock."""


class CompleteWorkflowTaskResponse(Struct, kw_only=True, omit_defaults=True):
    """Recorded (`upto`, with any eager tasks), or `rejected`: events arrived while the task
    was out and the completion would have closed the run (`unhandled_events`: a new task
    follows), or its commands would pass a per-run limit (`pending_activities_limit_exceeded`,
    `pending_children_limit_exceeded`: the task is recorded as failed and retried with
    backoff). Either way the worker drops its instance."""

    upto: int | None = None
    """The last event the worker's instance has now seen; the next task's `previous_upto`
    will be this."""
    activity_tasks: list[ActivityTask] | None = None
    workflow_task: WorkflowTask | None = None
    rejected: bool | None = None
    reason: Annotated[str, Meta(examples=["unhandled_events",
                                          "pending_activities_limit_exceeded"])] | None = None


class FailWorkflowTaskRequest(Struct, kw_only=True, omit_defaults=True):
    """The workflow code raised (a bug): the task is retried with backoff."""

    token: TaskToken
    failure: Failure | None = None
    cause: str | None = None
    """Why (default `workflow_error`)."""


class NextAttempt(Struct, kw_only=True):
    """When the failed workflow task is offered again."""

    next_attempt_in: float
    """Seconds until the task is offered again."""


class RespondQueryRequest(Struct, kw_only=True, omit_defaults=True):
    """Either `result`, or `failure` (with an error `code` for the caller)."""

    token: TaskToken
    result: Payload | None = None
    failure: Failure | None = None
    code: Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_]{0,63}$")] | None = None
    """The error code the querying client gets (400) with `failure`; default
    `query_failed`."""


class CompleteActivityTaskRequest(Struct, kw_only=True, omit_defaults=True):
    """The attempt returned `result`."""

    token: TaskToken
    result: Payload | None = None
    request_no: RequestNo | None = None
    """The number of the request carrying this result, when it asks for tasks back
    (`eager_workflow`, or a `workflow_step`'s; see `heartbeatSession`)."""
    eager_workflow: bool | None = None
    """Hand back the workflow task this result creates, when this worker's session serves
    the workflow's queue and type and the run is not sticky to another worker."""
    task_queue: str | None = None
    """The worker's queue (informative; the session's queue decides)."""
    workflow_step: WorkflowStep | None = None


class WorkflowStepAnswer(CompleteWorkflowTaskResponse, kw_only=True):
    """The answer to a chained step: the completion's answer when it was recorded, or why it
    was refused (drop the instance that ran it; the next task replays)."""

    refused: Annotated[str, Meta(examples=[
        "history_moved", "workflow_task_pending", "buffered_events", "updates_pending",
        "not_sticky", "clock_skew", "paused", "limit_exceeded"])] | None = None


class CompleteActivityTaskResponse(Struct, kw_only=True, omit_defaults=True):
    """Whether the result was recorded (false: the run had already moved past it)."""

    recorded: bool
    workflow_task: WorkflowTask | None = None
    workflow_step: WorkflowStepAnswer | None = None


class FailActivityTaskRequest(Struct, kw_only=True, omit_defaults=True):
    """The attempt raised; the server retries it under the activity's retry policy."""

    token: TaskToken
    failure: Failure | None = None


class HeartbeatActivityRequest(Struct, kw_only=True, omit_defaults=True):
    """The attempt is alive; ``details`` go to the next attempt if this one dies."""

    token: TaskToken
    details: list[Payload] | None = None


class ActivityCancelRequested(Struct, kw_only=True):
    """Whether the workflow asked the activity to stop."""

    cancel_requested: bool
    """The workflow asked the activity to stop; report it with a `cancelled` failure."""


class HandedOver(Struct, kw_only=True):
    """The attempt is now completed from outside the worker (async activity completion)."""

    token: TaskToken


class CompleteWorkflowTaskItem(CompleteWorkflowTaskRequest, kw_only=True, tag_field="type",
                               tag="workflow_complete"):
    """A workflow task completion in a batch."""


class FailWorkflowTaskItem(FailWorkflowTaskRequest, kw_only=True, tag_field="type",
                           tag="workflow_fail"):
    """A workflow task failure in a batch."""


class CompleteActivityTaskItem(CompleteActivityTaskRequest, kw_only=True, tag_field="type",
                               tag="activity_complete"):
    """An activity result in a batch."""


class FailActivityTaskItem(FailActivityTaskRequest, kw_only=True, tag_field="type",
                           tag="activity_fail"):
    """An activity failure in a batch."""


TaskCompletion = (CompleteWorkflowTaskItem | FailWorkflowTaskItem | CompleteActivityTaskItem
                  | FailActivityTaskItem)
"""One task outcome of a batch: the body of its single route plus `type`."""


class TaskCompletionsRequest(Struct, kw_only=True):
    """Many task outcomes in one request: a busy worker saves a round trip per task."""

    completions: Annotated[list[TaskCompletion], Meta(max_length=MAX_BATCH)]
    request_no: RequestNo | None = None
    """This request's number (see `heartbeatSession`): the number of every item that has
    none of its own."""


class ItemError(Struct, kw_only=True):
    """Why one item of a batch failed: the error its single route would have answered."""

    status: int
    code: str
    message: str


class CompletionResult(Struct, kw_only=True, omit_defaults=True):
    """`result`: what the item's own route answers; `error`: its error."""

    result: JsonObject | None = None
    error: ItemError | None = None


class TaskCompletionsResponse(Struct, kw_only=True):
    """One answer per item, in the order of the items."""

    results: list[CompletionResult]
