"""The small shapes every other message is built of: payload envelopes, failures, retry
policies, task tokens, durations, the error body.

Each type here is what the JSON on the wire has always looked like; decoding into it checks
the JSON types (and the documented bounds) while parsing, and the OpenAPI document is
generated from it (:mod:`plait.protocol.openapi`). Field docstrings (the string under a
field) become the document's descriptions.
"""

from __future__ import annotations

from typing import Annotated, Any

from msgspec import Meta, Struct

__all__ = [
    "AttemptNo",
    "Error",
    "ErrorBody",
    "EventId",
    "Failure",
    "Header",
    "JsonObject",
    "Memo",
    "Name",
    "Payload",
    "Recorded",
    "RequestId",
    "RequestNo",
    "RetryPolicy",
    "RunId",
    "RunRef",
    "SearchAttributes",
    "Seconds",
    "TaskToken",
]

Name = Annotated[str, Meta(min_length=1)]
"""An id or a name that must not be empty (workflow ids, types, queues, ...)."""

AttemptNo = Annotated[int, Meta(ge=1)]
"""Attempts count from 1."""

EventId = Annotated[int, Meta(ge=0)]
"""An event id (from 1) or 0 for "none yet"; also used for other counts."""

Seconds = Annotated[float, Meta(gt=0, description="A duration in seconds.")] | None
"""A duration in seconds; null or absent for none."""

TaskToken = Annotated[str, Meta(
    pattern=r"^[0-9]{1,18}\.[0-9]{1,18}$", examples=["42.1"],
    description="The fencing token of a dispatched task: `<task id>.<dispatch number>`. "
                "Every dispatch of a task (a re-dispatch after a lost worker, a retry) gets a "
                "new one, and only the current one is accepted; an old one gets 409 "
                "`stale_task`.")]

RequestNo = Annotated[int, Meta(
    ge=1, le=2**62, examples=[17],
    description="The worker's number for a request that may bring it tasks (a poll, a "
                "completion that asks for tasks back), increasing over the worker's life. "
                "The server records it with every task the answer carries; a heartbeat then "
                "says which numbers the worker had sent and which it was still waiting on "
                "when it listed its tasks, so a task the worker's answer carried and it does "
                "not list is known to be lost at once, and one still on its way is never "
                "taken for lost (`heartbeatSession`).")]

RequestId = Annotated[str | None, Meta(
    description="Makes the call idempotent; a repeat with the same id gets the first answer.")]

RunId = Annotated[str | None, Meta(
    description="A specific run; null or absent for the latest run of the workflow id.")]

JsonObject = dict[str, Any]
"""A JSON object whose keys and values the user chose (marker details, a free-form result):
the server stores and returns it as sent, so it has no shape to declare."""

Memo = Annotated[JsonObject, Meta(extra={"memo": True})]
"""A run's memo: any JSON values by the names the user gave them. With a payload codec a
value may be an envelope the codec made (``extra={"memo": True}`` marks memos for it)."""

MarkerDetails = Annotated[JsonObject, Meta(extra={"marker": True})]
"""A marker's details: JSON of the recorder's choosing, where a local activity's marker keeps
its result (an envelope) and its failure (whose ``details`` are envelopes). With a payload
codec those envelopes are encoded like any payload (``extra={"marker": True}`` marks them)."""

SearchAttributes = JsonObject
"""A run's search attributes: any JSON scalars or lists by name; the server indexes them."""

Header = Annotated[JsonObject, Meta(
    description="Context that travels with a start, signal, activity or child (tracing ids, "
                "tenant ids).")]

Payload = Annotated[JsonObject, Meta(
    title="Payload", extra={"envelope": True},
    description="The envelope of every value a workflow, activity, signal, query or update "
                "carries. With the default converter `encoding` is `json` and `data` the JSON "
                "value itself; a client-side codec may use another encoding (and, say, a "
                "base64 string as data). The server stores and forwards payloads without "
                "looking inside.",
    extra_json_schema={
        "required": ["encoding", "data"],
        "properties": {"encoding": {"type": "string", "examples": ["json"]},
                       "data": {"description": "Any JSON value."}},
        "examples": [{"encoding": "json", "data": {"order_id": 1234, "items": 3}}]})]
"""A payload envelope ``{"encoding", "data", ...}``.

A plain dict rather than a Struct on purpose: the server must hand envelopes on untouched,
including any key a codec adds (a key id, compression flags), and a Struct would drop keys
it does not declare. :func:`plait.protocol.envelopes.bad_envelope` checks the two required
keys after decoding (``extra={"envelope": True}`` marks the fields it looks at)."""


class Failure(Struct, kw_only=True, omit_defaults=True):
    """An error, as stored in histories and sent by workers. `kind` picks the error class
    when it is turned back into an exception: `application` (the default), `timeout` (with
    `timeout_type`), `activity` and `child_workflow` (wrapping their `cause`), `cancelled`,
    `terminated`."""

    message: str
    type: str | None = None
    """The error type (an exception class name or `ApplicationError.type`); retry policies
    match it."""
    kind: str | None = None
    """A :class:`~plait.protocol.enums.FailureKind`; a plain string so that a newer worker's
    kind reads as `application` here rather than failing the whole request."""
    stack_trace: str | None = None
    non_retryable: bool | None = None
    """Never retry this failure, whatever the retry policy."""
    details: list[Payload] | None = None
    cause: Failure | None = None
    timeout_type: str | None = None
    """A :class:`~plait.protocol.enums.TimeoutType` (``kind`` `timeout`)."""
    retry_state: str | None = None
    """A :class:`~plait.protocol.enums.RetryState`: why retrying stopped."""
    activity_type: str | None = None
    activity_id: str | None = None
    workflow_type: str | None = None
    workflow_id: str | None = None


class RetryPolicy(Struct, kw_only=True, omit_defaults=True):
    """Exponential backoff between attempts, bounded by attempts and by timeouts."""

    initial_interval: Annotated[float, Meta(gt=0)] | None = None
    """Seconds before the second attempt (default 1)."""
    backoff_coefficient: Annotated[float, Meta(ge=1)] | None = None
    """Each delay is the previous one times this (default 2)."""
    maximum_interval: float | None = None
    """Cap on the delay in seconds; null means 100 x `initial_interval`."""
    maximum_attempts: Annotated[int, Meta(ge=0)] | None = None
    """Attempts in all; 0 (the default) is unlimited."""
    non_retryable_error_types: list[str] | None = None
    """Failure types (`Failure.type`) that are never retried."""


class ErrorBody(Struct, kw_only=True, forbid_unknown_fields=True):
    code: Annotated[str, Meta(examples=["workflow_not_found", "stale_task", "bad_request"])]
    """A stable machine-readable word (:class:`~plait.protocol.enums.ErrorCode`)."""
    message: str
    """What went wrong, for people."""


class Error(Struct, kw_only=True, forbid_unknown_fields=True):
    """The one error shape of the API."""

    error: ErrorBody


class RunRef(Struct, kw_only=True):
    """Which run a call acted on."""

    workflow_id: str
    run_id: str


class Recorded(Struct, kw_only=True):
    """The server recorded what the worker reported."""

    recorded: bool
