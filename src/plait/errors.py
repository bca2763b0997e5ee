"""Every error plait raises, in one small tree under :class:`PlaitError`.

Failures cross the wire as plain dicts (see :mod:`plait.protocol.failure`); these classes are
what user code sees on either side.
"""

from __future__ import annotations

import enum
from typing import Any, Literal

__all__ = [
    "ActivityError",
    "ApplicationError",
    "ApplicationErrorCategory",
    "CancelledError",
    "ChildWorkflowError",
    "FailureError",
    "NamespaceNotFoundError",
    "NonDeterminismError",
    "PayloadCodecError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PlaitError",
    "RPCError",
    "ScheduleAlreadyExistsError",
    "ScheduleNotFoundError",
    "TerminatedError",
    "TimeoutError",
    "UnauthenticatedError",
    "UpdateFailedError",
    "WorkflowAlreadyStartedError",
    "WorkflowFailureError",
    "WorkflowNotFoundError",
]

TimeoutType = Literal[
    "start_to_close", "schedule_to_close", "schedule_to_start", "heartbeat", "execution"
]
RetryState = Literal["maximum_attempts", "non_retryable", "timeout", "cancel", "worker_lost"]


class PlaitError(Exception):
    """Base of every error plait raises."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class FailureError(PlaitError):
    """A failure that was (or will be) recorded in a history; it can carry a cause."""

    stack_trace: str = ""
    """Where it was raised, when it crossed the wire (the remote traceback)."""

    def __init__(self, message: str = "", *, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause
        if cause is not None:
            self.__cause__ = cause


class ApplicationErrorCategory(enum.StrEnum):
    """Temporal's mark for an expected failure (``BENIGN``: a poll that finds nothing yet),
    accepted so that code using it runs unchanged. Temporal uses it to log such failures
    quietly; a plait worker does not log an activity's failures at all (the attempt log
    holds them), so here it only rides on the exception (``.category``): it is not stored
    in the history."""

    UNSPECIFIED = "unspecified"
    BENIGN = "benign"


class ApplicationError(FailureError):
    """Raised by user code. In a workflow it fails the workflow; in an activity, the attempt.

    ``type`` defaults to the class name, so subclasses name themselves in histories.
    """

    def __init__(
        self,
        message: str = "",
        *details: Any,
        type: str | None = None,
        non_retryable: bool = False,
        cause: BaseException | None = None,
        category: ApplicationErrorCategory | str = ApplicationErrorCategory.UNSPECIFIED,
    ) -> None:
        super().__init__(message, cause=cause)
        self.details = tuple(details)
        self.type = type or self.__class__.__name__
        self.non_retryable = non_retryable
        self.category = ApplicationErrorCategory(category)

    def __str__(self) -> str:
        if self.type and self.type != "ApplicationError":
            return f"{self.type}: {self.message}"
        return self.message


class TimeoutError(FailureError):
    """A timeout fired: ``timeout_type`` says which; ``last_failure`` an earlier attempt's error."""

    def __init__(
        self,
        message: str = "",
        *,
        timeout_type: str = "start_to_close",
        last_failure: BaseException | None = None,
    ) -> None:
        super().__init__(message or f"{timeout_type} timeout", cause=last_failure)
        self.timeout_type = timeout_type
        self.last_failure = last_failure


class CancelledError(FailureError):
    """Cancellation as seen by ``handle.result()`` or as an activity's cause."""


class TerminatedError(FailureError):
    """The workflow was terminated; the message carries the reason."""


class ActivityError(FailureError):
    """Raised in a workflow when an activity finally fails; ``.cause`` says why."""

    def __init__(
        self,
        message: str = "",
        *,
        cause: BaseException | None = None,
        activity_type: str = "",
        activity_id: str = "",
        retry_state: str | None = None,
    ) -> None:
        super().__init__(message or f"activity {activity_type} failed", cause=cause)
        self.activity_type = activity_type
        self.activity_id = activity_id
        self.retry_state = retry_state

    def __str__(self) -> str:
        tail = f": {self.cause}" if self.cause is not None else ""
        return f"activity {self.activity_type!r} (id {self.activity_id}) failed{tail}"


class ChildWorkflowError(FailureError):
    """Raised in a workflow when a child workflow fails; ``.cause`` says why."""

    def __init__(
        self,
        message: str = "",
        *,
        cause: BaseException | None = None,
        workflow_type: str = "",
        workflow_id: str = "",
        retry_state: str | None = None,
    ) -> None:
        super().__init__(message or f"child workflow {workflow_type} failed", cause=cause)
        self.workflow_type = workflow_type
        self.workflow_id = workflow_id
        self.retry_state = retry_state


class WorkflowFailureError(FailureError):
    """Raised by ``handle.result()`` when the run did not complete; ``.cause`` says how."""

    def __str__(self) -> str:
        return f"{self.message}: {self.cause}" if self.cause is not None else self.message


class WorkflowAlreadyStartedError(PlaitError):
    """A workflow with this id is running, or its reuse policy refuses a new run."""

    def __init__(self, message: str = "", *, workflow_id: str = "", run_id: str = "") -> None:
        super().__init__(message or f"workflow {workflow_id!r} already started")
        self.workflow_id = workflow_id
        self.run_id = run_id


class WorkflowNotFoundError(PlaitError):
    """No workflow (or run) with this id exists in the namespace."""


class ScheduleAlreadyExistsError(PlaitError):
    """A schedule with this id exists in the namespace."""


class ScheduleNotFoundError(PlaitError):
    """No schedule with this id exists in the namespace."""


class PayloadCodecError(PlaitError):
    """A payload could not be encoded or decoded by the payload codec (``plait.codec``): its
    key is not among the codec's keys, it was tampered with, or it needs a codec that is not
    configured. Never a reason to pass the encoded bytes on as if they were the value."""


class NonDeterminismError(PlaitError):
    """Replaying the history produced commands that differ from what the history holds."""


class UpdateFailedError(FailureError):
    """The update's validator or handler raised; ``.cause`` is that error."""

    def __str__(self) -> str:
        return f"{self.message}: {self.cause}" if self.cause is not None else self.message


class RPCError(PlaitError):
    """The server answered a request with an error (the one JSON error shape of the API)."""

    def __init__(self, message: str, *, status: int, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code

    def __str__(self) -> str:
        return f"{self.message} ({self.code})"


class NamespaceNotFoundError(RPCError):
    """The namespace was never created (``create_namespace``, ``plait namespace create``); the
    message names the known ones. HTTP 404 ``namespace_not_found``."""


class UnauthenticatedError(RPCError):
    """The server requires an API key and got none, or one that is unknown, revoked or
    expired (``api_key=`` or ``PLAIT_API_KEY``). HTTP 401 ``unauthenticated``."""


class PermissionDeniedError(RPCError):
    """The API key lacks the role for this call, or does not cover this namespace. HTTP 403
    ``permission_denied``; it never says whether the workflow exists."""


class PayloadTooLargeError(RPCError):
    """The request (a start, signal, signal-with-start or update with its arguments) is
    larger than the server's payload limit (2 MiB by default, ``plait server
    --max-payload``), so the server refused it and recorded nothing. HTTP 413
    ``payload_too_large``; ``size`` is the request's size in bytes. Store large data
    elsewhere and pass a reference, or compress it with a payload codec."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 413,
        code: str = "payload_too_large",
        size: int | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.size = size
