"""Task queues: who polls one and what waits on it (:mod:`plait.server.api.task_queues`)."""

from __future__ import annotations

from plait.protocol import responses
from plait.protocol.openapi import Operation, Param, Reply

__all__ = ["OPERATIONS"]

OPERATIONS: list[Operation] = [
    Operation(
        "GET",
        "/api/v1/namespaces/{ns}/task-queues/{queue}",
        "describeTaskQueue",
        summary="The workers polling a task queue and its backlog",
        tag="workflows",
        description=(
            "No `pollers` while tasks wait in `backlog`: no worker serves the queue (or none "
            "runs these types), so its workflows are stuck until one starts."
        ),
        params=["ns", Param("queue", where="path", required=True,
                            description="The task queue (URL-encoded).")],
        replies={200: Reply("The queue.", responses.TaskQueueDescription)},
        errors=(400, 404, 503),
    ),
]
