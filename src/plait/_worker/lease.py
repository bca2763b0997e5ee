"""What a worker may believe about its session's lease, and the out-of-turn renewal.

Fencing keeps a late result out of the history, but not a late *start* out of the world: a
worker paused past its session expiry (a GC or VM pause, a loop blocked by CPU-bound code,
SIGSTOP) may resume holding a poll response whose attempt the server has since given to
another worker. So every task carries a :data:`LeaseStamp` (the session it came on and when
the request that brought it was sent), and an activity starts only while :meth:`Lease.live`
holds for it; otherwise the worker renews its session and re-confirms the attempt first
(``plait._worker.activities``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from plait._api import Api
from plait._worker.inflight import InFlight

__all__ = ["LEASE_MARGIN", "STALL", "Lease", "LeaseStamp"]

log = logging.getLogger("plait.worker")

LeaseStamp = tuple[str | None, float]
"""Where a task came from: the session it is leased to, and when (``time.monotonic()``) the
request that brought it was sent."""

STALL = 1.0
"""A timer that fires this much later than asked means the event loop was stalled (a pause,
CPU-bound code). Poll responses that arrived meanwhile were not read, and the first
heartbeat after a stall leaves without their tasks. A server that judges by request numbers
(``_worker.inflight``) knows they are on their way; one that judges by time (older) offers a
task unlisted 2 s after its answer again. So tasks of requests sent before a stall are
confirmed."""
STALL_TICK = 0.25
"""How often the stall watch (:meth:`Lease.watch_stalls`) wakes up."""
LEASE_MARGIN = 0.2
"""A task is started without asking the server only while the worker's last acknowledged
session renewal was sent less than ``(1 - LEASE_MARGIN) x expiry`` ago: the margin covers a
server clock stepping forward and the moment between the check and the activity's first line.
A worker renews every 1 to 2 s (expiry / 2.5), so with the default 5 s expiry (4 s believed)
only a worker that was paused or cut off ever asks."""


class Lease:
    """The worker's session as the worker knows it: its id and expiry, the last renewal the
    server acknowledged, and the last stall of the event loop."""

    def __init__(self, api: Api, inflight: InFlight) -> None:
        self.api = api
        self.inflight = inflight
        """The tasks held here and the requests answered: every renewal names them."""
        self.session_id: str | None = None
        self.expiry = 5.0
        self._renewed: LeaseStamp = (None, 0.0)
        """(session, monotonic time) of the last renewal the server acknowledged, taken when
        its request was *sent*: the server renewed the lease when the request arrived, later,
        so the lease runs at least until that time + expiry whatever the answer's delay."""
        self._renewal: tuple[str | None, asyncio.Task[float | None]] | None = None
        """The out-of-turn renewal in flight (:meth:`renew`), and its session."""
        self._stalled_at = 0.0
        """When the event loop was last found to have stalled (``STALL``)."""

    def opened(self, session: str, expiry: float, sent: float) -> None:
        """A session was opened by a request sent at ``sent``."""
        self.session_id, self.expiry = session, expiry
        self._renewed = (session, sent)

    def closed(self) -> str | None:
        """The session ends (shutdown); returns it, to be closed at the server."""
        session, self.session_id = self.session_id, None
        return session

    def stamp(self) -> LeaseStamp:
        """The stamp of tasks answering a request sent now."""
        return self.session_id, time.monotonic()

    def live(self, stamp: LeaseStamp) -> bool:
        """Whether the lease of a task with this stamp can be believed live: it is leased to
        the current session, a renewal sent recently was acknowledged, and the loop has not
        stalled since the request that brought the task was sent.

        False after a pause longer than the lease: the server may have expired the session
        and given its tasks to other workers meanwhile. False too after a shorter stall with
        the task unread, as the first heartbeat after it may have told the server the task
        never arrived (``STALL``). Either way the task must not start without asking."""
        session, sent = stamp
        renewed_session, renewed_at = self._renewed
        return session is not None and session == self.session_id == renewed_session \
            and time.monotonic() - renewed_at < self.expiry * (1 - LEASE_MARGIN) \
            and sent > self._stalled_at

    def acknowledged(self, session: str | None, sent: float) -> None:
        """The server renewed ``session`` on a request sent at ``sent``; answers to older
        requests, or about a session that is no longer this worker's, change nothing."""
        renewed_session, renewed_at = self._renewed
        if session == self.session_id and (session != renewed_session or sent > renewed_at):
            self._renewed = (session, sent)

    def note_stall(self, asleep: float, interval: float, woke: float) -> None:
        """A timer of ``interval`` set at ``asleep`` fired at ``woke``."""
        if woke - asleep - interval > STALL:
            self._stalled_at = woke

    async def watch_stalls(self) -> None:
        """Notice stalls of the event loop even while the heartbeat loop waits for an answer
        rather than sleeps: then a stall does not delay its timer, but an out-of-turn renewal
        may still list tasks before all the poll responses that piled up are read."""
        while True:
            asleep = time.monotonic()
            await asyncio.sleep(STALL_TICK)
            self.note_stall(asleep, STALL_TICK, time.monotonic())

    async def renew(self, session: str | None) -> float | None:
        """Renew ``session`` now, out of turn; returns when the renewal was sent, or None
        when the server no longer knows the session (it expired; the heartbeat loop opens a
        new one) or cannot be reached. Callers that ask at the same time share one request."""
        if self._renewal is None or self._renewal[0] != session or self._renewal[1].done():
            self._renewal = (session, asyncio.create_task(self._renew(session)))
        return await asyncio.shield(self._renewal[1])

    async def _renew(self, session: str | None) -> float | None:
        sent = time.monotonic()
        if session is None:
            return None
        try:
            # The tasks this worker holds are listed, as in every heartbeat: one not listed
            # would be offered again as never delivered.
            await self.api.session_heartbeat(session, self.inflight.listing())
        except Exception as e:  # whatever it was, the lease is not confirmed
            log.info("session %s could not be renewed: %s", session, e)
            return None
        self.acknowledged(session, sent)
        return sent

    async def stop(self) -> None:
        """Cancel an out-of-turn renewal still in flight (shutdown)."""
        if self._renewal is not None and not self._renewal[1].done():
            self._renewal[1].cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._renewal[1]
