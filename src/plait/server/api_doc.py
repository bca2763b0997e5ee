"""The route table of the HTTP API, and its OpenAPI document generated from it.

Each route names the structs of its body and its answers (:mod:`plait.protocol`), which are
what the server decodes and what clients and workers send; the document served at
``/api/v1/openapi.json`` is built from this table by :func:`plait.protocol.openapi.build_document`
and cannot drift from them. A test checks that every route ``make_app`` registers is here.
"""

from __future__ import annotations

import functools
from typing import Any

from plait.protocol import (
    commands,
    common,
    completions,
    history,
    ratelimits,
    requests,
    responses,
    schedules,
    sessions,
    tasks,
)
from plait.protocol.enums import WorkflowStatus
from plait.protocol.events import EventType
from plait.protocol.openapi import Operation, Param, Reply, build_document
from plait.store.search_index import MAX_FILTERS

__all__ = ["OPERATIONS", "document"]

DESCRIPTION = """\
The whole wire protocol of a plait server: what clients call to start and steer workflows,
and what workers call to take tasks and report their outcomes. A worker in any language
can be written against this document alone; `docs/api.md` explains the worker protocol
(sessions, long-polls, completions with commands, eager dispatch, fencing tokens,
heartbeats) in prose.

Conventions:

* Request and response bodies are JSON objects (`Content-Type: application/json`).
  Unknown request fields are ignored, and responses may gain fields: readers must ignore
  fields they do not know.
* Every error has one shape, `{"error": {"code", "message"}}` (schema `Error`), with a 4xx
  status when the request was at fault, 503 when the database is unavailable (safe to
  retry), and 504 only for a query no worker answered in time. `code` is a stable,
  machine-readable word (`workflow_not_found`, `stale_task`, ...); `message` is for
  people. A 500 is always a server bug.
* Every payload (workflow input, activity result, signal argument, ...) travels in an
  envelope, `{"encoding", "data"}` (schema `Payload`). The server never looks inside one,
  so a client-side codec may compress or encrypt `data`.
* Mutating client calls may carry a `request_id`: a repeat with the same id (a retry
  after a lost response) gets the first answer instead of acting twice.
* Times are seconds: durations as numbers, instants as Unix timestamps (numbers), except
  history events, whose `timestamp` is an RFC 3339 string.
* Ids, names and other strings outside payloads must not contain NUL characters (400);
  payload data may hold any character.
* Any other path under `/api/v1` answers 404 `no_route`; a known path with a method it
  does not serve answers 405 `method_not_allowed` with an `Allow` header.
"""

INFO: dict[str, Any] = {
    "title": "plait HTTP API",
    "version": "1",
    "summary": "Durable workflows over HTTP/JSON - clients, workers and operators.",
    "description": DESCRIPTION,
    "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
}

TAGS = [
    {"name": "workflows", "description": "Start, observe and steer workflows (clients)."},
    {
        "name": "workers",
        "description": "The worker protocol - sessions, polls, task completions, heartbeats.",
    },
    {"name": "operations", "description": "Health, metrics, the web UI and this document."},
    {"name": "schedules", "description": "Start workflows on a cron or interval spec."},
]

