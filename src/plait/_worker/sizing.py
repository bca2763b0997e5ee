"""How many tasks a worker runs at once when its user does not say: slots that grow with the
backlog, up to a cap, while tasks finish quickly and the worker's event loop keeps up.

Slots bound what one worker takes on; they cost nothing while free. Under load they decide
how well the worker batches: a poll asks for up to half of the free slots, and completions
go out together when they finish together, so a worker with more slots answers a burst with
fewer, larger polls and completion requests, and the server commits the same work in fewer
group commits. W1 of the benchmark (1,000 workflows of three activities started at once,
``bench/results/defaults.md``) spent 1.5 HTTP requests and 0.2 fsyncs per workflow with 100
slots of each kind, 1.2 and 0.09 with 300, 5-10 % more server and worker CPU per workflow,
and ran at 0.87-0.93x the throughput of 300; beyond 300 the gain was within noise.

More slots hurt when tasks are heavy on the worker's loop: the tasks a poll brings run one
after another, each waiting for the others' CPU, and the session heartbeat waits behind
them all. 400 workflows of one 30 ms task each, started at once, took 12 s with 100 slots
and 21 s with 300, which missed heartbeats, lost its session in every round and ran each
task 1.7 times (the same benchmark). So a default worker starts at :data:`BASE` slots, the
count plait always had, and grows toward :data:`CAP` only on evidence that more is cheap:
at each sample of the loop's lateness that came on time, if a poll came back full since
(the queue holds more than the worker asked for), by the number of tasks that finished
quickly meanwhile. A sample late by :data:`SHRINK_LAG`, or a workflow task that took
:data:`SLOW_WORKFLOW_TASK`, halves the growth; a worker that found no backlog for
:data:`IDLE_RESET` seconds is back at :data:`BASE`. On W1 the default then batches like 300
(same throughput, CPU and fsyncs per workflow, within noise); on the heavy tasks it stays
near 100 and fares as 100 does.

Activity slots grow only on a worker whose activities are all ``async def``: a sync attempt
holds a thread for as long as it runs, and one waiting for a thread would spend its
``start_to_close`` time waiting, so a worker with a sync activity keeps :data:`BASE` slots
and as many threads. An activity's own duration says nothing of the worker's load (it may
wait on a slow service), so only the loop's lateness limits activity slots. A count the
user passes is used exactly, never grown, for the slots and the thread pool alike.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Sequence

from plait._worker.slots import Slots
from plait.runtime.definitions import ActivityDefn

__all__ = ["BASE", "CAP", "FAST_WORKFLOW_TASK", "GROW_LAG", "IDLE_RESET", "LAG_TICK",
           "SHRINK_LAG", "SLOW_WORKFLOW_TASK", "Growth", "activity_threads", "growths",
           "initial_slots", "watch_lag"]

BASE = 100
"""Slots a default worker starts with, and the threads of its pool for sync activities."""
CAP = 300
"""The most slots a default worker grows to (the benchmark's tuned worker's count)."""
LAG_TICK = 0.1
"""How often the loop's lateness is sampled."""
GROW_LAG = 0.25
"""Slots grow only while the loop has been at most this late (W1 at 300 slots on a busy
two-core machine stayed under 0.08 s)."""
SHRINK_LAG = 0.5
"""A loop this late is saturated: the growth is halved."""
FAST_WORKFLOW_TASK = 1.0
"""A workflow task that finished within this (seconds from its arrival) is evidence that
more fit."""
SLOW_WORKFLOW_TASK = 2.5
"""A workflow task this slow (a quarter of the default workflow task timeout) halves the
growth: tasks wait too long here."""
IDLE_RESET = 5.0
"""Seconds without a full poll after which the slots are back at :data:`BASE`."""


def initial_slots(given: int | None) -> int:
    return BASE if given is None else given


def activity_threads(given: int | None) -> int:
    """Threads of the worker's own pool for sync activities: as many as the activity slots
    the user set, else :data:`BASE` (threads are made on first use)."""
    return BASE if given is None else given


class Growth:
    """One kind of slots of a default worker, grown with the backlog (module docstring).

    ``fast``, ``slow``: a finished task's time from its arrival under which it counts toward
    growth, and from which it shrinks the slots (None: any time counts, none shrinks)."""

    def __init__(self, slots: Slots, *, fast: float | None = None,
                 slow: float | None = None, base: int = BASE, cap: int = CAP) -> None:
        self.slots = slots
        self.fast = fast
        self.slow = slow
        self.base = base
        self.cap = cap
        self.lag = 0.0
        """How late the loop was lately (the latest sample, or half the one before)."""
        self.backlog_at = time.monotonic()
        self._backlog = False
        """A full poll since the last sample."""
        self._quick = 0
        """Tasks that finished quickly since the last sample."""
        self._slowed = False

    def polled(self, asked: int, got: int, now: float) -> None:
        """A poll that asked for ``asked`` tasks brought ``got``: a full one says the queue
        holds more."""
        if asked > 0 and got >= asked:
            self._backlog = True
            self.backlog_at = now

    def finished(self, took: float) -> None:
        """A task of these slots finished ``took`` seconds after it arrived."""
        if self.slow is not None and took >= self.slow:
            self._slowed = True
        elif self.fast is None or took <= self.fast:
            self._quick += 1

    def ticked(self, lag: float, now: float) -> None:
        """The loop ran a sample taken at ``now`` ``lag`` seconds late: grow by the tasks
        that finished quickly meanwhile, if polls found a backlog and the loop keeps up;
        shrink when it lags, a task was slow, or no backlog was seen for a while."""
        self.lag = max(lag, self.lag / 2)
        size = self.slots.size
        if lag >= SHRINK_LAG or self._slowed:
            size = self.base + (size - self.base) // 2
        elif self._backlog and self.lag <= GROW_LAG:
            size = min(self.cap, size + self._quick)
        if now - self.backlog_at >= IDLE_RESET:
            size = self.base
        self.slots.resize(max(self.base, size))
        self._backlog, self._quick, self._slowed = False, 0, False


def growths(workflow_slots: Slots, activity_slots: Slots, *, workflows_given: int | None,
            activities_given: int | None, has_workflows: bool,
            activities: Sequence[ActivityDefn]) -> dict[str, Growth]:
    """The slot kinds a worker grows, by poll kind: those it polls for that the user left to
    the default (activity slots only when no activity is sync)."""
    out: dict[str, Growth] = {}
    if has_workflows and workflows_given is None:
        out["workflow"] = Growth(workflow_slots, fast=FAST_WORKFLOW_TASK,
                                 slow=SLOW_WORKFLOW_TASK)
    if activities and activities_given is None and all(d.is_async for d in activities):
        out["activity"] = Growth(activity_slots)
    return out


async def watch_lag(growing: Collection[Growth]) -> None:
    """Sample how late the event loop runs a timer, for every growing kind, until
    cancelled."""
    while True:
        asked = time.monotonic()
        await asyncio.sleep(LAG_TICK)
        now = time.monotonic()
        for g in growing:
            g.ticked(now - asked - LAG_TICK, now)
