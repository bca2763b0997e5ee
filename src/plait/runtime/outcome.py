"""What one activation gives back to the worker: the commands, or the workflow task's failure.

An activation never raises into the worker loop: a bug in workflow code, a non-determinism
or a history this runtime cannot read all come back as a :class:`TaskFailure`, which the worker
reports as a failed *workflow task* (retried with backoff, shown, fixable by a deployment).
"""

from __future__ import annotations

import dataclasses
import traceback
from typing import Literal

from plait.protocol.commands import Command
from plait.protocol.common import Failure, Payload

__all__ = ["ActivationResult", "FailureKind", "QueryAnswer", "TaskFailure"]

FailureKind = Literal["workflow_error", "non_determinism", "unknown_event", "worker_error"]
"""Why the task failed, as the server records it (``cause``): the workflow code raised, it
diverged from history, the history holds an event type this runtime does not know, or
the runtime itself broke."""


@dataclasses.dataclass(frozen=True)
class TaskFailure:
    """A failed workflow task: what the worker reports, and the error behind it."""

    message: str
    traceback: str
    """The formatted traceback of :attr:`cause` (where in the workflow code it was raised)."""
    kind: FailureKind
    cause: BaseException
    """The error itself, for callers that re-raise it (the :class:`~plait.testing.Replayer`)."""

    @staticmethod
    def of(cause: BaseException, kind: FailureKind = "workflow_error") -> TaskFailure:
        return TaskFailure(str(cause), "".join(traceback.format_exception(cause)), kind, cause)


@dataclasses.dataclass(frozen=True)
class ActivationResult:
    """The commands an activation produced, or why its workflow task failed (no commands)."""

    commands: list[Command]
    failure: TaskFailure | None = None

    @staticmethod
    def failed(failure: TaskFailure) -> ActivationResult:
        return ActivationResult([], failure)


@dataclasses.dataclass(frozen=True)
class QueryAnswer:
    """A query's answer: ``result``, or ``failure`` with the error ``code`` its caller gets."""

    result: Payload | None = None
    failure: Failure | None = None
    code: str | None = None

    @staticmethod
    def failed(message: str, code: str = "query_failed") -> QueryAnswer:
        return QueryAnswer(failure=Failure(message=message), code=code)
