"""What a committed transaction asks the in-memory server to do next (wake pollers, timers)."""

from __future__ import annotations

import dataclasses

__all__ = ["Effects"]


@dataclasses.dataclass
class Effects:
    queues: set[tuple[str, str, str]] = dataclasses.field(default_factory=set)
    """(namespace, task_queue, kind) that gained a ready task."""
    timer_at: float | None = None
    """Earliest timer this transaction created."""
    closed: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)
    """Runs this transaction closed, for result waiters."""

    def wake_queue(self, ns: str, task_queue: str, kind: str) -> None:
        self.queues.add((ns, task_queue, kind))

    def timer(self, at: float) -> None:
        if self.timer_at is None or at < self.timer_at:
            self.timer_at = at
