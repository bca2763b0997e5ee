"""What ``call_later`` returns in a workflow's loop: a durable timer that ``cancel()`` cancels.

``asyncio.sleep`` in workflow code schedules its wake-up with ``call_later``; the runtime turns
that into a START_TIMER command and fires the callback when the history says TIMER_FIRED.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["DurableTimer", "TimerOwner"]


class TimerOwner(Protocol):
    """The workflow's loop, as a timer sees it."""

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> Any: ...

    def time(self) -> float: ...

    def _cancel_timer(self, timer_id: str) -> None: ...


class DurableTimer:
    __slots__ = ("_args", "_callback", "_cancelled", "_fired", "_owner", "timer_id")

    def __init__(self, owner: TimerOwner, timer_id: str, callback: Callable[..., Any],
                 args: tuple[Any, ...]) -> None:
        self._owner, self.timer_id = owner, timer_id
        self._callback, self._args = callback, args
        self._cancelled = self._fired = False

    def fire(self) -> None:
        if not self._cancelled and not self._fired:
            self._fired = True
            self._owner.call_soon(self._callback, *self._args)

    def cancel(self) -> None:
        if self._cancelled or self._fired:
            return
        self._cancelled = True
        self._owner._cancel_timer(self.timer_id)

    def cancelled(self) -> bool:
        return self._cancelled

    def when(self) -> float:
        return self._owner.time()
