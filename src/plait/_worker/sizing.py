"""How many tasks a worker runs at once when its user does not say: the default slot counts.

Slots bound what one worker takes on; they cost nothing while free. Under load they decide
how well the worker batches: a poll asks for up to half of the free slots, and completions
go out together when they finish together, so a worker with more slots answers a burst with
fewer, larger polls and completion requests, and the server commits the same work in fewer
group commits. W1 of the benchmark (1,000 workflows of three activities started at once)
measured on one worker (``bench/results/defaults.md``): 100 slots of each kind ran about
12 % slower than 300, spending 1.5 HTTP requests per workflow against 1.2 and about twice
the server's fsyncs, with about 10 % more server and worker CPU per workflow; beyond 300
the gain was within noise.

So the defaults are the benchmark worker's 300, where a slot is cheap: a workflow task or
an async activity attempt is a coroutine on the worker's loop. A sync activity attempt holds
a thread for as long as it runs, and an attempt waiting for a thread would spend its
``start_to_close`` time waiting, so a worker with any sync activity keeps 100 activity slots
and the thread pool never has more than 100 threads unless the user asks for more. A count
the user passes is used exactly as given, for the slots and the thread pool alike.

(Slots that grew with the backlog would end where fixed ones start: slots only matter while
there is more work than slots, and that is exactly when such a scheme grows them to its cap.)
"""

from __future__ import annotations

from collections.abc import Iterable

from plait.runtime.definitions import ActivityDefn

__all__ = ["ASYNC_ACTIVITY_SLOTS", "SYNC_ACTIVITY_SLOTS", "WORKFLOW_TASK_SLOTS",
           "activity_slots", "activity_threads", "workflow_task_slots"]

WORKFLOW_TASK_SLOTS = 300
"""Workflow tasks run on the worker's loop; their memory is bounded by the workflow cache."""
ASYNC_ACTIVITY_SLOTS = 300
"""When every registered activity is ``async def``: an attempt is a coroutine."""
SYNC_ACTIVITY_SLOTS = 100
"""When any registered activity is sync: each running attempt holds one of this many
threads."""


def workflow_task_slots(given: int | None) -> int:
    return WORKFLOW_TASK_SLOTS if given is None else given


def activity_slots(given: int | None, activities: Iterable[ActivityDefn]) -> int:
    """``given`` when the user set it; else the default for these activities."""
    if given is not None:
        return given
    if all(d.is_async for d in activities):
        return ASYNC_ACTIVITY_SLOTS
    return SYNC_ACTIVITY_SLOTS


def activity_threads(given: int | None) -> int:
    """Threads of the worker's own pool for sync activities: as many as the activity slots
    the user set, else :data:`SYNC_ACTIVITY_SLOTS` (a pool of only async activities starts
    none: its threads are made on first use)."""
    return SYNC_ACTIVITY_SLOTS if given is None else given
