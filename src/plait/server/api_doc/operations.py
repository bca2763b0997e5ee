"""Operating running workflows: pause, unpause, reset, delete, and activity controls
(:mod:`plait.server.api.operations`)."""

from __future__ import annotations

from plait.protocol import common, requests
from plait.protocol.openapi import Operation, Param, Reply

__all__ = ["OPERATIONS"]

_WF = "/api/v1/namespaces/{ns}/workflows/{wid}"
_AID = Param("aid", where="path", required=True, description="The activity's id in the run.",
             schema={"type": "string", "minLength": 1})

OPERATIONS: list[Operation] = [
    Operation(
        "POST",
        _WF + "/pause",
        "pauseWorkflow",
        summary="Pause a running workflow: no workflow task and no new activity attempt of "
                "it is handed out until it is unpaused",
        tag="workflows",
        request=requests.PauseRequest,
        params=["ns", "wid"],
        replies={200: Reply("Paused (or already paused).", common.RunRef)},
        errors=(400, 404, 409, 413, 503),
    ),
    Operation(
        "POST",
        _WF + "/unpause",
        "unpauseWorkflow",
        summary="Let a paused workflow go on",
        tag="workflows",
        request=requests.UnpauseRequest,
        params=["ns", "wid"],
        replies={200: Reply("Unpaused (or was not paused).", common.RunRef)},
        errors=(400, 404, 409, 413, 503),
    ),
    Operation(
        "POST",
        _WF + "/reset",
        "resetWorkflow",
        summary="Reset a workflow to an event: its running run is terminated and a new run "
                "starts from the history up to that point (the task completed there runs "
                "again on the code deployed now; nothing before it does)",
        tag="workflows",
        request=requests.ResetRequest,
        params=["ns", "wid"],
        replies={200: Reply("The new run.", common.RunRef)},
        errors=(400, 404, 413, 503),
    ),
    Operation(
        "DELETE",
        _WF,
        "deleteWorkflow",
        summary="Delete a run with its history, attempt log and visibility rows (a running "
                "run is terminated first)",
        tag="workflows",
        params=["ns", "wid", "runId",
                Param("request_id", description="Makes the call idempotent; a repeat with "
                      "the same id gets the first answer (a retry after a lost response).")],
        replies={200: Reply("The run deleted.", common.RunRef)},
        errors=(400, 404, 503),
    ),
    *(Operation(
        "POST",
        _WF + "/activities/{aid}/" + action,
        action + "Activity",
        summary=summary,
        tag="workflows",
        request=requests.ActivityControlRequest,
        params=["ns", "wid", _AID],
        replies={200: Reply("Done.", common.RunRef)},
        errors=(400, 404, 409, 413, 503),
    ) for action, summary in (
        ("pause", "Pause a pending activity: no new attempt starts until it is unpaused"),
        ("unpause", "Let a paused activity's next attempt start"),
        ("reset", "Start an activity's attempt count again at 1, with a new attempt now "
                  "(a running attempt's result is still taken)"))),
]
