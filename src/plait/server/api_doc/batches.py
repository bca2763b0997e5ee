"""Batch jobs: start, list, describe, cancel (:mod:`plait.server.api.batches`)."""

from __future__ import annotations

from plait.protocol import batches
from plait.protocol.openapi import Operation, Param, Reply

__all__ = ["OPERATIONS"]

_NS = "/api/v1/namespaces/{ns}/batches"
_BATCH = Param(
    "batch",
    where="path",
    required=True,
    description="The batch job's id, as `startBatch` returned it.",
    schema={"type": "string", "minLength": 1},
)

OPERATIONS: list[Operation] = [
    Operation(
        "POST",
        _NS,
        "startBatch",
        summary="Start a batch job: terminate, cancel, signal, reset, pause or unpause every "
                "run a filter matches",
        tag="workflows",
        description=(
            "Stores a durable job and answers at once; the server then acts on the runs the "
            "filter matched when the job started, a page at a time, at most "
            "`rate_per_second` runs a second (default 50), each through the same operation "
            "as the single-workflow route. The job survives a server restart and acts on "
            "each run once. terminate, cancel and signal act on running runs only. `total` "
            "is the number of runs matched at the start. A reset batch is refused (400) "
            "while the server has no reset operation."
        ),
        request=batches.StartBatchRequest,
        params=["ns"],
        replies={201: Reply("Started.", batches.BatchDescription)},
        errors=(400, 404, 413, 503),
    ),
    Operation(
        "GET",
        _NS,
        "listBatches",
        summary="The namespace's batch jobs, newest first",
        tag="workflows",
        params=[
            "ns",
            Param("page_size", schema={"type": "integer", "minimum": 1, "maximum": 1000}),
            Param("next_page_token", schema={"type": "string"}),
        ],
        replies={200: Reply("A page of batch jobs.", batches.BatchList)},
        errors=(400, 404, 503),
    ),
    Operation(
        "GET",
        _NS + "/{batch}",
        "describeBatch",
        summary="A batch job: its operation, filter, state and progress",
        tag="workflows",
        params=["ns", _BATCH],
        replies={200: Reply("The batch job.", batches.BatchDescription)},
        errors=(400, 404, 503),
    ),
    Operation(
        "POST",
        _NS + "/{batch}/cancel",
        "cancelBatch",
        summary="Stop a running batch job (runs already acted on stay so)",
        tag="workflows",
        request=batches.CancelBatchRequest,
        params=["ns", _BATCH],
        replies={
            200: Reply("The batch job, canceled (or as it ended before).", batches.BatchDescription)
        },
        errors=(400, 404, 413, 503),
    ),
]
