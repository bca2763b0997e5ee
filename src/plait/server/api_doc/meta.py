"""Routes about the server itself: the OpenAPI document, health, metrics and the web UI
(:mod:`plait.server.api.meta`, :mod:`plait.server.ui`)."""

from __future__ import annotations

from plait.protocol import responses
from plait.protocol.openapi import Operation, Param, Reply

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
        "/api/v1/stream",
        "openRequestStream",
        summary="Open the request stream: this API's requests as frames of one WebSocket",
        tag="operations",
        description=(
            "A WebSocket upgrade (with the caller's API key, never from a browser). Each "
            "binary message is one request: the JSON array `[id, method, target]`, a newline, "
            "then the body; or `[id, \"CANCEL\", \"\"]` and a newline to stop request `id`. "
            "Each request is answered, as it finishes, by one message: `[id, status]`, a "
            "newline, then the body of the answer the route gives over HTTP. Every request "
            "is checked and served exactly as the same request over HTTP; closing the stream "
            "stops what is still running on it. The Python client and worker use it for "
            "bodies up to 1 MiB and fall back to HTTP where it is refused."
        ),
        replies={101: Reply("The stream is open.", schema={"type": "string"},
                            media="application/octet-stream")},
        errors=(400, 403, 404, 503),
    ),
    Operation(
        "GET",
        "/health",
        "health",
        summary="Liveness and database reachability",
        tag="operations",
        public=True,
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
        public=True,
        replies={200: Reply("The page.", schema={"type": "string"}, media="text/html")},
    ),
    Operation(
        "GET",
        "/namespaces/{page}",
        "webUiPage",
        summary="A page of the web UI (the same page; its script renders the path)",
        tag="operations",
        public=True,
        description=(
            "`{ns}/workflows`, `{ns}/workflows/{id}[/{run_id}]`, `{ns}/schedules[/{id}]`, "
            "`{ns}/task-queues/{name}`, `{ns}/batches`; any other path is a 404."
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
        public=True,
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
        public=True,
        params=[Param("version", where="path", required=True)],
        replies={200: Reply("The style sheet.", schema={"type": "string"}, media="text/css")},
    ),
]
