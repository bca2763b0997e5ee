"""Synthetic histories for runtime unit tests: events as the server records them."""

from __future__ import annotations

from typing import Any

from plait.protocol.payload import encode

T0 = 1767225600.0  # 2026-01-01T00:00:00Z


class HistoryBuilder:
    """Appends events with contiguous ids; ``task()`` adds a completed workflow task."""

    def __init__(self, workflow_type: str, *args: Any) -> None:
        self.events: list[dict[str, Any]] = []
        self.add("WORKFLOW_EXECUTION_STARTED", workflow_type=workflow_type,
                 task_queue="q", input=[encode(a) for a in args])

    def add(self, event_type: str, **attributes: Any) -> HistoryBuilder:
        self.events.append({"event_id": len(self.events) + 1, "event_type": event_type,
                            "timestamp": T0 + len(self.events), "attributes": attributes})
        return self

    def task(self) -> HistoryBuilder:
        """A workflow task that ran and completed (its command events follow)."""
        return self.add("WORKFLOW_TASK_SCHEDULED").add("WORKFLOW_TASK_STARTED") \
            .add("WORKFLOW_TASK_COMPLETED")

    def pending_task(self) -> HistoryBuilder:
        """A workflow task scheduled but not run yet: what a worker is handed live."""
        return self.add("WORKFLOW_TASK_SCHEDULED")

    def upto(self, event_id: int) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event_id"] <= event_id]


def task_of(workflow_type: str, run_id: str = "run-1") -> dict[str, Any]:
    """The fields of a workflow task that a new instance keeps."""
    return {"workflow_id": "wf-1", "run_id": run_id, "workflow_type": workflow_type,
            "namespace": "default", "task_queue": "q"}
