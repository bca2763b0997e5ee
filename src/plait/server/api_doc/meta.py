"""Routes about the server itself: the OpenAPI document, health, metrics and the web UI
(:mod:`plait.server.api.meta`, :mod:`plait.server.ui`)."""

from __future__ import annotations

from plait.protocol import responses
from plait.protocol.openapi import Operation, Reply

__all__ = ["OPERATIONS"]

OPERATIONS: list[Operation] = [
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
]
