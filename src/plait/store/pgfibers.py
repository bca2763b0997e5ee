"""The PostgreSQL store's transactions on the event loop's own thread, as greenlets.

**Why.** A state change is synchronous code (``Store.write(fn)``) that reads from the
database as it goes. Run on store threads, every one of its database calls let go of the
GIL (psycopg releases it around each libpq call, ~140 times per W1 workflow) while the event
loop's thread wanted it back: measured with ``perf stat`` on a server doing W1, 75 futex
calls and 47 context switches per workflow against 6 and 3 on SQLite, and 28 % of the
server's CPU in the kernel. Python runs one thread at a time anyway, and PostgreSQL does its
work in its own processes, so the threads bought no parallelism for that cost.

**How.** Each transaction runs in a greenlet (a :class:`Fiber`) driven by a coroutine on
the loop (:func:`run`). Where psycopg would block on the connection's socket
(:meth:`LoopConnection.wait`, which every psycopg call and :mod:`plait.store.pgpipe` go
through), the fiber hands the loop a future for the socket's readiness and the loop runs
other requests until it is ready. Calls that may block without a socket to wait on (the
connection pool's) run on a worker thread (:func:`blocking`). Outside a fiber,
:class:`LoopConnection` waits as psycopg does.
"""

from __future__ import annotations

import asyncio
import collections
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from greenlet import getcurrent, greenlet
from psycopg.abc import PQGen
from psycopg.waiting import Ready, Wait

__all__ = ["Fiber", "Lock", "LoopConnection", "blocking", "current", "run", "suspend"]

T = TypeVar("T")
RV = TypeVar("RV")


class Fiber(greenlet):  # type: ignore[misc]  # greenlet ships no type information
    """A transaction's greenlet; ``slot`` is what it keeps from one job to the next (the
    store's connection), as a store thread kept it in a thread-local."""

    slot: Any = None


def current() -> Fiber | None:
    """The fiber running now, or None on a plain thread or the loop's own greenlet."""
    g = getcurrent()
    return g if isinstance(g, Fiber) else None


async def run(fn: Callable[[], T], slot: Any) -> T:
    """Run ``fn`` in a fiber until it returns, awaiting on the loop whatever it suspends
    on (:func:`suspend`). Its exceptions are raised here. A cancellation is raised in the
    fiber where it waits; if the fiber handles it (a store answers its caller with it),
    it is raised here once the fiber is done, so that the task running this still ends."""
    fiber = Fiber(fn)
    fiber.slot = slot
    cancelled = False
    step: Any = fiber.switch()
    while not fiber.dead:
        try:
            value = await step
        except BaseException as e:  # handed back to the fiber, where the waiting call is
            cancelled = cancelled or isinstance(e, asyncio.CancelledError)
            step = fiber.throw(e)
        else:
            step = fiber.switch(value)
    if cancelled:
        raise asyncio.CancelledError
    return step  # type: ignore[no-any-return]


def suspend(awaitable: Awaitable[T]) -> T:
    """Inside a fiber: give ``awaitable`` to the loop and return its result when ready."""
    fiber = current()
    if fiber is None:
        raise RuntimeError("suspend() outside a store fiber")
    return fiber.parent.switch(awaitable)  # type: ignore[no-any-return]


def blocking(fn: Callable[..., T], *args: Any) -> T:
    """Call ``fn`` where blocking is allowed: on a worker thread from a fiber, else here."""
    if current() is None:
        return fn(*args)
    return suspend(asyncio.to_thread(fn, *args))


def _ready(fileno: int, wait: Wait) -> asyncio.Future[Ready]:
    """A future that resolves when the socket is ready as ``wait`` asks."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Ready] = loop.create_future()

    def unwatch() -> None:
        if wait & Wait.R:
            loop.remove_reader(fileno)
        if wait & Wait.W:
            loop.remove_writer(fileno)

    def fire(ready: Ready) -> None:
        unwatch()
        if not fut.done():
            fut.set_result(ready)

    if wait & Wait.R:
        loop.add_reader(fileno, fire, Ready.R)
    if wait & Wait.W:
        loop.add_writer(fileno, fire, Ready.W)
    fut.add_done_callback(_on_cancel(unwatch))
    return fut


def _on_cancel(unwatch: Callable[[], None]) -> Callable[[asyncio.Future[Ready]], None]:
    def done(fut: asyncio.Future[Ready]) -> None:
        if fut.cancelled():  # no longer wanted: stop watching the socket
            unwatch()
    return done


class LoopConnection(psycopg.Connection[Any]):
    """A psycopg connection whose waits yield to the event loop inside a fiber."""

    def wait(self, gen: PQGen[RV], interval: float = 0.1,
             timeout: float | None = None) -> RV:
        if current() is None or timeout is not None:
            return super().wait(gen, interval, timeout)
        fileno = self.pgconn.socket
        try:
            wait = next(gen)
            while True:
                wait = gen.send(suspend(_ready(fileno, wait)))
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


class Lock:
    """A lock that transactions may hold across a database wait, on threads or fibers.

    A fiber that finds a :class:`threading.Lock` held must not block on it: its holder is
    another fiber of the same thread, suspended, and would never run again. It suspends
    until the holder lets go instead. Not for the loop's own greenlet."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def __enter__(self) -> Lock:
        if current() is None:
            self._lock.acquire()
            return self
        while not self._lock.acquire(blocking=False):
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            suspend(fut)
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                break
