"""Waiting on observable state instead of sleeping: a test that needs "X has happened" asks
for X again until it holds, and fails with what it last saw when X never comes.

``eventually`` (and ``eventually_sync`` for tests that run CLI processes synchronously) take
a *check*, a plain or an async function: it returns a truthy value once the state has come
(that value is returned), and anything falsy while it has not. A check that wants its
timeout message to show what it saw returns ``NotYet(seen)``, a falsy value that carries it.
The domain helpers below are the waits several files share, written once.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Literal, TypeAlias, TypeVar, overload

from plait.client import PendingActivity, WorkflowExecutionDescription, WorkflowHandle
from plait.history import History

__all__ = ["NotYet", "activity_started", "eventually", "eventually_sync", "history_has",
           "pending_activity", "status_is"]

T = TypeVar("T")

TIMEOUT = 10.0
INTERVAL = 0.02


class NotYet:
    """A check's "not yet" that says what it saw (shown when the wait times out)."""

    __slots__ = ("seen",)

    def __init__(self, seen: object) -> None:
        self.seen = seen

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return repr(self.seen)


Answer: TypeAlias = "T | NotYet | Literal[False] | None"
"""What a check returns: the value once the state has come, or something falsy meanwhile."""


def _pauses(timeout: float, interval: float) -> Iterator[float]:
    """The pause before each try: none before the first, ``interval`` between the others, and
    the last try at the deadline itself, so a state that comes late but in time still counts.
    Shared by both loops so that they cannot disagree about when the time is up."""
    deadline = time.monotonic() + timeout
    yield 0.0
    while (left := deadline - time.monotonic()) > 0:
        yield min(interval, left)


def _timed_out(what: str, timeout: float, last: object) -> AssertionError:
    return AssertionError(f"{what} did not happen within {timeout} s; last seen: {last!r}")


@overload
async def eventually(check: Callable[[], Awaitable[Answer[T]]], *, what: str,
                     timeout: float = ..., interval: float = ...) -> T: ...
@overload
async def eventually(check: Callable[[], Answer[T]], *, what: str,
                     timeout: float = ..., interval: float = ...) -> T: ...
async def eventually(check: Callable[[], Awaitable[Answer[T]] | Answer[T]], *, what: str,
                     timeout: float = TIMEOUT, interval: float = INTERVAL) -> T:
    """Call ``check()`` (awaiting its answer if it is a coroutine function, so a plain lambda
    over a list will do) every ``interval`` seconds until it returns a truthy value, and return
    that value; after ``timeout`` seconds raise ``AssertionError`` naming ``what`` and the last
    answer."""
    last: object = None
    for pause in _pauses(timeout, interval):
        if pause:
            await asyncio.sleep(pause)
        answer = check()
        if inspect.isawaitable(answer):
            answer = await answer
        if answer:
            return answer  # type: ignore[return-value]  # truthy: neither None, False nor NotYet
        last = answer
    raise _timed_out(what, timeout, last)


def eventually_sync(check: Callable[[], Answer[T]], *, what: str, timeout: float = TIMEOUT,
                    interval: float = INTERVAL) -> T:
    """:func:`eventually` for synchronous tests (a check that runs the CLI, reads a file)."""
    last: object = None
    for pause in _pauses(timeout, interval):
        if pause:
            time.sleep(pause)
        answer = check()
        if answer:
            return answer  # type: ignore[return-value]  # truthy: neither None, False nor NotYet
        last = answer
    raise _timed_out(what, timeout, last)


async def pending_activity(handle: WorkflowHandle[Any], state: str, *,
                           activity_type: str | None = None,
                           timeout: float = TIMEOUT) -> PendingActivity:
    """Wait until ``describe()`` lists a pending activity (of ``activity_type``, if given) in
    ``state`` (``started``, ``backing_off``, ...); that activity."""
    async def check() -> PendingActivity | NotYet:
        pending = (await handle.describe()).pending_activities
        return next((p for p in pending if p.state == state
                     and activity_type in (None, p.activity_type)),
                    NotYet([(p.activity_type, p.state, p.attempt) for p in pending]))
    return await eventually(check, timeout=timeout,
                            what=f"{activity_type or 'an activity'} {state} in {handle.id}")


async def activity_started(handle: WorkflowHandle[Any], activity_type: str | None = None, *,
                           timeout: float = TIMEOUT) -> PendingActivity:
    """Wait until a worker has taken an attempt of the activity (its task is leased)."""
    return await pending_activity(handle, "started", activity_type=activity_type,
                                  timeout=timeout)


async def status_is(handle: WorkflowHandle[Any], status: str, *,
                    timeout: float = TIMEOUT) -> WorkflowExecutionDescription:
    """Wait until the run's status is ``status``; its description then."""
    async def check() -> WorkflowExecutionDescription | NotYet:
        desc = await handle.describe()
        return desc if desc.status == status else NotYet(desc.status)
    return await eventually(check, timeout=timeout, what=f"{handle.id} {status}")


async def history_has(handle: WorkflowHandle[Any], event_type: str, count: int = 1, *,
                      timeout: float = TIMEOUT) -> History:
    """Wait until the run's history holds at least ``count`` events of ``event_type``; the
    history then."""
    async def check() -> History | NotYet:
        history = await handle.fetch_history()
        types = [e.event_type for e in history.events]
        return history if types.count(event_type) >= count else NotYet(types)
    return await eventually(check, timeout=timeout,
                            what=f"{count} {event_type} event(s) in {handle.id}'s history")
