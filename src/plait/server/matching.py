"""Long-poll dispatch: pollers wait on their queue and are woken when a commit adds a task.

The database is the truth; wake-ups are only hints, so a missed one costs a little latency,
never a task. A poller that finds nothing sleeps until the earliest task becomes visible
(backoff, sticky window) or a wake-up, whichever comes first. With several servers on one
database, wake-ups also arrive from the others (``Service`` relays them); a wake-up lost
with a crashed server is covered by ``recheck``, the longest a poller sleeps between claims.

A poller that sleeps is *parked* here: a transaction that makes a task ready on its queue
claims for it in that same transaction (:func:`plait.server.dispatch.hand_off`), and the
poll is answered once that transaction commits. So the task costs no second transaction
and no wake-up of the poller (measured on W2: the start's first workflow task reached the
worker one transaction sooner, ``bench/results/w2-latency.md``). The transaction runs on
the store's thread, so taking a parked poller is guarded by a lock; everything that
resolves a poller's future runs on the event loop.

While this server sees every commit (SQLite's file is its own; a PostgreSQL server that has
heard no other server lately, :meth:`plait.store.base.Store.sees_every_commit`), an empty
claim stays true until a commit wakes the queue: a poll from a session whose claim found the
queue empty moments ago (``EMPTY_SECONDS``), with no wake-up since, parks without claiming
again. A worker polls again as soon as a poll brings it a task, and that claim used to be one
more transaction per task, taken while the task's own completion was on its way (W2; on
PostgreSQL four round trips to the database).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Generic, NamedTuple, TypeVar

from plait.store.history import EventAttributes

__all__ = ["Matching", "Parked", "ResultWaiters", "WakeUps"]

K = TypeVar("K")

QueueKey = tuple[str, str, str]

EMPTY_SECONDS = 0.5
"""How long an empty claim is trusted without a wake-up; also the longest a poll parked on
that trust sleeps before it claims. It bounds what a wake-up that never came costs."""


class _State(enum.Enum):
    PARKED = "parked"
    """Waiting; a transaction may take it."""
    TAKEN = "taken"
    """A transaction claims for it: it waits for :meth:`Matching.deliver`, whatever else
    happens (its own timeout, a wake-up)."""
    GONE = "gone"
    """Woken, delivered or left: no transaction may take it."""


class Parked:
    """A poll sleeping on its queue, which a transaction can answer (a hand-off)."""

    __slots__ = ("future", "key", "limit", "request", "session", "state")

    def __init__(self, key: QueueKey, session: str, limit: int, request: int | None,
                 future: asyncio.Future[list[Any] | None]) -> None:
        self.key = key
        self.session = session
        self.limit = limit
        self.request = request
        """The worker's number of the poll (:attr:`plait.store.base.TaskRow.lease_request`)."""
        self.future = future
        """Resolved on the event loop: the tasks handed off, or None (claim again)."""
        self.state = _State.PARKED


