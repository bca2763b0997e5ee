"""What the server keeps about a run between its state changes, beside the history.

Stored as one JSON document in the run's row (``executions.state``); the fields are the
server's, the shape is pinned here so every module reads and writes the same names. Rows
written by older versions (missing fields, the ``buffer`` list) still load.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["ChildLink", "ParentLink", "RunState", "UpdateEntry", "WorkflowTaskRef"]


@dataclasses.dataclass(slots=True)
class WorkflowTaskRef:
    """The run's workflow task in flight (scheduled, or out at a worker)."""

    task_id: int
    scheduled_event_id: int
    """0 for a silent re-offer of a failing task that reuses the last scheduled event."""
    attempt: int


@dataclasses.dataclass(slots=True)
class ParentLink:
    """Where a child run reports its close."""

    namespace: str
    workflow_id: str
    run_id: str
    seq: str
    initiated_event_id: int


@dataclasses.dataclass(slots=True)
class ChildLink:
    """A child this run started, and what happens to it when this run closes."""

    workflow_id: str
    run_id: str
    policy: str
    """terminate | request_cancel | abandon"""


@dataclasses.dataclass(slots=True)
class UpdateEntry:
    """An update from its request to its outcome (see :mod:`plait.server.updates`)."""

    name: str
    status: str
    """requested | accepted | completed | rejected | failed"""
    input: list[Any] | None = None
    """Kept until the workflow has seen it (accepted or rejected)."""
    header: dict[str, Any] = dataclasses.field(default_factory=dict)
    result: Any = None
    failure: dict[str, Any] | None = None


@dataclasses.dataclass(slots=True)
class RunState:
    wt: WorkflowTaskRef | None = None
    upto: int = 0
    """The last event a worker's cache of this run has seen (the previous task's end)."""
    sticky: str | None = None
    """The worker session whose cache holds the run."""
    task_timeout: float = 10.0
    deadline: float | None = None
    """The execution timeout's deadline, across continue-as-new and retries."""
    parent: ParentLink | None = None
    children: dict[str, ChildLink] = dataclasses.field(default_factory=dict)
    first_run_id: str = ""
    attempt: int = 1
    """Runs of a retried workflow (``retry_policy``) count from 1."""
    retry_policy: dict[str, Any] | None = None
    input: list[Any] = dataclasses.field(default_factory=list)
    """The input and header a retry starts again with (kept only with a retry policy)."""
    header: dict[str, Any] = dataclasses.field(default_factory=dict)
    buffered: int = 0
    """Inputs waiting in ``buffered_events`` while a workflow task is out."""
    buffer: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    """Inputs buffered inside this document by versions before ``buffered_events``."""
    last_wt_scheduled_event_id: int = 0
    last_task_failure: dict[str, Any] | None = None
    updates: dict[str, UpdateEntry] = dataclasses.field(default_factory=dict)
    cancel_requested: bool = False

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RunState:
        """The state a row holds (any version's)."""
        wt, parent = d.get("wt"), d.get("parent")
        return cls(
            wt=WorkflowTaskRef(wt["task_id"], wt.get("scheduled_event_id") or 0,
                               wt.get("attempt", 1)) if wt else None,
            upto=int(d.get("upto") or 0), sticky=d.get("sticky"),
            task_timeout=float(d.get("task_timeout") or 10.0), deadline=d.get("deadline"),
            parent=ParentLink(parent["namespace"], parent["workflow_id"], parent["run_id"],
                              str(parent["seq"]), parent["initiated_event_id"])
            if parent else None,
            children={str(k): ChildLink(c["workflow_id"], c["run_id"], c["policy"])
                      for k, c in (d.get("children") or {}).items()},
            first_run_id=d.get("first_run_id") or "", attempt=int(d.get("attempt") or 1),
            retry_policy=d.get("retry_policy"), input=d.get("input") or [],
            header=d.get("header") or {}, buffered=int(d.get("buffered") or 0),
            buffer=d.get("buffer") or [],
            last_wt_scheduled_event_id=int(d.get("last_wt_scheduled_event_id") or 0),
            last_task_failure=d.get("last_task_failure"),
            updates={uid: UpdateEntry(u.get("name", ""), u["status"], u.get("input"),
                                      u.get("header") or {}, u.get("result"),
                                      u.get("failure"))
                     for uid, u in (d.get("updates") or {}).items()},
            cancel_requested=bool(d.get("cancel_requested")))
