"""What every route's documentation shares: the document's description and metadata, its
tags, the path and query parameters routes name (``components.parameters``) and the error
responses they share (``components.responses``)."""

from __future__ import annotations

from plait.protocol.openapi import InfoObject, ParameterObject
from plait.store.search_index import MAX_FILTERS

__all__ = ["DESCRIPTION", "INFO", "PARAMETERS", "SECURITY", "SHARED_RESPONSES", "TAGS"]

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
* A request body over the server's payload limit (2 MiB by default, `--max-payload`) is
  refused whole with 413 `payload_too_large`. With `--auth --key-rate-limit N`, a key
  making more than N requests per second is answered 429 `rate_limited` with a
  `Retry-After` header.
* Any other path under `/api/v1` answers 404 `no_route`; a known path with a method it
  does not serve answers 405 `method_not_allowed` with an `Allow` header.
* A server started with `--auth` wants an API key on every route not marked public
  (`security: []`: health, the web UI's page and files): `Authorization: Bearer <key>`
  (scheme `apiKey`). No valid key is a 401 `unauthenticated`; a key without the route's
  role or the path's namespace, a 403 `permission_denied`. A request a browser sends that
  changes state also carries the key's `X-CSRF-Token` (`GET /api/v1/csrf`). A server
  without `--auth` ignores keys.
"""

SECURITY: dict[str, dict[str, str]] = {
    "apiKey": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "plait_<key_id>.<secret>",
        "description": "An API key (`plait apikey create`), on a server started with "
                       "`--auth`.",
    },
}
"""The credentials every route not marked public takes."""

INFO: InfoObject = {
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

PARAMETERS: dict[str, ParameterObject] = {
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
    "ifNoneMatch": {
        "name": "If-None-Match",
        "in": "header",
        "description": (
            "The `ETag` of an earlier answer to the same URL: when the answer would be the "
            "same, it is `304 Not Modified` with no body. On a server with a database of its "
            "own (SQLite), an answer no run's start, close, deletion or search-attribute "
            "change could alter is known without reading the database."
        ),
        "schema": {"type": "string"},
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
    401: (
        "Unauthenticated",
        (
            "A server started with `--auth` got no API key, or one it does not know, or a "
            "revoked or expired one (`unauthenticated`). Decided from the route alone: it "
            "never says whether the workflow or session named exists."
        ),
    ),
    403: (
        "PermissionDenied",
        (
            "The key lacks the route's role or the path's namespace, or a browser's request "
            "that changes state lacks the key's `X-CSRF-Token` (`permission_denied`). Decided "
            "before anything is read: it never says whether the workflow exists."
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
            "The body exceeds the server's limit (`payload_too_large`; `--max-payload` or "
            "`PLAIT_MAX_PAYLOAD`, 2 "
            "MiB by default)."
        ),
    ),
    415: (
        "UnsupportedMediaType",
        (
            "The body is a form or plain text (`unsupported_media_type`): what a page on "
            "another site could send through a browser. Send JSON."
        ),
    ),
    429: (
        "TooManyRequests",
        (
            "`limit_exceeded`: a per-run limit refuses it (a signal past the run's "
            "`--max-signals-per-run`); asking again does not help until the run continues as "
            "new. `rate_limited` (any route, on a server started with `--auth "
            "--key-rate-limit`): the API key made more requests per second than the server "
            "allows; retry after the `Retry-After` header's seconds."
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

