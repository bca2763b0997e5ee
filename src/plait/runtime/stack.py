"""Where a workflow's coroutines wait: the text of the built-in ``__stack_trace`` query.

Each of the workflow's tasks still running is suspended at an ``await``; following its
coroutine's ``cr_await`` chain down to the awaitable that is not a coroutine (a future: an
activity, a timer, a condition) gives the frames it waits in. Reading frames runs no
workflow code and changes nothing, so answering it cannot disturb determinism.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["STACK_TRACE_QUERY", "stack_trace"]

STACK_TRACE_QUERY = "__stack_trace"
"""The query name every workflow answers without a handler of its own (as Temporal's)."""


def _frame_of(awaitable: Any) -> types.FrameType | None:
    for attr in ("cr_frame", "gi_frame", "ag_frame"):
        frame = getattr(awaitable, attr, None)
        if frame is not None:
            return frame  # type: ignore[no-any-return]
    return None


def _awaiting(awaitable: Any) -> Any:
    for attr in ("cr_await", "gi_yieldfrom", "ag_await"):
        inner = getattr(awaitable, attr, None)
        if inner is not None:
            return inner
    return None


def _frames(coro: Any) -> Iterator[types.FrameType]:
    """The frames of a suspended coroutine, outermost first, down its await chain."""
    while coro is not None:
        frame = _frame_of(coro)
        if frame is None:  # a future, or a finished coroutine: nothing below to show
            return
        yield frame
        coro = _awaiting(coro)


def _line(frame: types.FrameType) -> str:
    code = frame.f_code
    return f"{code.co_filename}:{frame.f_lineno} in {code.co_qualname}"


def stack_trace(tasks: Iterable[asyncio.Task[Any]]) -> str:
    """One block per waiting task (in creation order), blank-line separated, a frame a
    line as ``file:line in function``, the line the task waits at last."""
    blocks = []
    for task in tasks:
        if task.done():
            continue
        lines = [_line(f) for f in _frames(task.get_coro())]
        if lines:
            blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
