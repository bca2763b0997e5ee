"""The server's in-process core: the store, plus what must happen after each commit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TypeVar

from plait.server.effects import Effects
from plait.server.matching import Matching, ResultWaiters
from plait.server.run import Ctx
from plait.server.timers import TimerService
from plait.store.base import ConflictError, Store, Txn

__all__ = ["Service", "ServiceConfig"]

T = TypeVar("T")
log = logging.getLogger("plait.server")


class ServiceConfig:
    def __init__(self, *, session_expiry: float = 5.0, max_payload: int = 2 * 1024 * 1024,
                 retention_seconds: float = 7 * 86400.0) -> None:
        self.session_expiry = session_expiry
        self.max_payload = max_payload
        self.retention_seconds = retention_seconds


class Service:
    def __init__(self, store: Store, config: ServiceConfig | None = None) -> None:
        self.store = store
        self.config = config or ServiceConfig()
        self.matching = Matching()
        self.results = ResultWaiters()
        self.timers = TimerService(self)
        self._tasks: list[asyncio.Task[None]] = []
        self._namespaces: set[str] = set()

    async def ensure_namespace(self, ns: str) -> None:
        """Namespaces spring into being on first use, with the default retention."""
        if ns in self._namespaces:
            return
        retention = self.config.retention_seconds
        await self.write(lambda ctx: ctx.txn.exec("ensure_namespace", ns=ns,
                                                  retention=retention))
        self._namespaces.add(ns)

    async def start(self) -> None:
        expiry = self.config.session_expiry
        # Workers alive through a server restart get a full expiry to heartbeat again.
        await self.write(lambda ctx: ctx.txn.exec("extend_all_sessions",
                                                  expires_at=ctx.now + expiry))
        await self.ensure_namespace("default")
        self._tasks.append(asyncio.create_task(self.timers.run(), name="plait-timers"))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()

    async def write(self, fn: Callable[[Ctx], T]) -> T:
        """Run a state change in one transaction; apply its effects once it is durable."""
        for attempt in range(5):
            effects = Effects()

            def op(txn: Txn, effects: Effects = effects) -> T:
                return fn(Ctx(txn, time.time(), effects))
            try:
                result = await self.store.write(op)
            except ConflictError:
                if attempt == 4:
                    raise
                continue
            self._apply(effects)
            return result
        raise AssertionError("unreachable")

    def _apply(self, effects: Effects) -> None:
        for key in effects.queues:
            self.matching.wake(key)
        if effects.timer_at is not None:
            self.timers.hint(effects.timer_at)
        for key in effects.closed:
            self.results.closed(key)
