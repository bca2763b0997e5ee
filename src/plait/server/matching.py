"""Long-poll dispatch: pollers wait on their queue and are woken when a commit adds a task.

The database is the truth; wake-ups are only hints, so a missed one costs a little latency,
never a task. A poller that finds nothing sleeps until the earliest task becomes visible
(backoff, sticky window) or a wake-up, whichever comes first. With several servers on one
database, wake-ups also arrive from the others (``Service`` relays them); a wake-up lost
with a crashed server is covered by ``recheck``, the longest a poller sleeps between claims.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Generic, NamedTuple, TypeVar

from plait.store.history import EventAttributes

__all__ = ["Matching", "ResultWaiters", "WakeUps"]

K = TypeVar("K")

QueueKey = tuple[str, str, str]


class Matching:
    def __init__(self, recheck: float | None = None,
                 now: Callable[[], float] = time.time) -> None:
        self._events: dict[QueueKey, asyncio.Event] = {}
        self.stopping = False
        self.recheck = recheck
        self._now = now
        """Durable time, which tasks' ``visible_at`` is in (the server's clock)."""

    def stop(self) -> None:
        """Answer every waiting poll now (empty), so the server can stop promptly."""
        self.stopping = True
        for ev in self._events.values():
            ev.set()

    def wake(self, key: QueueKey) -> None:
        ev = self._events.get(key)
        if ev is not None:
            ev.set()

    def wake_all(self) -> None:
        """Wake-ups may have been lost: every poller claims again."""
        for ev in self._events.values():
            ev.set()

    async def poll(self, key: QueueKey, wait: float,
                   claim: Callable[[], Awaitable[tuple[list[Any], float | None]]]) -> list[Any]:
        """Claim tasks, waiting up to ``wait`` seconds for some to appear."""
        deadline = time.monotonic() + wait
        while True:
            ev = self._events.setdefault(key, asyncio.Event())
            ev.clear()
            tasks, next_visible = await claim()
            if tasks:
                return tasks
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.stopping:
                return []
            if next_visible is not None:
                remaining = min(remaining, max(0.005, next_visible - self._now()))
            if self.recheck is not None:
                remaining = min(remaining, self.recheck)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await ev.wait()


RunKey = tuple[str, str, str]


class Outcome(NamedTuple):
    """How a run closed: its status, and its closing event's attributes with the status."""

    status: str
    result: EventAttributes | None


class ResultWaiters:
    """Clients waiting for a run to close (``handle.result()``). A close committed by this
    server carries its outcome (status, result), so the waiters answer without reading the
    run again; a close heard of otherwise (another server, a recheck) carries none."""

    def __init__(self) -> None:
        self._waiters: dict[RunKey, list[asyncio.Future[Outcome | None]]] = {}

    def closed(self, key: RunKey, outcome: Outcome | None = None) -> None:
        for fut in self._waiters.pop(key, []):
            if not fut.done():
                fut.set_result(outcome)

    def keys(self) -> list[tuple[str, str, str]]:
        """The runs someone is waiting for."""
        return list(self._waiters)

    def wake_all(self) -> None:
        """Close notices may have been lost: every waiter reads its run again."""
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
