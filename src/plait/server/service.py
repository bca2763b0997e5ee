"""The server's in-process core: the store, plus what must happen after each commit.

After a commit, :meth:`Service._apply` wakes this server's long-polls, timer service and
result waiters. When the database is shared by several servers, it also publishes the same
wake-ups through the store (NOTIFY on PostgreSQL), and applies those the other servers publish:
a task committed through one server reaches a poller waiting on another at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from plait.protocol.enums import ErrorCode
from plait.protocol.jsoncodec import dumps_str, loads
from plait.server import closing, dispatch, fencing, metrics, sessions
from plait.server.batch_runner import BatchRunner
from plait.server.clock import Clock
from plait.server.config import ServiceConfig
from plait.server.effects import Effects
from plait.server.errors import NotFound
from plait.server.leases import Leases
from plait.server.ledger import SessionLedger
from plait.server.matching import Matching, Parked, QueueKey, ResultWaiters, WakeUps
from plait.server.metrics import SCHEDULE_ACTIONS, STORE_TRANSACTION, ScrapeGauges
from plait.server.run import Ctx
from plait.server.skipping import TimeSkipper
from plait.server.timers import TimerService
from plait.store.base import ConflictError, Store, StoreBusy, Txn

__all__ = ["Service"]

T = TypeVar("T")
log = logging.getLogger("plait.server")
WRITE_ATTEMPTS = 8
RECHECK = 2.0
"""With a shared database: the longest a poller sleeps between claims, and how often result
waiters look for closes, should another server's wake-up have been lost (it crashed after its
commit, before its NOTIFY)."""


class Service:
    def __init__(self, store: Store, config: ServiceConfig | None = None) -> None:
        self.store = store
        self.config = config or ServiceConfig()
        self.clock = Clock(skipping=self.config.time_skipping)
        self.matching = Matching(recheck=RECHECK if store.shared else None, now=self.clock.now,
                                 sees_every_commit=store.sees_every_commit)
        self.results = ResultWaiters()
        self.query_answers: WakeUps[int] = WakeUps()
        """Query routes waiting on this server, by query task id."""
        self.update_outcomes: WakeUps[str] = WakeUps()
        """Update routes waiting on this server, by update id."""
        self.skipper = TimeSkipper(self) if self.config.time_skipping else None
        self.timers = TimerService(self)
        self.batches = BatchRunner(self)
        """Drives batch jobs' pages (:mod:`plait.server.batch_runner`)."""
        self._tasks: list[asyncio.Task[None]] = []
        self.leases = Leases(self.config.session_expiry, own_database=not store.shared)
        """The worker session leases this server granted or renewed."""
        self._namespaces: set[str] = set()
        self.ledger = SessionLedger()
        """What this server remembers of worker sessions (:mod:`plait.server.ledger`)."""
        self.gauges = ScrapeGauges(store, self.clock.now)
        """The metrics read from the database at scrape time (:mod:`plait.server.metrics`)."""

    async def ensure_namespace(self, ns: str) -> None:
        """Refuse a namespace nobody created: 404 ``namespace_not_found`` naming the known
        ones. Namespaces are never deleted, so one seen once is remembered; an unknown name
        is looked up again each time (another server may have just created it)."""
        if ns in self._namespaces:
            return
        known = await self.store.read(lambda t: [n.name for n in t.list_namespaces()])
        self._namespaces.update(known)
        if ns not in self._namespaces:
            shown = ", ".join(sorted(known)[:20]) + (", ..." if len(known) > 20 else "")
            raise NotFound(f"namespace {ns!r} does not exist; known namespaces: {shown} "
                           "(create it with `plait namespace create`)",
                           code=ErrorCode.NAMESPACE_NOT_FOUND)

    def namespace_created(self, ns: str) -> None:
        """This server created ``ns``: known at once."""
        self._namespaces.add(ns)

    async def start(self) -> None:
        await self.grant_fresh_leases()
        retention = self.config.retention_seconds
        await self.write(lambda ctx: ctx.txn.create_namespace("default", retention, "",
                                                              ctx.wall))
        self._namespaces.add("default")
        self._tasks.append(asyncio.create_task(self.timers.run(), name="plait-timers"))
        self._tasks.append(asyncio.create_task(self.batches.run(), name="plait-batches"))
        if self.store.shared:
            self.store.listen(self._on_message)
            self._tasks.append(asyncio.create_task(self._recheck_results(),
                                                   name="plait-result-recheck"))

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()

    async def grant_fresh_leases(self) -> None:
        """Workers alive through a server restart (or a database outage) get a full expiry
        to heartbeat again. With a database of its own, the server then knows every lease:
        each is set to exactly one expiry, whatever horizon was written before."""
        expiry = self.config.session_expiry
        if not self.leases.own_database:
            await self.write(lambda ctx: ctx.txn.extend_all_sessions(ctx.wall + expiry))
            return

        def reset(ctx: Ctx) -> None:
            for session in ctx.txn.reset_session_leases(ctx.wall + expiry):
                ctx.effects.lease(session, ctx.wall + expiry, ctx.wall + expiry)
        await self.write(reset)

    async def write(self, fn: Callable[[Ctx], T], *, task: int | None = None) -> T:
        """Run a state change in one transaction; apply its effects once it is durable.
        ``task``: the task it acts on, if known (:meth:`plait.store.base.Store.write`)."""
        clock, limits, matching = self.clock, self.config.limits, self.matching
        for attempt in range(WRITE_ATTEMPTS):
            effects = Effects()
            handing = _Handing()

            def op(txn: Txn, effects: Effects = effects, handing: _Handing = handing) -> T:
                if handing.ran:  # run again by the store: the first run rolled back
                    handing.drop(effects)
                    self.ledger.deliveries.dropped(effects.answering)
                    effects.reset()  # or its wake-ups, leases and facts would count twice
                handing.ran = True
                wall = time.time()
                ctx = Ctx(txn, wall + clock.offset, effects, wall, self.ledger, limits,
                          closing.stop_oversized)
                try:
                    value = fn(ctx)
                    if effects.ready and any(matching.parked(k) for k in effects.ready):
                        handing.hand_off(ctx, matching)
                    return value
                finally:
                    # Each saved Run holds its Ctx: without this, every change's runs, rows
                    # and events would be a reference cycle left to the garbage collector.
                    ctx.saved.clear()
            began = time.perf_counter()
            try:
                result = await self.store.write(op, task=task)
            except BaseException as exc:
                # Rolled back, or this caller stops waiting (its request was cancelled) while
                # the store may still commit: either way no poll waits on this transaction.
                for parked in handing.abandon(effects):
                    matching.deliver(parked, None)
                self.ledger.deliveries.dropped(effects.answering)
                if isinstance(exc, asyncio.CancelledError):
                    # The store may still commit it, and no one here would apply its effects
                    # (wake-ups): polls must not trust that their queues are empty, nor
                    # result requests that any run is open (the runs it closes may not
                    # be known yet: it may not have run).
                    matching.distrust()
                    self.results.forget_open()
                if not isinstance(exc, ConflictError):
                    raise
                STORE_TRANSACTION.observe(time.perf_counter() - began)
                # Another server (or transaction) changed the same workflow first: run the
                # state change again on what it committed, after a short random pause.
                if attempt == WRITE_ATTEMPTS - 1:
                    raise StoreBusy(f"the workflow changed concurrently {WRITE_ATTEMPTS} times "
                                    "in a row; retry the request") from exc
                await asyncio.sleep(random.uniform(0, 0.002 * 2 ** attempt))
                continue
            STORE_TRANSACTION.observe(time.perf_counter() - began)
            for parked in handing.dropped:
                matching.deliver(parked, None)
            self._apply(effects)
            return result
        raise AssertionError("unreachable")

    def watch_dropped(self, session: str) -> None:
        """A worker's watch connection closed unanswered: shorten its lease to the grace. The
        timer service expires it when that passes (unless the worker came back), handing its
        tasks to other workers at once instead of after the session expiry."""
        grace = self.config.watch_grace
        self.leases.shortening.add(session)

        async def shorten() -> None:
            try:
                await self.write(lambda ctx: sessions.watch_dropped(ctx, session, grace))
            except Exception as exc:  # the lease then runs its normal course
                log.warning("shortening worker session %s failed: %s", session, exc)
            finally:
                self.leases.shortening.discard(session)
        task = asyncio.ensure_future(shorten())  # its request is being cancelled
        self._tasks.append(task)
        # stop() may have cleared the list before this task ends (a worker shutting down
        # with its server, as tests do): then there is nothing to remove.
        task.add_done_callback(self._forget_task)

    def _forget_task(self, task: asyncio.Task[None]) -> None:
        if task in self._tasks:
            self._tasks.remove(task)

    def _apply(self, effects: Effects) -> None:
        self._settle(effects)
        self.ledger.apply(effects)
        if effects.answering:
            self.ledger.deliveries.answered(effects.answering, self.clock.now())
        for parked, tasks in effects.handoffs:
            self.matching.deliver(parked, tasks)
        self.leases.update(effects.leases, effects.written)
        for until in effects.leases.values():
            if until is not None:
                self.timers.lease_due(until)
        for key in effects.queues:
            self.matching.wake(key)
        earlier = effects.timer_at is not None and self.timers.hint(effects.timer_at)
        if effects.opened and self.store.sees_every_commit():
            for key in effects.opened:
                self.results.opened(key)
        for key, outcome in effects.closed.items():
            self.results.closed(key, outcome)
        for ns, decided in effects.schedule_actions:
            SCHEDULE_ACTIONS.labels(ns, decided).inc()
        metrics.count(effects.observed)
        if self.store.shared:
            messages = [dumps_str(["q", *key]) for key in effects.queues]
            messages += [dumps_str(["c", *key]) for key in effects.closed]
            if earlier:  # only a new earliest timer is news to the other servers
                messages.append(dumps_str(["t", effects.timer_at]))
            self.store.publish(messages)

    def _settle(self, effects: Effects) -> None:
        """Hand-offs whose claim was read only with COMMIT's answer: a task the claim did not
        lease (the poll's session was gone) leaves the poll's answer, counts as ready again
        (its queue wakes) and as not dispatched, and its token as not answered."""
        for unsettled in effects.unsettled:
            leased = unsettled.leased()
            parked, tasks = effects.handoffs[unsettled.slot]
            kept = [t for t in tasks if fencing.task_of(t.token) in leased]
            lost = [t for t in tasks if t not in kept]
            if not lost:
                continue
            effects.handoffs[unsettled.slot] = (parked, kept)
            effects.ready[unsettled.key] = effects.ready.get(unsettled.key, 0) + len(lost)
            effects.dispatched[unsettled.session] -= len(lost)
            tokens = {t.token for t in lost}
            self.ledger.deliveries.dropped(tokens)
            effects.answering = [t for t in effects.answering if t not in tokens]

    def _on_message(self, message: str | None) -> None:
        """A wake-up from another server; ``None``: some may have been lost."""
        if message is None:
            self.matching.wake_all()
            self.results.wake_all()
            self.timers.hint(0.0)
            return
        try:
            kind, *rest = loads(message)
            if kind == "q":
                self.matching.wake((rest[0], rest[1], rest[2]))
            elif kind == "c":
                self.results.closed((rest[0], rest[1], rest[2]))
            elif kind == "t":
                self.timers.hint(float(rest[0]))
        except (ValueError, TypeError, IndexError):
            log.warning("ignoring a malformed wake-up message %r", message[:200])

    async def _recheck_results(self) -> None:
        """Wake result waiters whose run closed without this server hearing of it."""
        while True:
            await asyncio.sleep(RECHECK)
            keys = self.results.keys()
            if not keys:
                continue
            try:
                closed = await self.store.read(_closed_among(keys))
            except Exception as exc:  # the database is away: the next round tries again
                log.debug("result recheck failed: %s", exc)
                continue
            for key in closed:
                self.results.closed(key)


