"""Task results: workflow-task and activity-task completions and failures, one at a time or
in a batch, activity heartbeats and the hand-over of an attempt
(:mod:`plait.server.api.tasks`)."""

from __future__ import annotations

from plait.protocol import common, completions
from plait.protocol.openapi import Operation, Reply

__all__ = ["OPERATIONS"]

OPERATIONS: list[Operation] = [
    Operation(
        "POST",
        "/api/v1/task-completions",
        "completeTasks",
        summary="Report many task outcomes in one request",
        tag="workers",
        description=(
            "What a busy worker sends instead of one request per task: each item is a "
            "body of `/workflow-tasks/complete`, `/workflow-tasks/fail`, `/activity-"
            "tasks/complete` or `/activity-tasks/fail` with a `type` saying which. Each "
            "item is applied exactly as its own route would apply it (its own fencing "
            "check and transaction savepoint) and answered on its own, in order: "
            "`result` is what that route answers, `error` its error (with the HTTP "
            "status it would have had). One item's error never affects another."
        ),
        request=completions.TaskCompletionsRequest,
        replies={
            200: Reply(
                "One answer per item, in the order of the items.",
                completions.TaskCompletionsResponse,
            )
        },
        errors=(400, 404, 413, 503),
    ),
    Operation(
        "POST",
        "/api/v1/workflow-tasks/complete",
        "completeWorkflowTask",
        summary="Complete a workflow task with the commands the workflow issued",
        tag="workers",
        description=(
            "The commands are applied in order, in one transaction, together with the "
            "task's completion. If signals or updates arrived while the task was out "
            "and a command would close the workflow, the completion is refused "
            "(`rejected: true`, reason `unhandled_events`) and a new task is scheduled "
            "with the new events: evict the cached instance and replay. With "
            "`eager_activities` / `eager_workflow`, the response carries tasks this "
            "completion created that the same worker can run at once. With "
            "`force_new_task`, the run's next workflow task is scheduled at once even with "
            "nothing new for it: a worker still running local activities answers its "
            "task before the task timeout (their outcomes so far as `record_marker` "
            "commands) and carries on in the next one."
        ),
        request=completions.CompleteWorkflowTaskRequest,
        replies={
            200: Reply(
                "Recorded (or rejected, see above).", completions.CompleteWorkflowTaskResponse
            )
        },
        errors=(400, 404, 409, 413, 503),
    ),
    Operation(
        "POST",
        "/api/v1/workflow-tasks/fail",
        "failWorkflowTask",
        summary="Report that a workflow task failed (a bug or non-determinism, not a workflow "
        "failure)",
        tag="workers",
        description=(
            "The task is retried with backoff (1 s, 2 s, 4 s, ... up to 60 s); only the "
            "first failure of a streak is written to the history. The workflow stays "
            "running."
        ),
        request=completions.FailWorkflowTaskRequest,
        replies={200: Reply("Recorded.", completions.NextAttempt)},
        errors=(400, 404, 409, 413, 503),
    ),
    Operation(
        "POST",
        "/api/v1/activity-tasks/complete",
        "completeActivityTask",
        summary="Report an activity attempt's result",
        tag="workers",
        description=(
            "Also used to complete an attempt from outside its worker (async "
            "completion) with the token the activity handed over. With "
            "`eager_workflow`, the response may carry the workflow task this result "
            "created, already leased to the worker's session. With `workflow_step`, the "
            "result travels with the workflow task it unblocks, run by the worker that "
            "caches the run (one transaction for both; see `WorkflowStep`)."
        ),
        request=completions.CompleteActivityTaskRequest,
        replies={
            200: Reply(
                "`recorded: false` when the workflow had already closed.",
                completions.CompleteActivityTaskResponse,
            )
        },
        errors=(400, 404, 409, 413, 503),
    ),
    Operation(
        "POST",
        "/api/v1/activity-tasks/fail",
        "failActivityTask",
        summary="Report that an activity attempt failed (the server retries it per its retry "
        "policy)",
        tag="workers",
        description=(
            "A failure with `kind: cancelled` (after a heartbeat answered "
            "`cancel_requested`) ends the activity as cancelled; `kind: timeout` with "
            "`timeout_type` is treated as the server's own timeout firing."
        ),
        request=completions.FailActivityTaskRequest,
        replies={
            200: Reply("`recorded: false` when the workflow had already closed.", common.Recorded)
        },
        errors=(400, 404, 409, 413, 503),
    ),
    Operation(
        "POST",
        "/api/v1/activity-tasks/heartbeat",
        "heartbeatActivityTask",
        summary="Record an activity's progress; learn whether it should stop",
        tag="workers",
        description=(
            "Renews the attempt's heartbeat timeout and keeps `details` for the next "
            "attempt. 409 `stale_task` means the attempt timed out or was re-"
            "dispatched: stop working on it."
        ),
        request=completions.HeartbeatActivityRequest,
        replies={200: Reply("Recorded.", completions.ActivityCancelRequested)},
        errors=(400, 404, 409, 413, 503),
    ),
    Operation(
        "POST",
        "/api/v1/activity-tasks/complete-async",
        "handOverActivityTask",
        summary="Hand an attempt over for completion from outside the worker",
        tag="workers",
        description=(
            "The attempt leaves the worker's session (it no longer expires with it) and "
            "waits for `activity-tasks/complete` or `fail` with the same token; its "
            "timeouts still apply."
        ),
        request=completions.TokenRequest,
        replies={200: Reply("Handed over.", completions.HandedOver)},
        errors=(400, 404, 409, 413, 503),
    ),
]
