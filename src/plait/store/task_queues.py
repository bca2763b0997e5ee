"""A task queue as stored: the worker sessions that poll it and the tasks that wait on it.

There is no task-queue row: a queue is the name its tasks and its workers' sessions carry, so
describing one reads those two tables (both small per queue: sessions by the workers alive,
ready tasks by the backlog).
"""

from __future__ import annotations

import dataclasses

from plait.store.sessions import INFO
from plait.store.statements import Statements

__all__ = ["QueueBacklogRow", "QueuePollerRow", "TaskQueueStatements"]


@dataclasses.dataclass(frozen=True)
class QueuePollerRow:
    session_id: str
    identity: str
    workflow_types: list[str]
    activity_types: list[str]
    expires_at: float


@dataclasses.dataclass(frozen=True)
class QueueBacklogRow:
    kind: str
    count: int
    oldest_visible_at: float


class TaskQueueStatements(Statements):
    def queue_pollers(self, ns: str, queue: str, now: float) -> list[QueuePollerRow]:
        """Sessions on the queue whose lease has not expired at ``now`` (wall time)."""
        out = []
        for r in self._all("queue_pollers", ns=ns, queue=queue, now=now):
            info = INFO.decode(r[2])
            out.append(QueuePollerRow(r[0], r[1], info.workflow_types, info.activity_types,
                                      float(r[3])))
        return out

    def queue_backlog(self, ns: str, queue: str, now: float) -> list[QueueBacklogRow]:
        """Tasks ready at ``now`` that no worker holds, per kind."""
        return [QueueBacklogRow(r[0], int(r[1]), float(r[2]))
                for r in self._all("queue_backlog", ns=ns, queue=queue, now=now)]
