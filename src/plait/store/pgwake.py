"""Wake-ups between servers on one PostgreSQL database: NOTIFY after commits, LISTEN for the
others', and NOTIFY only while another server listens.

**Why a connection of its own.** Messages are collected and sent with NOTIFY from their own
connection right after the commits that caused them (deduplicated, several per NOTIFY):
measured, a NOTIFY inside each write transaction halved single-connection commit throughput
and cost 18 % at 16 connections, because PostgreSQL serializes the commits of notifying
transactions.

**Only while someone listens.** A server alone on its database would notify nobody but
itself: that was 10 % of its event loop's CPU in W1 (sending, then hearing and dropping its
own messages) and work for PostgreSQL on every commit. So each server says ``hello`` when it
starts listening and ``here`` every :data:`PRESENCE_EVERY` seconds; one that has heard
another server within :data:`PRESENCE_TTL` sends its wake-ups, and one that has not sends
none. A newcomer's ``hello`` is answered with ``here`` at once, so both sides know of each
other within a round trip. Wake-ups are hints (pollers claim again within ``RECHECK`` on a
shared database), so the moment between a newcomer's LISTEN and the others hearing its
``hello`` costs at most that delay, never a task. While this server's own listener is not
connected, it cannot hear the others: it sends everything then.

The presence lines are JSON arrays, as the server's own messages are, of kinds the server
does not use (``["hello"]``, ``["here"]``); they never reach ``on_message``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg import sql

__all__ = ["NOTIFY_LIMIT", "PRESENCE_EVERY", "PRESENCE_TTL", "WakeUps"]

log = logging.getLogger("plait.store")

NOTIFY_LIMIT = 7900  # PostgreSQL refuses NOTIFY payloads of 8000 bytes or more
LISTEN_BACKOFF_MAX = 2.0
PRESENCE_EVERY = 5.0
"""How often a listening server says it is there."""
PRESENCE_TTL = 3 * PRESENCE_EVERY
"""How long after the last word from another server this one still sends it wake-ups."""
HELLO = '["hello"]'
HERE = '["here"]'


class WakeUps:
    """One server's NOTIFY and LISTEN connections on ``channel`` (created on the event loop
    by :meth:`listen` and the first :meth:`publish`)."""

    def __init__(self, url: str, connect_timeout: int, channel: str, server_id: str) -> None:
        self.url, self.channel, self.server_id = url, channel, server_id
        self._connect_timeout = connect_timeout
        self._outbox: set[str] = set()
        self._ready: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._listening = False
        self._peer_until = 0.0  # monotonic; until then another server is taken to listen
        self._closed = False

    @property
    def peers(self) -> bool:
        """Whether wake-ups may have someone to wake: another server was heard lately, or
        this one cannot hear (its listener is not connected)."""
        return not self._listening or time.monotonic() < self._peer_until

    @property
    def alone(self) -> bool:
        """Whether every commit to the database is this server's own, as far as it can
        tell: it listens and has heard no other server lately. (A newcomer's commits before
        its ``hello`` is heard go unannounced: :meth:`_heard` says so when it comes.)"""
        return self._listening and time.monotonic() >= self._peer_until

    def publish(self, messages: Sequence[str]) -> None:
        if self._closed or not messages or not self.peers:
            return
        self._send(messages)

    def _send(self, messages: Sequence[str]) -> None:
        self._outbox.update(messages)
        if self._ready is None:
            self._ready = asyncio.Event()
            self._tasks.append(asyncio.get_running_loop().create_task(
                self._publisher(self._ready), name="plait-pg-notify"))
        self._ready.set()

    def listen(self, on_message: Callable[[str | None], None]) -> None:
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._listener(on_message),
                                            name="plait-pg-listen"))
        self._tasks.append(loop.create_task(self._presence(), name="plait-pg-presence"))

    async def close(self) -> None:
        self._closed = True
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(self.url, autocommit=True,
                                                     connect_timeout=self._connect_timeout)

    # -- sending ------------------------------------------------------------------------------
    async def _publisher(self, ready: asyncio.Event) -> None:
        """Send what accumulated while the previous NOTIFY was in flight, in one statement."""
        conn: psycopg.AsyncConnection[Any] | None = None
        delay = 0.1
        while True:
            await ready.wait()
            ready.clear()
            batch, self._outbox = self._outbox, set()
            payloads = _pack(self.server_id, sorted(batch))
            try:
                if conn is None or conn.closed:
                    conn = await self._connect()
                await conn.execute("SELECT pg_notify(%s, p) FROM unnest(%s::text[]) AS p",
                                   (self.channel, payloads))
                delay = 0.1
            except asyncio.CancelledError:
                if conn is not None:
                    await conn.close()
                raise
            except Exception as e:  # hints only: the listeners recheck after their reconnect
                log.warning("NOTIFY failed (%s); retrying in %.1f s", e, delay)
                if conn is not None:
                    await conn.close()
                    conn = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, LISTEN_BACKOFF_MAX)

    async def _presence(self) -> None:
        while True:
            await asyncio.sleep(PRESENCE_EVERY)
            if self._listening:
                self._send([HERE])

    # -- listening ----------------------------------------------------------------------------
    async def _listener(self, on_message: Callable[[str | None], None]) -> None:
        delay = 0.1
        prefix = self.server_id + "\n"
        while True:
            conn: psycopg.AsyncConnection[Any] | None = None
            try:
                conn = await self._connect()
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                delay = 0.1
                self._listening = True
                self._send([HELLO])
                on_message(None)  # anything sent while we were not listening is lost
                async for n in conn.notifies():
                    if not n.payload.startswith(prefix):  # our own: woken locally already
                        self._heard(n.payload, on_message)
            except asyncio.CancelledError:
                self._listening = False
                if conn is not None:
                    await conn.close()
                raise
            except Exception as e:
                self._listening = False
                log.warning("LISTEN connection lost (%s); reconnecting in %.1f s", e, delay)
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()
                await asyncio.sleep(delay)
                delay = min(delay * 2, LISTEN_BACKOFF_MAX)

    def _heard(self, payload: str, on_message: Callable[[str | None], None]) -> None:
        """Another server's NOTIFY: it listens too, so it gets this one's wake-ups from now
        on (a newcomer's ``hello`` is answered at once, so it knows of this one too). The
        first word after a silence also ends this one's being alone: what the newcomer
        committed before it knew of this server was not announced, so every waiter looks
        again (``None``)."""
        was_alone = self.alone
        self._peer_until = time.monotonic() + PRESENCE_TTL
        if was_alone:
            on_message(None)
        for line in payload.split("\n")[1:]:
            if line == HELLO:
                self._send([HERE])
            elif line != HERE:
                on_message(line)


def _pack(sender: str, lines: Sequence[str]) -> list[str]:
    """Lines into NOTIFY payloads under PostgreSQL's size limit, each led by the sender."""
    payloads: list[str] = []
    current = [sender]
    size = len(sender)
    for line in lines:
        n = len(line.encode())
        if n + len(sender) + 1 >= NOTIFY_LIMIT:
            log.warning("dropping an oversized wake-up message (%d bytes)", n)
            continue
        if size + 1 + n >= NOTIFY_LIMIT:
            payloads.append("\n".join(current))
            current, size = [sender], len(sender)
        current.append(line)
        size += 1 + n
    if len(current) > 1:
        payloads.append("\n".join(current))
    return payloads
