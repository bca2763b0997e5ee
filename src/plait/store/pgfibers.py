"""The PostgreSQL store's transactions on the event loop's own thread, as greenlets.

**Why.** A state change is synchronous code (``Store.write(fn)``) that reads from the
database as it goes. Run on store threads, every one of its database calls let go of the
GIL (psycopg releases it around each libpq call, ~140 times per W1 workflow) while the event
loop's thread wanted it back: measured with ``perf stat`` on a server doing W1, 75 futex
calls and 47 context switches per workflow against 6 and 3 on SQLite, and 28 % of the
server's CPU in the kernel. Python runs one thread at a time anyway, and PostgreSQL does its
work in its own processes, so the threads bought no parallelism for that cost.

**How.** Each transaction runs in a greenlet (a :class:`Fiber`) started by :func:`run`.
Where psycopg would block on the connection's socket (:meth:`LoopConnection.wait`, which
every psycopg call and :mod:`plait.store.pgpipe` go through), the fiber switches back to the
loop, which runs other requests until the socket is ready and then resumes the fiber from
its reader callback. Calls that may block without a socket to wait on (the connection
pool's) run on a worker thread (:func:`blocking`). Outside a fiber,
:class:`LoopConnection` waits as psycopg does.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from greenlet import getcurrent, greenlet
from psycopg.abc import PQGen
from psycopg.waiting import Ready, Wait

__all__ = ["Fiber", "Lock", "LoopConnection", "blocking", "current", "pause", "run",
           "suspend"]

T = TypeVar("T")
RV = TypeVar("RV")


class Fiber(greenlet):  # type: ignore[misc]  # greenlet ships no type information
    """A transaction's greenlet; ``slot`` is what it keeps from one job to the next (the
    store's connection), as a store thread kept it in a thread-local."""

    slot: Any = None
    done: asyncio.Future[Any]
    """Resolved with what the fiber returns or raises (:func:`run` awaits it)."""
    socket: _Socket | None = None
    """The socket wait it is suspended on, if any."""
    awaiting: asyncio.Future[Any] | None = None
    """The awaitable it is suspended on, if any."""


class _Socket:
    """A fiber's request to be resumed when its socket is ready (:meth:`LoopConnection.wait`).
    The loop's reader callback resumes the fiber itself: no future, no task step."""

    __slots__ = ("fileno", "wait")

    def __init__(self, fileno: int, wait: Wait) -> None:
        self.fileno, self.wait = fileno, wait


def current() -> Fiber | None:
    """The fiber running now, or None on a plain thread or the loop's own greenlet."""
    g = getcurrent()
    return g if isinstance(g, Fiber) else None


async def run(fn: Callable[[], T], slot: Any) -> T:
    """Run ``fn`` in a fiber until it returns; what it suspends on (:func:`suspend`, a
    socket wait) resumes it from the loop's callbacks. Its exceptions are raised here.

    A cancellation is raised in the fiber where it waits; the fiber is let finish (a store
    rolls back and answers its caller with it), then the cancellation is raised here, so
    that the task running this still ends."""
    loop = asyncio.get_running_loop()
    fiber = Fiber(fn)
    fiber.slot = slot
    fiber.done = loop.create_future()
    _step(loop, fiber, fiber.switch)
    try:
        return await fiber.done  # type: ignore[no-any-return]
    except asyncio.CancelledError:
        if fiber.dead:
            raise
        _stop_waiting(loop, fiber)
        fiber.done = loop.create_future()
        _step(loop, fiber, fiber.throw, asyncio.CancelledError())
        with contextlib.suppress(BaseException):
            await asyncio.shield(fiber.done)
        raise


def _step(loop: asyncio.AbstractEventLoop, fiber: Fiber, resume: Callable[..., Any],
          *args: Any) -> None:
    """Resume ``fiber`` until it suspends again or ends, and arrange its next resumption."""
    try:
        request = resume(*args)
    except BaseException as e:  # the fiber ended with it
        if not fiber.done.done():
            if isinstance(e, asyncio.CancelledError):
                fiber.done.cancel()
            else:
                fiber.done.set_exception(e)
        return
    if fiber.dead:
        if not fiber.done.done():
            fiber.done.set_result(request)
        return
    try:
        if type(request) is _Socket:
            fiber.socket = request
            if request.wait & Wait.R:
                loop.add_reader(request.fileno, _socket_ready, loop, fiber, Ready.R)
            if request.wait & Wait.W:
                loop.add_writer(request.fileno, _socket_ready, loop, fiber, Ready.W)
        else:
            fut = asyncio.ensure_future(request)
            fiber.awaiting = fut
            fut.add_done_callback(lambda f: _awaited(loop, fiber, f))
    except BaseException as e:  # could not wait (a closed socket): raised where it asked
        _stop_waiting(loop, fiber)
        _step(loop, fiber, fiber.throw, e)


def _socket_ready(loop: asyncio.AbstractEventLoop, fiber: Fiber, ready: Ready) -> None:
    _stop_waiting(loop, fiber)
    _step(loop, fiber, fiber.switch, ready)


def _awaited(loop: asyncio.AbstractEventLoop, fiber: Fiber, fut: asyncio.Future[Any]) -> None:
    if fiber.awaiting is not fut:  # the fiber stopped waiting for it (cancelled)
        return
    fiber.awaiting = None
    if fut.cancelled():
        _step(loop, fiber, fiber.throw, asyncio.CancelledError())
    elif (exc := fut.exception()) is not None:
        _step(loop, fiber, fiber.throw, exc)
    else:
        _step(loop, fiber, fiber.switch, fut.result())


def _stop_waiting(loop: asyncio.AbstractEventLoop, fiber: Fiber) -> None:
    sock, fiber.socket = fiber.socket, None
    if sock is not None:
        if sock.wait & Wait.R:
            loop.remove_reader(sock.fileno)
        if sock.wait & Wait.W:
            loop.remove_writer(sock.fileno)
    fut, fiber.awaiting = fiber.awaiting, None
    if fut is not None:
        fut.cancel()


def suspend(awaitable: Awaitable[T]) -> T:
    """Inside a fiber: give ``awaitable`` to the loop and return its result when ready."""
    fiber = current()
    if fiber is None:
        raise RuntimeError("suspend() outside a store fiber")
    return fiber.parent.switch(awaitable)  # type: ignore[no-any-return]


def pause() -> None:
    """Inside a fiber: let the loop have a turn (other requests, answers) before going on;
    elsewhere, nothing. For long stretches of Python in one transaction, such as loading a
    result of many thousands of rows: on threads, the GIL's switch interval shared them
    with the loop, but a fiber holds the loop until it waits or ends."""
    if current() is not None:
        suspend(asyncio.sleep(0))


def blocking(fn: Callable[..., T], *args: Any) -> T:
    """Call ``fn`` where blocking is allowed: on a worker thread from a fiber, else here."""
    if current() is None:
        return fn(*args)
    return suspend(asyncio.to_thread(fn, *args))


class LoopConnection(psycopg.Connection[Any]):
    """A psycopg connection whose waits yield to the event loop inside a fiber."""

    def wait(self, gen: PQGen[RV], interval: float = 0.1,
             timeout: float | None = None) -> RV:
        fiber = current()
        if fiber is None or timeout is not None:
            return super().wait(gen, interval, timeout)
        fileno = self.pgconn.socket
        try:
            wait = next(gen)
            while True:
                wait = gen.send(fiber.parent.switch(_Socket(fileno, wait)))
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