class _Empties:
    """The claims that found a queue empty, per queue and session (its sticky tasks differ):
    when, and when the queue's next task becomes visible to that session."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._found: dict[QueueKey, dict[str, tuple[float, float | None]]] = {}
        self._now = now

    def found(self, key: QueueKey, session: str, next_visible: float | None) -> None:
        self._found.setdefault(key, {})[session] = (time.monotonic(), next_visible)

    def trusted(self, key: QueueKey, session: str) -> tuple[float, float | None] | None:
        """For how long (monotonic) an empty claim of ``session`` still holds, with its next
        visible time; None: claim."""
        found = self._found.get(key)
        seen = found.get(session) if found else None
        if seen is None:
            return None
        until = seen[0] + EMPTY_SECONDS
        if time.monotonic() >= until or (seen[1] is not None and self._now() >= seen[1]):
            del found[session]  # type: ignore[union-attr]
            return None
        return until, seen[1]

    def forget(self, key: QueueKey, session: str | None = None) -> None:
        if session is None:
            self._found.pop(key, None)
        elif key in self._found:
            self._found[key].pop(session, None)

    def forget_all(self) -> None:
        self._found.clear()


class Matching:
    def __init__(self, recheck: float | None = None,
                 now: Callable[[], float] = time.time,
                 sees_every_commit: Callable[[], bool] | None = None) -> None:
        self._events: dict[QueueKey, asyncio.Event] = {}
        self._parked: dict[QueueKey, list[Parked]] = {}
        self._lock = threading.Lock()
        """Guards ``_parked`` and each poller's state: transactions take pollers on the
        store's threads."""
        self.stopping = False
        self.recheck = recheck
        self._empties = _Empties(now)
        """Empty claims to trust, while this server sees every commit: another server's
        commits reach this one as wake-ups that may be lost."""
        self._sees_every_commit = sees_every_commit or (lambda: recheck is None)
        self._now = now
        """Durable time, which tasks' ``visible_at`` is in (the server's clock)."""

    def stop(self) -> None:
        """Answer every waiting poll now (empty), so the server can stop promptly."""
        self.stopping = True
        self.wake_all()

    def wake(self, key: QueueKey) -> None:
        self._empties.forget(key)
        ev = self._events.get(key)
        if ev is not None:
            ev.set()
        if self._parked.get(key):
            with self._lock:
                woken = self._parked.pop(key, [])
                for p in woken:
                    p.state = _State.GONE
            for p in woken:
                _resolve(p.future, None)

    def wake_all(self) -> None:
        """Wake-ups may have been lost: every poller claims again."""
        self.distrust()
        for ev in self._events.values():
            ev.set()
        for key in list(self._parked):
            self.wake(key)

    def distrust(self) -> None:
        """A commit this server will not hear of may come (a state change whose caller
        stopped waiting): the next polls claim rather than trust an empty claim."""
        self._empties.forget_all()

    # -- hand-offs (the store's threads take, the event loop delivers) ------------------------
    def parked(self, key: QueueKey) -> bool:
        """Whether a poller may be parked on ``key`` (a hint: :meth:`take` decides)."""
        return bool(self._parked.get(key))

    def take(self, key: QueueKey) -> Parked | None:
        """The longest-parked poller on ``key``, now bound to wait for :meth:`deliver`.
        Called inside a transaction, on any thread."""
        if self.stopping:
            return None
        with self._lock:
            waiting = self._parked.get(key)
            if not waiting:
                return None
            p = waiting.pop(0)
            if not waiting:
                del self._parked[key]
            p.state = _State.TAKEN
            return p

    def deliver(self, p: Parked, tasks: list[Any] | None) -> None:
        """Answer a taken poller (on the event loop, once the transaction is over): the
        tasks claimed for it if it committed; None if it failed or claimed nothing, and the
        poller claims again itself (a task the claim could not see, from a transaction not
        yet committed, is then found without waiting for the next wake-up)."""
        p.state = _State.GONE
        if not tasks:
            self._empties.forget(p.key, p.session)
        _resolve(p.future, tasks or None)

    def _park(self, key: QueueKey, session: str, limit: int, request: int | None) -> Parked:
        p = Parked(key, session, limit, request, asyncio.get_running_loop().create_future())
        with self._lock:
            self._parked.setdefault(key, []).append(p)
        return p

    def _unpark(self, p: Parked) -> bool:
        """Stop waiting; False when a transaction took the poller meanwhile (its answer
        follows that transaction)."""
        with self._lock:
            if p.state is _State.TAKEN:
                return False
            if p.state is _State.PARKED:
                waiting = self._parked.get(p.key)
                if waiting is not None and p in waiting:
                    waiting.remove(p)
                    if not waiting:
                        del self._parked[p.key]
            p.state = _State.GONE
            return True

    async def poll(self, key: QueueKey, wait: float,
                   claim: Callable[[], Awaitable[tuple[list[Any], float | None]]],
                   session: str = "", limit: int = 1, request: int | None = None) -> list[Any]:
        """Claim tasks, waiting up to ``wait`` seconds for some to appear. While it sleeps,
        a poll with a ``session`` is parked: a transaction may claim for it (``limit``
        tasks at most, under the poll's number ``request``) and answer it at its commit."""
        deadline = time.monotonic() + wait
        while True:
            ev = self._events.setdefault(key, asyncio.Event())
            ev.clear()
            empties = self._empties if session and self._sees_every_commit() else None
            trusted = empties.trusted(key, session) if empties is not None else None
            if trusted is not None:  # nothing since an empty claim moments ago: park
                next_visible = trusted[1]
            else:
                tasks, next_visible = await claim()
                if tasks:
                    return tasks
                if empties is not None and not ev.is_set():
                    empties.found(key, session, next_visible)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.stopping:
                return []
            if ev.is_set():
                continue  # woken while claiming: something may be ready now
            if trusted is not None:
                remaining = min(remaining, max(0.0, trusted[0] - time.monotonic()))
            if next_visible is not None:
                remaining = min(remaining, max(0.005, next_visible - self._now()))
            if self.recheck is not None:
                remaining = min(remaining, self.recheck)
            handed = await self._sleep(key, session, limit, request, remaining, ev)
            if handed:
                return handed

    async def _sleep(self, key: QueueKey, session: str, limit: int, request: int | None,
                     remaining: float, ev: asyncio.Event) -> list[Any] | None:
        """Sleep until woken or ``remaining`` s pass; the tasks handed off meanwhile, if any."""
        if not session:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await ev.wait()
            return None
        p = self._park(key, session, limit, request)
        try:
            # asyncio.wait: a timeout must not cancel the future a transaction may resolve.
            await asyncio.wait((p.future,), timeout=remaining)
        finally:
            left = self._unpark(p)
        if not left:  # taken: the transaction's answer follows its commit (or failure)
            return await p.future
        return p.future.result() if p.future.done() and not p.future.cancelled() else None


