"""Exceptions to and from the failure dicts stored in histories and sent on the wire.

A failure is ``{"message", "type", "kind", "stack_trace", "non_retryable", "details", "cause",
...}``; ``kind`` picks the error class when it is turned back into an exception.
"""

from __future__ import annotations

import traceback
from typing import Any

from plait import errors
from plait.protocol.payload import decode, encode

__all__ = ["from_exception", "to_exception"]

Failure = dict[str, Any]


def from_exception(exc: BaseException, *, with_trace: bool = True) -> Failure:
    """Describe an exception (and its cause chain) as a failure dict.

    A cause's own traceback is inside its effect's (``format_exception`` follows the chain),
    so causes get none, except the one they brought over the wire: an activity's failure
    seen by a workflow that then fails keeps the activity's traceback, which is in no local
    frame and would otherwise be lost on the way to ``handle.result()``."""
    trace = "".join(traceback.format_exception(exc)) if with_trace else ""
    if not trace and isinstance(exc, errors.FailureError):
        trace = exc.stack_trace
    failure: Failure = {
        "message": str(exc) if not isinstance(exc, errors.PlaitError) else exc.message,
        "type": type(exc).__name__,
        "kind": "application",
        "stack_trace": trace,
        "non_retryable": False,
    }
    if isinstance(exc, errors.ApplicationError):
        failure["type"] = exc.type
        failure["non_retryable"] = exc.non_retryable
        failure["details"] = [encode(d) for d in exc.details]
    elif isinstance(exc, errors.TimeoutError):
        failure["kind"] = "timeout"
        failure["timeout_type"] = exc.timeout_type
    elif isinstance(exc, errors.ActivityError):
        failure.update(kind="activity", activity_type=exc.activity_type,
                       activity_id=exc.activity_id, retry_state=exc.retry_state)
    elif isinstance(exc, errors.ChildWorkflowError):
        failure.update(kind="child_workflow", workflow_type=exc.workflow_type,
                       workflow_id=exc.workflow_id, retry_state=exc.retry_state)
    elif isinstance(exc, errors.CancelledError):
        failure["kind"] = "cancelled"
    elif isinstance(exc, errors.TerminatedError):
        failure["kind"] = "terminated"
    cause = getattr(exc, "cause", None) or exc.__cause__
    if cause is not None and cause is not exc:
        failure["cause"] = from_exception(cause, with_trace=False)
    return failure


def to_exception(failure: Failure | None) -> errors.FailureError:
    """Rebuild the error a failure dict describes, cause chain included."""
    if not failure:
        return errors.ApplicationError("unknown failure")
    cause = to_exception(failure["cause"]) if failure.get("cause") else None
    kind = failure.get("kind", "application")
    message = failure.get("message", "")
    exc: errors.FailureError
    if kind == "timeout":
        exc = errors.TimeoutError(message, timeout_type=failure.get("timeout_type", ""),
                                  last_failure=cause)
    elif kind == "activity":
        exc = errors.ActivityError(message, cause=cause,
                                   activity_type=failure.get("activity_type", ""),
                                   activity_id=failure.get("activity_id", ""),
                                   retry_state=failure.get("retry_state"))
    elif kind == "child_workflow":
        exc = errors.ChildWorkflowError(message, cause=cause,
                                        workflow_type=failure.get("workflow_type", ""),
                                        workflow_id=failure.get("workflow_id", ""),
                                        retry_state=failure.get("retry_state"))
    elif kind == "cancelled":
        exc = errors.CancelledError(message, cause=cause)
    elif kind == "terminated":
        exc = errors.TerminatedError(message, cause=cause)
    else:
        details = [decode(d) for d in failure.get("details") or []]
        exc = errors.ApplicationError(message, *details, type=failure.get("type"),
                                      non_retryable=bool(failure.get("non_retryable")),
                                      cause=cause)
    exc.stack_trace = failure.get("stack_trace", "")
    return exc
