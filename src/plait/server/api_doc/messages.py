"""Queries and updates, which wait for a worker's answer, and the worker's answer to a
query task (:mod:`plait.server.api.messages`)."""

from __future__ import annotations

from plait.protocol import common, completions, requests, responses
from plait.protocol.openapi import Operation, Param, Reply

__all__ = ["OPERATIONS"]

OPERATIONS: list[Operation] = [
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
            "`unknown_query`, ...); no answer in time is 504 `query_timeout`. With "
            "`as_of_event`, a worker answers from the state right after that event: it "
            "replays the history up to the last WORKFLOW_TASK_COMPLETED at or before it, "
            "in a fresh instance; an event beyond the history is 400 `bad_request`. A "
            "`header` goes with the query task to the worker (its inbound interceptors "
            "see it) and is not stored. The "
            "query `__stack_trace` is built in: where each of the workflow's coroutines "
            "waits, as text, a `file:line in function` a line."
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
            Param("wait_for_stage", schema={"enum": ["accepted", "completed"]},
                  description="End the wait at acceptance (`accepted`) or at the final "
                              "outcome (`completed`, the default)."),
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
]
