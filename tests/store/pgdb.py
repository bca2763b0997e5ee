"""A PostgreSQL of its own for each test: a fresh schema (cheap) or a fresh database.

Tests that need PostgreSQL fail, never skip, when it is not running: CI starts it
(``.ci/run``). ``PLAIT_TEST_PG`` names the server (default: the local one, database ``test``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import urllib.parse
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from plait.store import pgfibers

PG_URL = os.environ.get("PLAIT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def wait_in_change(event: threading.Event, timeout: float) -> bool:
    """Inside a store change: wait for ``event``, holding the transaction open. A
    PostgreSQL change runs as a fiber on the event loop's thread (plait.store.pgfibers):
    blocking there would stop the test's own coroutine, which sets the event."""
    if pgfibers.current() is None:  # a store thread (PLAIT_PG_THREADS=1)
        return event.wait(timeout)
    return pgfibers.suspend(asyncio.to_thread(event.wait, timeout))


def admin() -> psycopg.Connection:
    try:
        return psycopg.connect(PG_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as e:
        pytest.fail(f"PostgreSQL is not reachable at {PG_URL} ({e}); start it "
                    "(.ci/run does) or set PLAIT_TEST_PG")


def with_options(url: str, **params: str) -> str:
    """``url`` with extra libpq parameters in its query string."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query) + list(params.items())
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


@contextlib.contextmanager
def fresh_schema() -> Iterator[str]:
    """A URL whose connections work in a new, empty schema; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with admin() as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield with_options(PG_URL, options=f"-csearch_path={name}")
    finally:
        with admin() as conn:
            conn.execute(f'DROP SCHEMA "{name}" CASCADE')


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """A URL of a new, empty database; dropped afterwards (whoever is still connected)."""
    name = f"plait_t_{uuid.uuid4().hex[:12]}"
    with admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urllib.parse.urlsplit(PG_URL)
    try:
        yield urllib.parse.urlunsplit(parts._replace(path="/" + name))
    finally:
        with admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Proxy:
    """A TCP proxy in front of PostgreSQL that can cut every connection and refuse new ones
    (a network outage, or the database stopping), then come back.

    ``url(db_url)`` rewrites a URL to go through the proxy.
    """

    def __init__(self) -> None:
        parts = urllib.parse.urlsplit(PG_URL)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port = self._listener.getsockname()[1]
        self._up = True
        self._lock = threading.Lock()
        self._socks: set[socket.socket] = set()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, db_url: str) -> str:
        parts = urllib.parse.urlsplit(db_url)
        netloc = parts.netloc.rsplit("@", 1)
        host = f"127.0.0.1:{self.port}"
        return urllib.parse.urlunsplit(parts._replace(
            netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))

    def cut(self) -> None:
        """Drop every connection; refuse new ones until :meth:`restore`."""
        with self._lock:
            self._up = False
            socks, self._socks = self._socks, set()
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def restore(self) -> None:
        with self._lock:
            self._up = True

    def close(self) -> None:
        self.cut()
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                up = self._up
            if not up:
                client.close()
                continue
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._socks.update((client, server))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            with self._lock:
                self._socks.difference_update((src, dst))
