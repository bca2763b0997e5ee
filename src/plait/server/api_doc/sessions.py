"""Worker sessions (open, heartbeat, watch, close) and polls for tasks
(:mod:`plait.server.api.sessions`)."""

from __future__ import annotations

from plait.protocol import sessions
from plait.protocol.openapi import Operation, Param, Reply

__all__ = ["OPERATIONS"]

OPERATIONS: list[Operation] = [
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
            "leased to this session that is not listed (the answer that carried it was "
            "lost) is re-offered: at once when the worker numbers its requests "
            "(`request_no`) and `requests_sent`/`requests_open` show it was done with the "
            "task's request; otherwise once it has been unlisted about 2 s after its "
            "answer left. A workflow task still listed after its task timeout times out. "
            "404 `session_not_found`: the session expired; open a new one."
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
]
