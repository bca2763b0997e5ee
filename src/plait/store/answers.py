"""Answering the callers of a batch of transactions, from a store thread, on their loops.

``call_soon_threadsafe`` writes to the event loop's self-pipe: a system call here and a
wake-up and loop turn there, for each call. A batch that committed together (SQLite's
writer batch, a PostgreSQL group) is answered with one call per event loop instead of one
per caller. A batch run on the caller's own loop's thread (the PostgreSQL store's fibers)
is answered at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any

__all__ = ["Answer", "answer_all"]

Answer = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Any, bool]
"""(the caller's loop, its future, the value or the error, whether it succeeded)."""


def answer_all(answers: Iterable[Answer]) -> None:
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, bool]]] = {}
    for loop, fut, value, ok in answers:
        by_loop.setdefault(loop, []).append((fut, value, ok))
    here = asyncio._get_running_loop()
    for loop, items in by_loop.items():
        if loop is here:
            _resolve_all(items)
            continue
        with contextlib.suppress(RuntimeError):  # the loop closed while the store worked
            loop.call_soon_threadsafe(_resolve_all, items)


def _resolve_all(items: list[tuple[asyncio.Future[Any], Any, bool]]) -> None:
    for fut, value, ok in items:
        if fut.done():
            continue  # the caller stopped waiting (cancelled)
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)
