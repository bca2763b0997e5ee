"""The timer service: fires due durable timers, expires worker sessions, applies retention.

Timers are in durable time and sessions in wall time (:mod:`plait.server.clock`); on a
time-skipping server it also lets the :class:`~plait.server.skipping.TimeSkipper` jump the
clock, looking every ``SETTLE`` seconds.

It sleeps until the earliest timer (a commit that adds an earlier one wakes it), so an idle
server makes no queries beyond a slow housekeeping tick.

Due timers are claimed and fired in one transaction, each in its own savepoint (one failing
timer rolls back alone). With several servers on one database, ``claim_due_timers`` hands each
timer to one transaction (SKIP LOCKED), and ``fire_timer`` re-checks the timer row under the
run's lock, so a timer fires once however many servers wake for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

from plait.server import schedule_actions, sessions, timeouts
from plait.server.clock import Clock
from plait.server.config import ServiceConfig
from plait.server.leases import Leases
from plait.server.run import Ctx
from plait.server.skipping import SETTLE, TimeSkipper
from plait.store.base import Store, StoreBusy, StoreUnavailable, Txn

__all__ = ["TimerHost", "TimerService"]

T = TypeVar("T")


class TimerHost(Protocol):
    """What the timer service needs of the server it runs in (the ``Service``)."""

    clock: Clock
    store: Store
    leases: Leases
    config: ServiceConfig
    skipper: TimeSkipper | None

    async def write(self, fn: Callable[[Ctx], T]) -> T: ...

    async def grant_fresh_leases(self) -> None: ...

log = logging.getLogger("plait.server.timers")
HOUSEKEEPING_EVERY = 1.0
SLOW_HOUSEKEEPING_EVERY = 60.0
"""Request-id and retention clean-ups: their windows are a day or more."""
REREAD_EVERY = 30.0
"""How long the earliest-timer reading may go unchecked when nothing hinted at a change (an
idle server makes no queries in between; every new timer hints, other servers' by NOTIFY)."""
SESSION_SAFETY_CHECK = 30.0
"""With a database of its own, how often to look there for expired sessions anyway (every
lease is in memory; this only guards against one that is not)."""
BATCH = 256
BUSY_RETRY = 0.02
"""How long to wait when timers are due but another server (or transaction) holds them."""


def _next_timer(txn: Txn) -> float | None:
    """The earliest durable deadline: a timer, or a schedule's next look."""
    due = [v for v in (txn.next_timer(), txn.next_schedule_fire()) if v is not None]
    return min(due) if due else None


def _fire_batch(ctx: Ctx) -> int:
    """Claim due timers and fire each in its own savepoint; returns how many were claimed."""
    due = ctx.txn.claim_due_timers(ctx.now, BATCH)
    for tm in due:
        try:
            with ctx.txn.savepoint():
                timeouts.fire_timer(ctx, tm.namespace, tm.workflow_id, tm.run_id, tm.kind, tm.ref)
        except Exception as exc:  # the timer stays; it is tried again on a later tick
            log.error("firing timer %s/%s of %s failed: %s", tm.kind, tm.ref, tm.workflow_id,
                      exc)
    return len(due) + schedule_actions.fire_due(ctx, BATCH)


def _deleter(ns: str, wid: str, rid: str) -> Callable[[Ctx], None]:
    """Retention: a closed run past its namespace's retention goes, with all it owns."""
    return lambda ctx: ctx.txn.delete_run(ns, wid, rid)


class TimerService:
    def __init__(self, service: TimerHost) -> None:
        self.service = service
        self._wake = asyncio.Event()
        self._next_due: float | None = 0.0
        self._last_housekeeping = 0.0
        self._last_slow_housekeeping = 0.0
        self._last_session_check = 0.0
        self._last_read = 0.0
        self._hinted = False
        self._database_was_away = False

    def hint(self, at: float) -> bool:
        """A timer is due at ``at``; True when that is earlier than this service knew."""
        if self._next_due is None or at < self._next_due:
            self._next_due = at
            self._hinted = True
            self._wake.set()
            return True
        return False

    def lease_due(self, at: float) -> None:
        """A worker session's lease ends at ``at`` (wall time): look then, if sooner than the
        next tick (a dropped watch shortens a lease to a fraction of a second)."""
        if at < time.time() + HOUSEKEEPING_EVERY:
            self._wake.set()

    async def run(self) -> None:
        # Waits use asyncio.timeout, not wait_for: on Python 3.11, wait_for can swallow a
        # cancellation that lands as its timeout fires, and this loop would never stop.
        while True:
            try:
                await self._tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: keep trying, loudly
                log.error("timer service: %s", exc)
                self._database_was_away |= isinstance(exc, StoreUnavailable) and not isinstance(
                    exc, StoreBusy)
                await asyncio.sleep(0.5)

    async def _tick(self) -> None:
        wall = time.time()  # housekeeping is about live processes: real time
        if wall - self._last_housekeeping >= HOUSEKEEPING_EVERY:
            self._last_housekeeping = wall
            await self._housekeeping()
        await self._expire_sessions()
        clock, skipper = self.service.clock, self.service.skipper
        now = clock.now()
        fired = 0
        tried = self._next_due is not None and self._next_due <= now
        if tried:
            fired = await self._fire_due()
        if fired >= BATCH:
            return
        if tried or self._hinted or skipper is not None or wall - self._last_read >= REREAD_EVERY:
            self._hinted = False
            self._last_read = wall
            self._next_due = await self.service.store.read(_next_timer)
        delay = HOUSEKEEPING_EVERY
        earliest = self.service.leases.earliest()  # of the leases this server granted
        if earliest is not None:
            delay = min(delay, max(0.0, earliest - time.time()))
        if self._next_due is not None:
            delay = min(delay, max(0.0, self._next_due - clock.now()))
            if tried and fired == 0 and delay == 0:
                delay = BUSY_RETRY  # someone else is firing them: do not spin
        if skipper is not None and delay > 0:
            if await skipper.step():
                return  # durable time jumped: fire what is due now
            delay = min(delay, SETTLE)
        if delay > 0:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    async def _fire_due(self) -> int:
        return await self.service.write(_fire_batch)

    async def _housekeeping(self) -> None:
        svc = self.service
        if self._database_was_away:
            # Workers could not heartbeat while the database was unreachable: as after a
            # server restart, give every session a full expiry before judging any dead.
            await svc.grant_fresh_leases()
            self._database_was_away = False
            log.warning("the database is reachable again; worker sessions extended by %g s",
                        svc.config.session_expiry)
        wall = time.time()
        if wall - self._last_slow_housekeeping < SLOW_HOUSEKEEPING_EVERY:
            return
        self._last_slow_housekeeping = wall
        await svc.write(lambda ctx: ctx.txn.delete_requests_before(ctx.wall - 86400.0))
        now = svc.clock.now()  # retention counts from close_time, durable time
        expired = await svc.store.read(lambda t: t.expired_runs(now))
        for ns, wid, rid in expired:
            await svc.write(_deleter(ns, wid, rid))

    async def _expire_sessions(self) -> None:
        """Look for expired sessions when a lease this server granted may be due. With a
        shared database, also every half expiry (sessions renewed on other servers); with a
        database of its own this server knows every lease (:mod:`plait.server.leases`), and
        looks in the database only now and then, as a safety net."""
        svc = self.service
        leases = svc.leases
        wall = time.time()
        due = leases.due(wall)
        every = SESSION_SAFETY_CHECK if leases.own_database else svc.config.session_expiry / 2
        if not due and wall - self._last_session_check < every:
            return
        self._last_session_check = wall
        judged = due if leases.own_database else None
        await svc.write(lambda ctx: sessions.expire_due(ctx, judged))
        leases.forget_due(wall)
