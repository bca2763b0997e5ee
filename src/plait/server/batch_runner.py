"""The batch runner: takes the pages of running batch jobs as they fall due
(:func:`plait.server.batches.run_page`), one page per transaction.

Like the timer service, it sleeps until the earliest due page (``next_run_at``, wall time):
a job started through this server wakes it at once; with a shared database it also looks
every :data:`SHARED_LOOK` seconds for jobs started through other servers. A job's page is
claimed with its row locked (PostgreSQL: ``SKIP LOCKED``), so however many servers look, each
page runs once. After a restart the jobs go on from their cursors: all of a job's state is in
its row. Closed jobs are kept for their namespace's retention, as closed runs are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

from plait.server import batches
from plait.server.run import Ctx
from plait.store.base import Store

__all__ = ["BatchHost", "BatchRunner"]

T = TypeVar("T")
log = logging.getLogger("plait.server.batches")

SHARED_LOOK = 1.0
"""With a shared database: the longest a job started elsewhere waits for this server."""
OWN_LOOK = 30.0
"""With a database of its own every job is started here (a hint); look anyway now and then."""
BUSY_RETRY = 0.05
"""A page is due but another server (or transaction) holds its job: look again soon."""
ERROR_PAUSE = 0.5
RETENTION_EVERY = 60.0
"""How often closed jobs past their namespace's retention are deleted."""


class BatchHost(Protocol):
    """What the runner needs of the server it runs in (the ``Service``)."""

    store: Store

    async def write(self, fn: Callable[[Ctx], T]) -> T: ...


def _take_page(ctx: Ctx) -> bool:
    """Claim one due job and run its page; False when none was due (or all were taken)."""
    for ns, batch_id in ctx.txn.claim_due_batches(ctx.wall, 1):
        return batches.run_page(ctx, ns, batch_id)
    return False


class BatchRunner:
    def __init__(self, service: BatchHost) -> None:
        self.service = service
        self._wake = asyncio.Event()
        self._last_retention = 0.0

    def hint(self) -> None:
        """A job was started (or changed) through this server: look now."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                delay = await self._tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away, or a page failed: try again
                log.error("batch runner: %s", exc)
                delay = ERROR_PAUSE
            if delay > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wake.wait()

    async def _tick(self) -> float:
        """Run due pages until none is; then how long to sleep."""
        svc = self.service
        if time.time() - self._last_retention >= RETENTION_EVERY:
            self._last_retention = time.time()
            await svc.write(lambda ctx: ctx.txn.delete_expired_batches(ctx.now))
        while await svc.write(_take_page):
            await asyncio.sleep(0)  # let live requests in between pages
        due = await svc.store.read(lambda t: t.next_batch_run())
        look = SHARED_LOOK if svc.store.shared else OWN_LOOK
        if due is None:
            return look
        return min(look, max(BUSY_RETRY, due - time.time()))
