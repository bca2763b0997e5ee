"""How long to wait before trying again: one rule for every retry and reconnect loop.

The delay doubles from ``first`` up to ``cap``, and each wait is jittered to between half and
one and a half times it, so that the workers and clients a server restart cut off at the same
moment do not all come back at the same moment too.
"""

from __future__ import annotations

import asyncio
import random

__all__ = ["Backoff"]


class Backoff:
    """The waits of one retry loop; :meth:`reset` after a success starts over at ``first``."""

    def __init__(self, first: float = 0.05, cap: float = 2.0, *, factor: float = 2.0) -> None:
        if not 0 < first <= cap or factor < 1:
            raise ValueError(f"backoff needs 0 < first <= cap and factor >= 1, "
                             f"not first={first}, cap={cap}, factor={factor}")
        self.first = first
        self.cap = cap
        self.factor = factor
        self._base = first

    def next(self) -> float:
        """The next wait in seconds (jittered), and the one after it grows."""
        delay = self._base * (0.5 + random.random())
        self._base = min(self._base * self.factor, self.cap)
        return delay

    def reset(self) -> None:
        self._base = self.first

    async def wait(self) -> float:
        """Sleep for the next wait; returns how long that was."""
        delay = self.next()
        await asyncio.sleep(delay)
        return delay