class _Handing:
    """The parked polls one state change claims for (:func:`dispatch.hand_off`), between the
    store's thread, which runs the change, and the event loop, which answers the polls."""

    __slots__ = ("_lock", "abandoned", "dropped", "ran")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.ran = False
        """The store ran the change at least once (a second run follows a rollback: the
        store ran it again on a new connection, or after its group's lock wait)."""
        self.abandoned = False
        """Its caller stopped waiting: nothing may be handed off any more (no one would
        answer the polls after the commit)."""
        self.dropped: list[Parked] = []
        """Polls claimed for by a run of the change that rolled back: they claim again."""

    def hand_off(self, ctx: Ctx, matching: Matching) -> None:
        def take(key: QueueKey) -> Parked | None:
            # The lock is never held across a database wait: the PostgreSQL store runs
            # changes as fibers on the loop's thread, where abandon() runs too.
            with self._lock:
                parked = None if self.abandoned else matching.take(key)
                if parked is not None:
                    ctx.effects.handoffs.append((parked, []))
                return parked

        dispatch.hand_off(ctx, take)

    def drop(self, effects: Effects) -> None:
        with self._lock:
            self.dropped += [p for p, _ in effects.handoffs]
            effects.handoffs.clear()

    def abandon(self, effects: Effects) -> list[Parked]:
        """Stop handing off; the polls claimed for so far, which must claim again (a
        committed claim's tasks then go back to the queue as unacknowledged)."""
        with self._lock:
            self.abandoned = True
            return self.dropped + [p for p, _ in effects.handoffs]


def _closed_among(keys: list[tuple[str, str, str]]) -> Callable[[Txn], set[tuple[str, str, str]]]:
    return lambda t: t.closed_runs(keys)
