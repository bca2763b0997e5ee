"""The failure of a workflow *task* (not of the workflow): retried, shown, fixable."""

from __future__ import annotations

__all__ = ["WorkflowTaskError"]


class WorkflowTaskError(Exception):
    """The workflow task failed (a bug in workflow code, or non-determinism); retried."""

    def __init__(self, cause: BaseException, kind: str = "workflow_error") -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.kind = kind
