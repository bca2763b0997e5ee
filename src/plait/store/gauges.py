"""What the server's scrape-time gauges read: grouped counts over runs, tasks and sessions.

These are read when ``/metrics`` is scraped, never kept in memory, so they stay right
across restarts and when several servers share the database (each server reports the same
numbers). Each is one grouped query; :mod:`plait.server.metrics` caches the answers briefly.
"""

from __future__ import annotations

import dataclasses

from plait.store.statements import Statements

__all__ = ["GaugeStatements", "GroupCount"]


@dataclasses.dataclass(frozen=True)
class GroupCount:
    namespace: str
    labels: tuple[str, ...]
    """The group's other labels, in the order the operation names them."""
    count: int


class GaugeStatements(Statements):
    def open_runs_by_type(self) -> list[GroupCount]:
        """Running runs per (namespace, workflow type): labels ``(workflow_type,)``."""
        return [GroupCount(r[0], (r[1],), int(r[2])) for r in self._all("open_runs_by_type")]

    def backlog_by_queue(self, now: float) -> list[GroupCount]:
        """Tasks ready now that no worker holds, per (namespace, task queue, kind): labels
        ``(task_queue, kind)``. Tasks waiting out a backoff or a rate limit are not backlog."""
        return [GroupCount(r[0], (r[1], r[2]), int(r[3]))
                for r in self._all("backlog_by_queue", now=now)]

    def live_sessions_by_queue(self, now: float) -> list[GroupCount]:
        """Worker sessions whose lease has not expired, per (namespace, task queue): labels
        ``(task_queue,)``. ``now`` is wall-clock time, as leases are."""
        return [GroupCount(r[0], (r[1],), int(r[2]))
                for r in self._all("live_sessions_by_queue", now=now)]
