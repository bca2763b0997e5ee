"""Counting slots: a poller reserves free slots before it asks for that many tasks."""

from __future__ import annotations

import asyncio

__all__ = ["Slots"]


class Slots:
    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("slot count must be at least 1")
        self.size = size
        self.used = 0
        self.polling = 0
        """Of ``used``, the slots reserved by polls still waiting for their tasks."""
        self._freed = asyncio.Event()

    def resize(self, size: int) -> None:
        """Change how many slots there are (a default worker grows and shrinks them,
        :mod:`plait._worker.sizing`): more wake a poller waiting for one; fewer than are
        held only keep new reservations out until enough are released."""
        if size < 1:
            raise ValueError("slot count must be at least 1")
        grew = size > self.size
        self.size = size
        if grew:
            self._freed.set()

    @property
    def free(self) -> int:
        return self.size - self.used

    def try_reserve(self, n: int) -> int:
        """Reserve up to ``n`` slots now; returns how many were reserved."""
        got = max(0, min(n, self.free))
        self.used += got
        return got

    async def reserve_some(self, n: int) -> int:
        """Wait until a slot is free, then reserve up to ``n`` for a poll; the poller says
        :meth:`polled` once the poll is answered (or failed)."""
        while self.free <= 0:
            self._freed.clear()
            await self._freed.wait()
        got = self.try_reserve(n)
        self.polling += got
        return got

    async def acquire(self) -> None:
        """Wait until a slot is free and take it (a local activity's: no poll involved)."""
        while self.free <= 0:
            self._freed.clear()
            await self._freed.wait()
        self.used += 1

    def polled(self, n: int) -> None:
        """A poll that reserved ``n`` is over: its slots are its tasks' now, or released."""
        self.polling -= n

    @property
    def running(self) -> int:
        """Slots held by tasks (not by waiting polls)."""
        return self.used - self.polling

    def release(self, n: int = 1) -> None:
        if n <= 0:
            return
        self.used = max(0, self.used - n)
        self._freed.set()

    async def drained(self) -> None:
        while self.used > 0:
            self._freed.clear()
            await self._freed.wait()
