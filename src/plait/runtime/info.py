"""``workflow.info()``: who this run is, from its task and its WORKFLOW_EXECUTION_STARTED."""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

from msgspec.structs import asdict

from plait.protocol.attributes import WorkflowExecutionStartedAttributes
from plait.protocol.common import Header, Memo, SearchAttributes
from plait.runtime.history_size import HistorySize

__all__ = ["RunIdentity", "WorkflowInfo"]


class _Identified(Protocol):
    """Anything that says which run it is about (a workflow or query task)."""

    @property
    def workflow_id(self) -> str: ...
    @property
    def run_id(self) -> str: ...
    @property
    def workflow_type(self) -> str: ...
    @property
    def task_queue(self) -> str: ...
    @property
    def namespace(self) -> str: ...


@dataclasses.dataclass(frozen=True, slots=True)
class RunIdentity:
    """Who a run is: all an instance keeps of the task that created it (the task itself, its
    events and token, would stay alive as long as the instance sits in the worker's cache)."""

    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    namespace: str = "default"

    @staticmethod
    def of(task: _Identified) -> RunIdentity:
        return RunIdentity(task.workflow_id, task.run_id, task.workflow_type, task.task_queue,
                           task.namespace)


class WorkflowInfo:
    """``workflow.info()``: who this run is."""

    def __init__(self, who: RunIdentity, started: WorkflowExecutionStartedAttributes | None,
                 size: HistorySize) -> None:
        self._size = size
        self.workflow_id: str = who.workflow_id
        self.run_id: str = who.run_id
        self.workflow_type: str = who.workflow_type
        self.task_queue: str = who.task_queue
        self.namespace: str = who.namespace
        self.attempt: int = 1
        self.start_time: float = 0.0
        self.continued_from_run_id: str | None = None
        self.parent: Any = None
        """The parent run as ``{"namespace", "workflow_id", "run_id"}``, for a child."""
        self.execution_timeout: float | None = None
        self.task_timeout: float = 10.0
        """Seconds a workflow task may stay open (the server's default is 10)."""
        self.headers: Header = {}
        self.search_attributes: SearchAttributes = {}
        self.memo: Memo | None = None
        if started is not None:
            self.attempt = started.attempt
            self.continued_from_run_id = started.continued_from_run_id
            self.parent = asdict(started.parent) if started.parent is not None else None
            self.execution_timeout = started.execution_timeout
            self.task_timeout = started.task_timeout or 10.0
            self.headers = started.header or {}
            self.search_attributes = dict(started.search_attributes or {})
            self.memo = started.memo

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
