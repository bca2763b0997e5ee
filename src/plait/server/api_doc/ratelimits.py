"""Rate limits on activity dispatch: set, list, delete (:mod:`plait.server.api.ratelimits`)."""

from __future__ import annotations

from plait.protocol import ratelimits
from plait.protocol.openapi import Operation, Param, Reply

__all__ = ["OPERATIONS"]

OPERATIONS: list[Operation] = [
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
