"""What a state change saw that the metrics count: small typed facts, recorded on
:class:`~plait.server.effects.Effects` inside the transaction and counted by
:func:`plait.server.metrics.count` only once it commits (a transaction that rolls back, or is
run again after a conflict, counts nothing twice). Recording one is an append: the hot path
never touches Prometheus while it holds the database."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["ActivityDispatched", "AttemptEnded", "Fact", "HistoryLarge", "LimitHit",
           "RateLimited", "RetryScheduled", "RunClosed", "RunStarted", "TimerFired",
           "WorkflowTaskFailed"]


class RunStarted(NamedTuple):
    """A run began: a start, a child, the next run of a chain or of a retried workflow."""

    namespace: str
    workflow_type: str


class RunClosed(NamedTuple):
    """A run closed with ``status`` after ``seconds`` (durable time, from its start)."""

    namespace: str
    workflow_type: str
    status: str
    seconds: float


class AttemptEnded(NamedTuple):
    """An activity attempt a worker held ended (``outcome``: an ``AttemptOutcome``)."""

    namespace: str
    activity_type: str
    outcome: str
    seconds: float


class RetryScheduled(NamedTuple):
    """A failed or timed-out activity attempt will be tried again."""

    namespace: str
    activity_type: str


class ActivityDispatched(NamedTuple):
    """An activity task went to a worker after waiting ``waited`` seconds in its queue."""

    namespace: str
    task_queue: str
    waited: float


class WorkflowTaskFailed(NamedTuple):
    """A worker reported a workflow task failed (its code raised, or replay diverged)."""

    namespace: str
    workflow_type: str


class RateLimited(NamedTuple):
    """A claimed activity task found its rate-limit bucket empty and went back to wait."""

    namespace: str
    task_queue: str


class TimerFired(NamedTuple):
    """A durable timer fired ``late`` seconds after it was due."""

    namespace: str
    late: float


class HistoryLarge(NamedTuple):
    """A run's history crossed the warning threshold (``warning``) or the limit where the
    server terminates it (``exceeded``)."""

    namespace: str
    workflow_type: str
    level: str


class LimitHit(NamedTuple):
    """A per-run limit failed a workflow task: ``limit`` names it (``pending_activities``,
    ``pending_children``). A refused signal rolls back and counts only as its request's 429."""

    namespace: str
    workflow_type: str
    limit: str


Fact = (RunStarted | RunClosed | AttemptEnded | RetryScheduled | ActivityDispatched
        | WorkflowTaskFailed | RateLimited | TimerFired | HistoryLarge | LimitHit)
"""Anything :meth:`Effects.observe` takes."""
