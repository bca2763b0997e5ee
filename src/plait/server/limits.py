"""The per-run limits on what a run holds at once: pending activities, running children,
signals received (docs/operations.md "Limits"; the history's size is :meth:`Run.save`'s).

Each check compares integers the run's state already holds, so it costs no read: the
pending activities are counted as they are scheduled and finished, the children are the
run's links to them, the signals a count kept as they arrive. A workflow task whose commands
would pass a limit fails as a whole (Temporal's ``PendingActivitiesLimitExceeded``) and is
retried with backoff, so the run goes on once its pending work drains; a signal past the
limit is refused with 429 ``limit_exceeded``.
"""

from __future__ import annotations

from collections.abc import Sequence

from plait.protocol.commands import Command, ScheduleActivityCommand, StartChildWorkflowCommand
from plait.server.errors import LimitExceeded
from plait.server.run import Run

__all__ = ["Overrun", "accept_signal", "commands_over"]


class Overrun:
    """A workflow task's commands would pass a per-run limit."""

    def __init__(self, limit: str, failure_type: str, message: str) -> None:
        self.limit = limit
        """``pending_activities`` or ``pending_children``."""
        self.failure_type = failure_type
        self.message = message

    @property
    def cause(self) -> str:
        """The workflow task failure's cause (its event and describe show it)."""
        return f"{self.limit}_limit_exceeded"


def commands_over(run: Run, commands: Sequence[Command], *, finishing: int = 0) -> Overrun | None:
    """Whether applying ``commands`` would leave the run over a limit (``finishing``:
    activities whose end is recorded in the same change, a chained step's)."""
    acts = children = 0
    for cmd in commands:
        kind = type(cmd)
        if kind is ScheduleActivityCommand:
            acts += 1
        elif kind is StartChildWorkflowCommand:
            children += 1
    if not acts and not children:
        return None
    limits, state = run.ctx.limits, run.state
    pending = max(0, state.pending_activities - finishing)
    if acts and pending + acts > limits.max_pending_activities:
        return Overrun(
            "pending_activities",
            "PendingActivitiesLimitExceeded",
            f"this workflow task schedules {acts} activities while "
            f"{pending} are pending: over the server's limit of "
            f"{limits.max_pending_activities} pending activities per run "
            "(--max-pending-activities); the task is retried",
        )
    running = len(state.children)
    if children and running + children > limits.max_pending_children:
        return Overrun(
            "pending_children",
            "PendingChildWorkflowsLimitExceeded",
            f"this workflow task starts {children} child workflows while {running} "
            f"are running: over the server's limit of "
            f"{limits.max_pending_children} running children per run "
            "(--max-pending-children); the task is retried",
        )
    return None


def accept_signal(run: Run) -> None:
    """Count a signal the run takes; 429 ``limit_exceeded`` once it has taken the limit."""
    limit = run.ctx.limits.max_signals
    if run.state.signals >= limit:
        raise LimitExceeded(
            f"workflow {run.wid!r} (run {run.rid}) has received {limit} "
            f"signals, the server's limit per run (--max-signals-per-run); it "
            "takes more once it continues as new"
        )
    run.state.signals += 1
