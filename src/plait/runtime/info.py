"""``workflow.info()``: who this run is, from its task and its WORKFLOW_EXECUTION_STARTED."""

from __future__ import annotations

from typing import Any

from plait.runtime.history_size import HistorySize

__all__ = ["WorkflowInfo"]


class WorkflowInfo:
    """``workflow.info()``: who this run is."""

    def __init__(self, task: dict[str, Any], started: dict[str, Any] | None,
                 size: HistorySize) -> None:
        attrs = started or {}
        self._size = size
        self.workflow_id: str = task["workflow_id"]
        self.run_id: str = task["run_id"]
        self.workflow_type: str = task["workflow_type"]
        self.task_queue: str = task["task_queue"]
        self.namespace: str = task["namespace"]
        self.attempt: int = attrs.get("attempt", 1)
        self.start_time: float = 0.0
        self.continued_from_run_id: str | None = attrs.get("continued_from_run_id")
        self.parent: Any = attrs.get("parent")
        self.execution_timeout: float | None = attrs.get("execution_timeout")
        self.headers: dict[str, Any] = attrs.get("header") or {}
        self.search_attributes: dict[str, Any] = dict(attrs.get("search_attributes") or {})
        self.memo: dict[str, Any] | None = attrs.get("memo")

    @property
    def continue_as_new_suggested(self) -> bool:
        """True once the history is past 10,000 events or 10 MiB of payloads (see
        :mod:`plait.runtime.history_size`); it changes only between activations."""
        return self._size.suggests_continue_as_new()

    def is_continue_as_new_suggested(self) -> bool:
        """Temporal's spelling of :attr:`continue_as_new_suggested`."""
        return self.continue_as_new_suggested

    def get_current_history_length(self) -> int:
        """The history's length as this activation sees it (Temporal's spelling)."""
        return self._size.events

    def __repr__(self) -> str:
        return f"WorkflowInfo(workflow_id={self.workflow_id!r}, run_id={self.run_id!r})"