PARAMETERS: dict[str, Any] = {
    "ns": {
        "name": "ns",
        "in": "path",
        "required": True,
        "description": "The namespace (`default` unless you use several).",
        "schema": {"type": "string", "minLength": 1, "examples": ["default"]},
    },
    "wid": {
        "name": "wid",
        "in": "path",
        "required": True,
        "description": "The workflow id (URL-encoded).",
        "schema": {"type": "string", "minLength": 1, "examples": ["order-1234"]},
    },
    "sched": {
        "name": "sched",
        "in": "path",
        "required": True,
        "description": "The schedule id (URL-encoded).",
        "schema": {"type": "string", "minLength": 1, "examples": ["nightly-report"]},
    },
    "sid": {
        "name": "sid",
        "in": "path",
        "required": True,
        "description": "A worker session id, as `openSession` returned it.",
        "schema": {"type": "string", "minLength": 1},
    },
    "runId": {
        "name": "run_id",
        "in": "query",
        "description": "A specific run; without it, the latest run of the workflow id.",
        "schema": {"type": "string"},
    },
    "wait": {
        "name": "wait",
        "in": "query",
        "description": "Seconds to wait for a final outcome (at most 60; 0 answers at once).",
        "schema": {"type": "number", "minimum": 0, "maximum": 60, "default": 30},
    },
    "typeFilter": {
        "name": "type",
        "in": "query",
        "description": "Only runs of this workflow type.",
        "schema": {"type": "string"},
    },
    "statusFilter": {
        "name": "status",
        "in": "query",
        "description": "Only runs in this status.",
        "schema": {"$ref": "#/components/schemas/WorkflowStatus"},
    },
    "searchAttributesFilter": {
        "name": "search_attributes",
        "in": "query",
        "description": (
            "A JSON object; only runs whose search attributes equal every given key (at most "
            f"{MAX_FILTERS} keys). Equality is JSON's: 1 matches 1.0, but not \"1\" nor true; a "
            "run without the key never matches. Served from an index, in the same order and "
            "pages as an unfiltered list."
        ),
        "schema": {"type": "string", "examples": ['{"customer": "c-42"}']},
    },
    "startedAfter": {
        "name": "started_after",
        "in": "query",
        "description": "Only runs started after this Unix timestamp.",
        "schema": {"type": "number"},
    },
    "startedBefore": {
        "name": "started_before",
        "in": "query",
        "description": "Only runs started before this Unix timestamp.",
        "schema": {"type": "number"},
    },
}

SHARED_RESPONSES: dict[int, tuple[str, str]] = {
    400: (
        "BadRequest",
        (
            "The request is malformed (`malformed_json`, `bad_request`, `bad_token`, or a "
            "query handler's error code). Do not retry it unchanged."
        ),
    ),
    404: (
        "NotFound",
        (
            "No such workflow (`workflow_not_found`), update (`update_not_found`), worker "
            "session (`session_not_found`: open a new one) or route (`no_route`)."
        ),
    ),
    409: (
        "Conflict",
        (
            "The state forbids it: `stale_task` (the token is no longer the task's current "
            "lease: it was completed, timed out or re-dispatched; the result was not "
            "recorded), `workflow_already_started`, `workflow_not_running`."
        ),
    ),
    413: (
        "PayloadTooLarge",
        (
            "The body exceeds the server's limit (`payload_too_large`; `PLAIT_MAX_PAYLOAD`, 2 "
            "MiB by default)."
        ),
    ),
    503: (
        "Unavailable",
        (
            "The database is unavailable (`unavailable`), or the workflow kept changing "
            "concurrently under this request (`busy`, several servers). Safe to retry."
        ),
    ),
}

NAMED: dict[str, Any] = {
    "Command": commands.Command,
    "Task": tasks.Task,
    "Event": history.Event,
    "TaskCompletion": completions.TaskCompletion,
    "EventType": EventType,
    "WorkflowStatus": WorkflowStatus,
}
"""Types that get a component of their own even where no field names them directly."""

