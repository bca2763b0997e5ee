"""Unwinding an evicted workflow inside its own loop.

A workflow instance leaves the worker's cache when the cache is full, when a task shows the
cache is stale, when its task failed, and at shutdown. Its coroutines are suspended at their
awaits. Left alone, they would be closed by the garbage collector, at an unknown time, on no
loop, and their ``finally:`` blocks and ``async with`` exits would run there (then once more
when the run is replayed elsewhere). Instead, :func:`unwind` throws :class:`Eviction` into
each of them, on the workflow's own loop, in the order the tasks were created: cleanup runs
once, deterministically, where ``workflow.*`` still works; what it asks for is discarded.

``Eviction`` derives from ``BaseException``, so ``except Exception`` in workflow code cannot
swallow it. ``except BaseException`` can, as it can swallow anything: after
:data:`MAX_THROWS` such a coroutine is closed, and one that refuses even that is kept in
:data:`REFUSED` (logged) rather than left to the garbage collector.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from typing import Any

__all__ = ["MAX_THROWS", "REFUSED", "Eviction", "unwind"]

log = logging.getLogger("plait.workflow")

MAX_THROWS = 100
"""How many awaits of one coroutine's cleanup are interrupted before it is closed outright."""

REFUSED: list[Coroutine[Any, Any, Any]] = []
"""Coroutines that caught even their closing (``except BaseException`` in a loop)."""


class Eviction(BaseException):
    """Thrown into a workflow's coroutines when its instance is evicted from the cache."""

    def __init__(self) -> None:
        super().__init__("the workflow instance is being evicted from this worker's cache")


def unwind(loop: asyncio.AbstractEventLoop, tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Throw :class:`Eviction` into every task that is not done. Must run with ``loop`` as
    the running loop. A cleanup that awaits gets ``Eviction`` at that await too."""
    for task in tasks:
        if task.done():
            continue
        coro = task.get_coro()
        if not isinstance(coro, Coroutine):
            continue
        asyncio.tasks._enter_task(loop, task)
        try:
            _throw_until_done(coro, task.get_name())
        finally:
            asyncio.tasks._leave_task(loop, task)


def _throw_until_done(coro: Coroutine[Any, Any, Any], name: str) -> None:
    for _ in range(MAX_THROWS):
        try:
            coro.throw(Eviction())
        except (KeyboardInterrupt, SystemExit):
            raise
        except (Eviction, StopIteration):  # unwound, or the code swallowed it and returned
            return
        except BaseException as exc:  # the cleanup raised instead: unwound all the same
            log.debug("workflow task %r raised %r while evicted", name, exc)
            return
    log.warning("workflow task %r kept awaiting while evicted; closing it", name)
    try:
        coro.close()
    except RuntimeError:
        # It swallowed GeneratorExit too. Collecting it would run its handler once more,
        # outside any loop: it is kept instead, a small leak for code that is broken.
        log.error("workflow task %r refuses to close; it is kept, never collected", name)
        REFUSED.append(coro)
