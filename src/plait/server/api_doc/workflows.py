"""Starting, listing, counting, describing and steering workflows
(:mod:`plait.server.api.workflows`)."""

from __future__ import annotations

from plait.protocol import common, history, requests, responses
from plait.protocol.openapi import Operation, Param, Reply

__all__ = ["OPERATIONS"]

NOT_MODIFIED = Reply(
    "Not modified: the answer is the one whose `ETag` the request's `If-None-Match` holds. "
    "No body; the `ETag` header names it (renewed when the server read it again)."
)

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
        errors=(400, 404, 409, 413, 429, 503),
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
            "ifNoneMatch",
        ],
        replies={
            200: Reply("One page of runs, with its `ETag`.", responses.WorkflowList),
            304: NOT_MODIFIED,
        },
        errors=(400, 404, 503),
    ),
    Operation(
        "GET",
        "/api/v1/namespaces/{ns}/workflow-count",
        "countWorkflows",
        summary="Count runs (in all, or per status too)",
        tag="workflows",
        description=(
            "With `group_by=status`, `by_status` gives the count of every status (0 for "
            "none), from one query: what a list page shows next to its filter."
        ),
        params=[
            "ns",
            "typeFilter",
            "statusFilter",
            "searchAttributesFilter",
            "startedAfter",
            "startedBefore",
            Param(
                "group_by",
                schema={"type": "string", "enum": ["status"]},
                description="`status`: count per status too (`by_status`).",
            ),
            "ifNoneMatch",
        ],
        replies={
            200: Reply("The number of matching runs, with its `ETag`.", responses.Count),
            304: NOT_MODIFIED,
        },
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
            Param(
                "page_size",
                schema={"type": "integer", "minimum": 0, "maximum": 10000, "default": 0},
                description="At most this many events (0 or absent: all of them). A full "
                            "page may have more after it: ask again with `after` set to "
                            "its last `event_id`.",
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
        errors=(400, 404, 409, 413, 429, 503),
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
]
