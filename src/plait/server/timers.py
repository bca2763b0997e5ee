"""The timer service: fires due durable timers, expires worker sessions, applies retention.

It sleeps until the earliest timer (a commit that adds an earlier one wakes it), so an idle
server makes no queries beyond a slow housekeeping tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from plait.server import history, sessions
from plait.server.run import Ctx
from plait.store.base import Txn

if TYPE_CHECKING:
    from plait.server.service import Service

__all__ = ["TimerService"]

log = logging.getLogger("plait.server.timers")
HOUSEKEEPING_EVERY = 1.0
BATCH = 256


def _next_timer(txn: Txn) -> float | None:
    return txn.next_timer()


def _deleter(ns: str, wid: str, rid: str) -> Callable[[Ctx], None]:
    """Retention: a closed run past its namespace's retention goes, with all it owns."""
    return lambda ctx: ctx.txn.delete_run(ns, wid, rid)


class TimerService:
    def __init__(self, service: Service) -> None:
        self.service = service
        self._wake = asyncio.Event()
        self._next_due: float | None = 0.0
        self._last_housekeeping = 0.0

    def hint(self, at: float) -> None:
        if self._next_due is None or at < self._next_due:
            self._next_due = at
            self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                await self._tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: keep trying, loudly
                log.error("timer service: %s", exc)
                await asyncio.sleep(0.5)

    async def _tick(self) -> None:
        now = time.time()
        if now - self._last_housekeeping >= HOUSEKEEPING_EVERY:
            self._last_housekeeping = now
            await self._housekeeping()
        fired = 0
        if self._next_due is not None and self._next_due <= now:
            fired = await self._fire_due(now)
        if fired >= BATCH:
            return
        self._next_due = await self.service.store.read(_next_timer)
        delay = HOUSEKEEPING_EVERY
        if self._next_due is not None:
            delay = min(delay, max(0.0, self._next_due - time.time()))
        if delay > 0:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def _fire_due(self, now: float) -> int:
        due = await self.service.store.read(lambda t: t.due_timers(now, BATCH))
        jobs = []
        for tm in due:
            def fire(ctx: Ctx, tm: object = tm) -> None:
                history.fire_timer(ctx, tm.namespace, tm.workflow_id,  # type: ignore[attr-defined]
                                   tm.run_id, tm.kind, tm.ref)  # type: ignore[attr-defined]
            jobs.append(self.service.write(fire))
        results = await asyncio.gather(*jobs, return_exceptions=True)
        for r in results:
            if isinstance(r, Exception):
                log.error("firing a timer failed: %s", r)
        return len(due)

    async def _housekeeping(self) -> None:
        svc = self.service
        await svc.write(sessions.expire_due)
        await svc.write(lambda ctx: ctx.txn.exec("delete_old_requests",
                                                  before=ctx.now - 86400.0))
        expired = await svc.store.read(lambda t: t.all("expired_runs", now=time.time()))
        for ns, wid, rid in expired:
            await svc.write(_deleter(ns, wid, rid))