def _resolve(fut: asyncio.Future[list[Any] | None], value: list[Any] | None) -> None:
    if not fut.done():
        fut.set_result(value)


RunKey = tuple[str, str, str]


class Outcome(NamedTuple):
    """How a run closed: its status, and its closing event's attributes with the status."""

    status: str
    result: EventAttributes | None


OPEN_KEPT = 100_000
"""How many runs this server started it remembers as open (the oldest are forgotten: a
result request for one reads the run, as for any other)."""


class ResultWaiters:
    """Clients waiting for a run to close (``handle.result()``). A close committed by this
    server carries its outcome (status, result), so the waiters answer without reading the
    run again; a close heard of otherwise (another server, a recheck) carries none.

    Runs this server started while it saw every commit are remembered as open until their
    close: a result request for one (the usual ``start``, then ``result``) waits without
    reading the run first. Any sign that a close may have been missed (another server
    heard from, lost notices) forgets them all; a close missed anyway would cost the
    request its wait, never a wrong answer (it reads the run when the wait ends)."""

    def __init__(self) -> None:
        self._waiters: dict[RunKey, list[asyncio.Future[Outcome | None]]] = {}
        self._open: dict[RunKey, None] = {}  # in the order started, to forget the oldest

    def opened(self, key: RunKey) -> None:
        self._open[key] = None
        if len(self._open) > OPEN_KEPT:
            del self._open[next(iter(self._open))]

    def forget_open(self) -> None:
        """Any run may have closed unseen (a change whose effects will not be applied)."""
        self._open.clear()

    def open(self, key: RunKey) -> bool:
        """Whether this server started the run and has not seen it close."""
        return key in self._open

    def closed(self, key: RunKey, outcome: Outcome | None = None) -> None:
        self._open.pop(key, None)
        for fut in self._waiters.pop(key, []):
            if not fut.done():
                fut.set_result(outcome)

    def keys(self) -> list[tuple[str, str, str]]:
        """The runs someone is waiting for."""
        return list(self._waiters)

    def wake_all(self) -> None:
        """Close notices may have been lost: every waiter reads its run again, and no run
        is known to be open any more."""
        self.forget_open()
        for key in self.keys():
            self.closed(key)

    async def wait(self, key: RunKey, timeout: float) -> Outcome | None:
        """Wait until the run closes; its outcome if this server closed it (or None: read
        the run), None after ``timeout`` too."""
        fut: asyncio.Future[Outcome | None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(key, []).append(fut)
        try:
            async with asyncio.timeout(timeout):
                return await fut
        except TimeoutError:
            return None
        finally:
            waiters = self._waiters.get(key)
            if waiters and fut in waiters:
                waiters.remove(fut)
                if not waiters:
                    del self._waiters[key]


class WakeUps(Generic[K]):
    """Requests on this server waiting for something a later commit settles (a query's
    answer, an update's outcome): the commit's route wakes them at once; a waiter whose
    wake-up came through another server re-reads on its own schedule."""

    def __init__(self) -> None:
        self._waiters: dict[K, list[asyncio.Future[None]]] = {}

    @contextlib.contextmanager
    def listening(self, key: K) -> Iterator[asyncio.Future[None]]:
        """A future that :meth:`wake` resolves, registered for the block."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(key, []).append(fut)
        try:
            yield fut
        finally:
            waiters = self._waiters.get(key)
            if waiters is not None and fut in waiters:
                waiters.remove(fut)
                if not waiters:
                    del self._waiters[key]

    def wake(self, key: K) -> None:
        for fut in self._waiters.get(key, []):
            if not fut.done():
                fut.set_result(None)
