"""Time skipping for tests: jump durable time to the next deadline when nothing else can happen.

A workflow that sleeps 30 days then tests in milliseconds. The clock jumps only when both:

- **someone waits for time to pass**: a client is waiting for a workflow's result (``result()``,
  ``execute_workflow``) or the test called ``env.sleep()``. Between those calls time runs at
  real speed, so a test can start a workflow that sleeps an hour, signal it, and know the
  signal arrives before the hour is over (Temporal's test server behaves the same way).
- **the server is idle**: no workflow or activity task is ready or out at a worker (leased,
  acknowledged or not). So a running activity holds time still for its timeouts: one that
  really sleeps 0.5 s under a 10 s start-to-close timeout is not timed out by a jump, and a
  heartbeat timeout fires in real time. A task nobody polls for also holds time at real speed.

Idleness is read from the store, where every state change that creates work commits that work
(a completion that schedules an activity commits the activity task in the same transaction),
and it must be seen twice, ``SETTLE`` apart, with the same next deadline; the jump itself
re-checks it inside its write transaction, so no state change can slip between the last look
and the jump. The next deadline is the earliest durable timer, task ``visible_at`` (retry
backoff, start delay, rate limits), schedule due time or ``env.sleep()`` target.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Protocol, TypeVar

from plait.server.clock import Clock
from plait.server.matching import Matching, ResultWaiters
from plait.server.run import Ctx
from plait.store.base import Store, Txn

__all__ = ["SETTLE", "SkipperHost", "TimeSkipper"]

T = TypeVar("T")


class SkipperHost(Protocol):
    """What time skipping needs of the server it runs in (the ``Service``)."""

    clock: Clock
    store: Store
    results: ResultWaiters
    matching: Matching

    async def write(self, fn: Callable[[Ctx], T]) -> T: ...

log = logging.getLogger("plait.server.skipping")
SETTLE = 0.01
"""Seconds between the two looks that must both find the server idle; also how often the
timer service looks while someone waits."""


def _busy(txn: Txn, now: float) -> bool:
    return txn.any_task_busy(now)


def _look(txn: Txn, now: float) -> tuple[bool, float | None]:
    """Is some task ready or leased now; else the earliest durable deadline (or None)."""
    if _busy(txn, now):
        return True, None
    due = [v for v in (txn.next_timer(), txn.next_task_visible(), txn.next_schedule_fire())
           if v is not None]
    return False, min(due) if due else None


class TimeSkipper:
    def __init__(self, service: SkipperHost) -> None:
        self.service = service
        self.clock = service.clock
        self._sleepers: list[float] = []
        self._moved = asyncio.Event()
        self._seen: float | None = None

    def wanted(self) -> bool:
        """Is anyone waiting for time to pass?"""
        return bool(self.service.results.keys()) or any(
            at > self.clock.now() for at in self._sleepers)

    async def step(self) -> bool:
        """Jump to the next deadline if the server has been idle for a settle; True if it did."""
        if not self.wanted():
            self._seen = None
            return False
        now = self.clock.now()
        busy, target = await self.service.store.read(lambda t: _look(t, now))
        ahead = [at for at in self._sleepers if at > now]  # env.sleep() ends there
        if not busy and ahead:
            target = min(target or float("inf"), *ahead)
        if busy or target is None or target <= now or target != self._seen:
            self._seen = target  # first look (or things moved): look again after a settle
            return False
        self._seen = None
        skipped = await self.service.write(lambda ctx: self._jump_txn(ctx, target))
        if skipped > 0:
            log.debug("time skipping: jumped %.3f s", skipped)
            self.service.matching.wake_all()  # tasks whose backoff is over are visible now
            self._moved.set()
        return skipped > 0

    def _jump_txn(self, ctx: Ctx, target: float) -> float:
        """In the writer's transaction, so nothing commits between the last look and the jump."""
        return 0.0 if _busy(ctx.txn, ctx.now) else self.clock.advance_to(target)

    async def sleep(self, seconds: float) -> None:
        """Let ``seconds`` of durable time pass, skipping whatever can be skipped."""
        target = self.clock.now() + seconds
        self._sleepers.append(target)
        try:
            while (left := target - self.clock.now()) > 0:
                self._moved.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(left):
                        await self._moved.wait()
        finally:
            self._sleepers.remove(target)