OPERATIONS: list[Operation] = [
    Operation(
        "POST",
        "/api/v1/namespaces/{ns}/workflows",
        "startWorkflow",
        summary="Start a workflow (or signal-with-start)",
        tag="workflows",
        description=(
            "Creates a run and schedules its first workflow task on `task_queue`. With "
            "a running workflow of the same id, `id_conflict_policy` decides (`fail`: "
            "409 `workflow_already_started`); with a closed one, `id_reuse_policy` "
            "does. With `start_signal`, a running workflow of that id is only signalled "
            "(`started: false`). The namespace is created on first use."
        ),
        request=requests.StartWorkflowRequest,
        params=["ns"],
        replies={
            201: Reply("A new run was started.", responses.StartWorkflowResponse),
            200: Reply(
                (
                    "No new run; the existing running one was kept (`use_existing`) or "
                    "signalled (`start_signal`)."
                ),
                responses.StartWorkflowResponse,
            ),
        },
        errors=(400, 404, 409, 413, 503),
    ),
    Operation(
        "GET",
        "/api/v1/namespaces/{ns}/workflows",
        "listWorkflows",
        summary="List runs, newest first",
        tag="workflows",
        params=[
            "ns",
            "typeFilter",
            "statusFilter",
            "startedAfter",
            "startedBefore",
            "searchAttributesFilter",
            Param(
                "page_size",
                schema={"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
            ),
            Param(
                "next_page_token",
                schema={"type": "string"},
                description="The `next_page_token` of the previous page, as given.",
            ),
        ],
        replies={200: Reply("One page of runs.", responses.WorkflowList)},
        errors=(400, 404, 503),
    ),
    Operation(
        "GET",
        "/api/v1/namespaces/{ns}/workflow-count",
        "countWorkflows",
        summary="Count runs",
        tag="workflows",
        params=[
            "ns",
            "typeFilter",
            "statusFilter",
            "searchAttributesFilter",
            "startedAfter",
            "startedBefore",
        ],
        replies={200: Reply("The number of matching runs.", responses.Count)},
        errors=(400, 404, 503),
    ),
    Operation(
        "GET",
        "/api/v1/namespaces/{ns}/workflows/{wid}",
        "describeWorkflow",
        summary="Describe a run (status, pending activities, attempt log)",
        tag="workflows",
        params=["ns", "wid", "runId"],
        replies={
            200: Reply(
                "The run (the latest one of the id unless `run_id` is given).",
                responses.WorkflowDescription,
            )
        },
        errors=(400, 404, 503),
    ),
    Operation(
        "GET",
        "/api/v1/namespaces/{ns}/workflows/{wid}/history",
        "getWorkflowHistory",
        summary="A run's event history",
        tag="workflows",
        params=[
            "ns",
            "wid",
            "runId",
            Param(
                "after",
                schema={"type": "integer", "minimum": 0, "default": 0},
                description="Only events with a larger `event_id`.",
            ),
        ],
        replies={
            200: Reply(
                (
                    "The events, in `event_id` order. The same document is what `plait "
                    "replay` reads."
                ),
                history.History,
            )
        },
        errors=(400, 404, 503),
    ),
    Operation(
        "GET",
        "/api/v1/namespaces/{ns}/workflows/{wid}/result",
        "getWorkflowResult",
        summary="Long-poll for a run's outcome",
        tag="workflows",
        description=(
            "Waits up to `wait` seconds (at most 60) for the run to close. `closed: "
            "false` means it is still running: ask again. A run that continued as new, "
            "or failed and is retried by its retry policy, names the next run in "
            "`result.new_execution_run_id`."
        ),
        params=["ns", "wid", "runId", "wait"],
        replies={
            200: Reply("The run's status, and its outcome once closed.", responses.WorkflowResult)
        },
        errors=(400, 404, 503),
    ),
    Operation(
        "POST",
        "/api/v1/namespaces/{ns}/workflows/{wid}/terminate",
        "terminateWorkflow",
        summary="Terminate a running workflow at once (no cleanup code runs)",
        tag="workflows",
        request=requests.TerminateRequest,
        params=["ns", "wid"],
        replies={200: Reply("Terminated.", common.RunRef)},
        errors=(400, 404, 409, 413, 503),
    ),
    Operation(
        "POST",
        "/api/v1/namespaces/{ns}/workflows/{wid}/signal",
        "signalWorkflow",
        summary="Send a signal (durable once answered)",
        tag="workflows",
        request=requests.SignalRequest,
        params=["ns", "wid"],
        replies={
            200: Reply(
                ("The signal is in the run's history (or queued for its next workflow task)."),
                common.RunRef,
            )
        },
        errors=(400, 404, 409, 413, 503),
    ),
    Operation(
        "POST",
        "/api/v1/namespaces/{ns}/workflows/{wid}/cancel",
        "cancelWorkflow",
        summary="Ask a workflow to cancel (its code sees the cancellation and may clean up)",
        tag="workflows",
        request=requests.CancelRequest,
        params=["ns", "wid"],
        replies={
            200: Reply(
                "The cancellation request is recorded (asking twice records it once).",
                common.RunRef,
            )
        },
        errors=(400, 404, 409, 413, 503),
    ),
    Operation(
        "POST",
        "/api/v1/namespaces/{ns}/workflows/{wid}/query",
        "queryWorkflow",
        summary="Query a workflow's state through a worker",
        tag="workflows",
        description=(
            "The query becomes a task (kind `query`) on the workflow's task queue, "
            "offered first to the worker that has the run cached; this call waits for "
            "the answer up to `timeout` seconds. Nothing is written to the history. A "
            "handler's error answers 400 with the worker's code (`query_failed`, "
            "`unknown_query`, ...); no answer in time is 504 `query_timeout`."
        ),
        request=requests.QueryRequest,
        params=["ns", "wid"],
        replies={
            200: Reply("The query handler's result.", responses.QueryResponse),
            504: Reply(
                "No worker answered within `timeout` (`query_timeout`).", common.Error
            ),
        },
        errors=(400, 404, 413, 503),
    ),
    Operation(
        "POST",
        "/api/v1/namespaces/{ns}/workflows/{wid}/update",
        "updateWorkflow",
        summary="Send an update and wait for its outcome",
        tag="workflows",
        description=(
            "An update is requested (delivered in the next workflow task), then "
            "accepted (its validator passed; recorded in history) or rejected, then "
            "completed with a result or failure. The call waits up to `wait` seconds "
            "for a final status; a repeat with the same `update_id` never runs the "
            "update twice."
        ),
        request=requests.UpdateRequest,
        params=["ns", "wid"],
        replies={
            200: Reply("The update's status when the call returned.", responses.UpdateOutcome)
        },
        errors=(400, 404, 409, 413, 503),
    ),
    Operation(
        "GET",
        "/api/v1/namespaces/{ns}/workflows/{wid}/updates/{uid}",
        "getUpdateOutcome",
        summary="Long-poll for an update's outcome",
        tag="workflows",
        params=[
            "ns",
            "wid",
            Param(
                "uid",
                where="path",
                schema={"type": "string", "minLength": 1},
                description="The update id.",
                required=True,
            ),
            "runId",
            "wait",
        ],
        replies={
            200: Reply(
                "The update's status (waits up to `wait` seconds for a final one).",
                responses.UpdateOutcome,
            )
        },
        errors=(400, 404, 503),
    ),
    Operation(
        "POST",
        "/api/v1/namespaces/{ns}/sessions",
        "openSession",
        summary="Open a worker session (the lease that says the worker is alive)",
        tag="workers",
        description=(
            "A worker opens one session, then heartbeats it about every second. When "
            "heartbeats stop for `expiry` seconds, every task leased to the session "
            "goes back to its queue."
        ),
        request=sessions.OpenSessionRequest,
        params=["ns"],
        replies={201: Reply("The session.", sessions.SessionOpened)},
        errors=(400, 404, 413, 503),
    ),
    Operation(
        "POST",
        "/api/v1/sessions/{sid}/heartbeat",
        "heartbeatSession",
        summary="Renew a session and report the tasks the worker holds",
        tag="workers",
        description=(
            "`held` lists the tokens of every task the worker is working on. A task "
            "leased to this session more than about 2 s ago that is not listed (its "
            "poll response was lost) is re-offered; a workflow task still listed after "
            "its task timeout times out. 404 `session_not_found`: the session expired; "
            "open a new one."
        ),
        request=sessions.HeartbeatSessionRequest,
        params=["sid"],
        replies={200: Reply("Renewed.", sessions.Ok)},
        errors=(400, 404, 413, 503),
    ),
    Operation(
        "GET",
        "/api/v1/sessions/{sid}/watch",
        "watchSession",
        summary="Hold a request open while the worker lives",
        tag="workers",
        description=(
            "Renews the session, then answers after `wait` seconds (default 25, clamped "
            "to 0-60). A worker keeps one watch open and re-opens it as soon as it is "
            "answered. If the connection closes before the answer (the worker process "
            "died: its sockets close), the session expires after a short grace (0.25 s) "
            "unless the worker re-opens the watch or heartbeats, and its tasks go to "
            "other workers at once instead of after the expiry. 404 "
            "`session_not_found`: the session expired; open a new one."
        ),
        params=[
            "sid",
            Param(
                "wait",
                schema={"type": "number"},
                description="Seconds to hold the request (clamped to 0-60; default 25).",
            ),
        ],
        replies={200: Reply("The wait ended; open the next watch.", sessions.Ok)},
        errors=(400, 404, 503),
    ),
    Operation(
        "DELETE",
        "/api/v1/sessions/{sid}",
        "closeSession",
        summary="Close a session (a worker shutting down hands its tasks back at once)",
        tag="workers",
        params=["sid"],
        replies={200: Reply("Closed (also when it was unknown or had expired).", sessions.Closed)},
        errors=(404, 503),
    ),
    Operation(
        "POST",
        "/api/v1/namespaces/{ns}/task-queues/{queue}/poll",
        "pollTasks",
        summary="Long-poll a task queue for tasks of one kind",
        tag="workers",
        description=(
            "Answers as soon as at least one task is ready (up to `max_tasks` of them), "
            "or with an empty list after `wait` seconds. Every task is leased to the "
            "session and carries a fencing `token` that its completion must present. A "
            "workflow task sticky to another live session is not offered here for a few "
            "seconds."
        ),
        request=sessions.PollRequest,
        params=[
            "ns",
            Param(
                "queue",
                where="path",
                schema={"type": "string", "minLength": 1},
                description="The task queue.",
                required=True,
            ),
        ],
        replies={
            200: Reply(
                "The tasks now leased to the session (possibly none).", sessions.PollResponse
            )
        },
        errors=(400, 404, 413, 503),
    ),
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
            "completion created that the same worker can run at once."
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
        "/api/v1/query-tasks/respond",
        "respondQueryTask",
        summary="Answer a query task",
        tag="workers",
        request=completions.RespondQueryRequest,
        replies={
            200: Reply(
                "The answer reached the waiting caller (or will, through the database).",
                common.Recorded,
            )
        },
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
    Operation(
        "GET",
        "/api/v1/openapi.json",
        "getOpenApi",
        summary="This document",
        tag="operations",
        replies={
            200: Reply(
                "The OpenAPI document of this server's API.",
                schema={"type": "object", "required": ["openapi", "paths"]},
            )
        },
    ),
    Operation(
        "GET",
        "/health",
        "health",
        summary="Liveness and database reachability",
        tag="operations",
        replies={200: Reply("The server and its database answer.", responses.Health)},
        errors=(503,),
    ),
    Operation(
        "GET",
        "/metrics",
        "metrics",
        summary="Prometheus metrics",
        tag="operations",
        replies={
            200: Reply(
                "Metrics in the Prometheus text format.",
                schema={"type": "string"},
                media="text/plain",
            )
        },
    ),
    Operation(
        "GET",
        "/",
        "webUi",
        summary="The web UI (one page that reads this API)",
        tag="operations",
        replies={200: Reply("The page.", schema={"type": "string"}, media="text/html")},
    ),
    Operation(
        "GET",
        "/namespaces/{page}",
        "webUiPage",
        summary="A page of the web UI (the same page; its script renders the path)",
        tag="operations",
        description=(
            "`{ns}/workflows`, `{ns}/workflows/{id}[/{run_id}]`, `{ns}/schedules[/{id}]`, "
            "`{ns}/task-queues/{name}`; any other path is a 404."
        ),
        params=[Param("page", where="path", description="The page's path after /namespaces/.",
                      required=True)],
        replies={200: Reply("The page.", schema={"type": "string"}, media="text/html")},
        errors=(404,),
    ),
    Operation(
        "GET",
        "/ui/{version}/{name}.js",
        "webUiScript",
        summary="A script of the web UI (cached for good under the current version)",
        tag="operations",
        params=[Param("version", where="path", required=True),
                Param("name", where="path", required=True)],
        replies={200: Reply("The script.", schema={"type": "string"},
                            media="text/javascript")},
        errors=(404,),
    ),
    Operation(
        "GET",
        "/ui/{version}/style.css",
        "webUiStyle",
        summary="The style sheet of the web UI (cached for good under the current version)",
        tag="operations",
        params=[Param("version", where="path", required=True)],
        replies={200: Reply("The style sheet.", schema={"type": "string"}, media="text/css")},
    ),
    Operation(
        "PUT",
        "/api/v1/namespaces/{ns}/rate-limits",
        "setRateLimit",
        summary="Set (or replace) a rate limit on activity dispatch",
        tag="rate limits",
        request=ratelimits.RateLimit,
        params=["ns"],
        replies={200: Reply("The limit as stored.", ratelimits.RateLimit)},
        errors=(400, 503, 404),
    ),
    Operation(
        "GET",
        "/api/v1/namespaces/{ns}/rate-limits",
        "listRateLimits",
        summary="The namespace's rate limits",
        tag="rate limits",
        params=["ns"],
        replies={200: Reply("Every limit.", ratelimits.RateLimits)},
        errors=(503, 404, 400),
    ),
    Operation(
        "DELETE",
        "/api/v1/namespaces/{ns}/rate-limits",
        "deleteRateLimit",
        summary="Remove a rate limit",
        tag="rate limits",
        params=[
            "ns",
            Param("task_queue", schema={"type": "string", "minLength": 1}, required=True),
            Param("activity_type", schema={"type": "string"}),
        ],
        replies={200: Reply("Deleted.", ratelimits.Deleted)},
        errors=(404, 400, 503),
    ),
]

SCHEDULE = "/api/v1/namespaces/{ns}/schedules/{sched}"


def _schedule_change(path: str, op_id: str, summary: str, request: Any,
                     description: str = "") -> Operation:
    return Operation("POST", SCHEDULE + path, op_id, summary=summary, tag="schedules",
                     request=request, params=["ns", "sched"], description=description,
                     replies={200: Reply("The schedule id and the runs this change started.",
                                         schedules.Scheduled)},
                     errors=(400, 404, 413, 503))


OPERATIONS += [
    Operation(
        "POST",
        "/api/v1/namespaces/{ns}/schedules",
        "createSchedule",
        summary="Create a schedule",
        tag="schedules",
        description=(
            "Stores the schedule and arms its first due time. Exactly one of `cron` and "
            "`interval` is required. An invalid cron expression, time zone, interval or "
            "policy is refused (400 `invalid_schedule`, naming the field) before anything is "
            "stored. Each run it starts has the workflow id `{prefix}-{scheduled time, UTC, "
            "%Y-%m-%dT%H:%M:%SZ}` and the search attribute `ScheduleId`."
        ),
        request=schedules.CreateScheduleRequest,
        params=["ns"],
        replies={201: Reply("Created.", schedules.Scheduled)},
        errors=(400, 409, 404, 413, 503),
    ),
    Operation(
        "GET",
        "/api/v1/namespaces/{ns}/schedules",
        "listSchedules",
        summary="The namespace's schedules, in id order",
        tag="schedules",
        params=[
            "ns",
            Param("page_size", schema={"type": "integer", "minimum": 1, "maximum": 1000}),
            Param("next_page_token", schema={"type": "string"}),
        ],
        replies={200: Reply("A page of schedules.", schedules.ScheduleList)},
        errors=(400, 404, 503),
    ),
    Operation(
        "GET",
        SCHEDULE,
        "describeSchedule",
        summary="A schedule: definition, next due times, recent runs, counts",
        tag="schedules",
        params=["ns", "sched"],
        replies={200: Reply("The schedule.", schedules.ScheduleDescription)},
        errors=(404, 503, 400),
    ),
    Operation(
        "DELETE",
        SCHEDULE,
        "deleteSchedule",
        summary="Delete a schedule (runs it started are not touched)",
        tag="schedules",
        params=["ns", "sched"],
        replies={200: Reply("Deleted.", ratelimits.Deleted)},
        errors=(404, 503, 400),
    ),
    _schedule_change("/update", "updateSchedule", "Change the fields given",
                     schedules.ScheduleUpdate,
                     "Fields absent from the body keep their value; null clears an optional "
                     "one. The next due time is computed again from now."),
    _schedule_change("/pause", "pauseSchedule", "Pause (due times that pass are skipped)",
                     schedules.NoteRequest),
    _schedule_change("/unpause", "unpauseSchedule", "Unpause", schedules.NoteRequest),
    _schedule_change("/trigger", "triggerSchedule", "Start one run now (also while paused)",
                     schedules.TriggerRequest,
                     "Acts as if a due time had come this second, under the schedule's "
                     "overlap policy or the one given."),
    _schedule_change("/backfill", "backfillSchedule",
                     "Act on every due time in [start, end), in order, now",
                     schedules.BackfillRequest),
]


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI document of this API (built once per process; about 100 ms)."""
    return build_document(
        OPERATIONS,
        info=INFO,
        tags=TAGS,
        parameters=PARAMETERS,
        responses=SHARED_RESPONSES,
        error=common.Error,
        named=NAMED,
    )
