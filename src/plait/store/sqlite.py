"""SQLite store: WAL, synchronous=FULL, one writer thread with group commit.

All work runs on one thread holding one connection (SQLite has one writer anyway). The thread
drains every queued operation, runs them all in one ``BEGIN IMMEDIATE`` transaction, and
commits once: many state changes share one fsync. A failing operation rolls back only itself:
one that changed nothing is just answered with its error, and otherwise the batch is undone
and run again with each operation in a SAVEPOINT of its own. Callers are answered only after
COMMIT returns, so every acknowledgement is durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import queue
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from plait.store.answers import answer_all
from plait.store.base import RateLimitCache, Store, StoreUnavailable, Txn
from plait.store.migrate import migrate
from plait.store.queries import load_queries

__all__ = ["SQLiteStore"]

T = TypeVar("T")
log = logging.getLogger("plait.store")
_MAX_BATCH = 512
_STOP = object()


class SQLiteStore(Store):
    def __init__(self, path: str) -> None:
        self.path = path
        self._lock_file = self._take_lock(path)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._queries = load_queries("named", "sqlite")
        self._limits = RateLimitCache(ttl=1.0)
        self._conn = self._connect(path)
        self._migrate()
        self._listing = _ListingVersions()
        self._watch_listing()
        self._thread = threading.Thread(target=self._run, name="plait-sqlite", daemon=True)
        self._thread.start()

    # -- setup ------------------------------------------------------------------------------
    @staticmethod
    def _take_lock(path: str) -> Any:
        if path == ":memory:":
            return None
        lock = open(path + ".lock", "w")  # noqa: SIM115 - held for the store's lifetime
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise StoreUnavailable(
                f"another plait server is using {path}; one server per SQLite file "
                "(use PostgreSQL to run several)"
            ) from None
        return lock

    @staticmethod
    def _connect(path: str) -> sqlite3.Connection:
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA cache_size=-65536")
        return conn

    def _migrate(self) -> None:
        migrate(_Migrations(self._conn, self._queries))

    def _watch_listing(self) -> None:
        """Count the changes to what lists and counts show, per namespace, as they happen
        (the ``watch_*`` table and triggers of ``sql/sqlite.sql``). One server owns the file,
        and this connection makes every change, so the count misses none."""
        for name, sql in self._queries.items():
            if name.startswith("watch_"):
                self._conn.execute(sql)

    def listing_version(self, ns: str) -> str | None:
        return self._listing.version(ns)

    # -- the writer thread -------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            while len(batch) < _MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    self._queue.put(_STOP)
                    break
                batch.append(item)
            self._run_batch(batch)

    def _run_batch(self, batch: list[Any]) -> None:
        cur = self._conn.cursor()
        try:
            results = self._transaction(cur, batch)
        except sqlite3.Error as exc:
            log.error("sqlite commit failed: %s", exc)
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            err = StoreUnavailable(f"database error: {exc}")
            results = [(err, False)] * len(batch)
        finally:
            cur.close()
        answer_all((loop, fut, value, ok) for (_, loop, fut, _), (value, ok)
                   in zip(batch, results, strict=True))

    def _transaction(self, cur: sqlite3.Cursor, batch: list[Any]) -> list[tuple[Any, bool]]:
        """Run ``batch`` in one transaction and commit it: what each operation gave, and
        whether it succeeded (a failed one's changes are not committed)."""
        cur.execute("BEGIN IMMEDIATE")
        results = self._run_ops(cur, batch, savepoints=False)
        if results is None:
            # An operation failed after writing, and only a savepoint could undo it alone:
            # undo the whole batch and run it again, each operation in a savepoint of its own
            # (the store may run an operation more than once: only a committed run counts).
            cur.execute("ROLLBACK")
            cur.execute("BEGIN IMMEDIATE")
            results = self._run_ops(cur, batch, savepoints=True)
            assert results is not None
        if len(batch) == 1 and not results[0][1]:
            cur.execute("ROLLBACK")  # a lone operation's failure undoes the transaction
            return results
        counts = self._listing_counts(cur, batch)
        cur.execute("COMMIT")
        if counts:
            self._listing.add(counts)
        return results

    def _run_ops(self, cur: sqlite3.Cursor, batch: list[Any], *,
                 savepoints: bool) -> list[tuple[Any, bool]] | None:
        """Each operation's value (or error) and success. Without ``savepoints`` (the usual
        run: a savepoint around every operation made SQLite journal every page each one
        touched, 10 % of the server's CPU in W1), None as soon as an operation of a shared
        batch fails after changing something; one that changed nothing is simply its error."""
        txn = Txn(cur, self._queries, self._limits)
        conn, shared = self._conn, len(batch) > 1
        results: list[tuple[Any, bool]] = []
        for fn, _, _, write in batch:
            marked = savepoints and shared and write
            if marked:
                cur.execute("SAVEPOINT op")
            changes = conn.total_changes
            try:
                results.append((fn(txn), True))
            except BaseException as exc:  # one op failing must not sink the batch
                if not conn.in_transaction:  # SQLite gave the transaction up (disk full...)
                    raise sqlite3.OperationalError(f"transaction rolled back: {exc}") from exc
                if shared and not savepoints and conn.total_changes != changes:
                    return None
                results.append((exc, False))
            if marked:
                if not results[-1][1]:
                    cur.execute("ROLLBACK TO op")
                cur.execute("RELEASE op")
        return results

    def _listing_counts(self, cur: sqlite3.Cursor, batch: list[Any]) -> list[Any]:
        """What this batch added to the listing counts, per namespace it touched (read and
        cleared inside its transaction, so exactly what it commits: a failed COMMIT keeps
        them for the next batch); nothing for a batch of reads."""
        if not any(write for _, _, _, write in batch):
            return []
        added = cur.execute(self._queries["listing_counts"]).fetchall()
        if added:
            cur.execute(self._queries["clear_listing_counts"])
        return added

    async def _submit(self, fn: Callable[[Txn], T], write: bool) -> T:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._queue.put((fn, loop, fut, write))
        return await fut

    async def write(self, fn: Callable[[Txn], T], *, task: int | None = None) -> T:
        return await self._submit(fn, True)

    async def read(self, fn: Callable[[Txn], T]) -> T:
        return await self._submit(fn, False)

    async def healthy(self) -> bool:
        try:
            await self.read(lambda t: t.cur.execute("SELECT 1").fetchone())
            return True
        except Exception:
            return False

    async def close(self) -> None:
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join, 10)
        self._conn.close()
        if self._lock_file is not None:
            self._lock_file.close()


class _ListingVersions:
    """Per namespace, how many changes could have altered what its lists and counts show.

    Counted by the triggers inside the transaction that makes the change; published here by
    the store's thread once that transaction committed; read on the event loop. A version
    read before a read is submitted is therefore never newer than what that read sees (reads
    run on the same thread, after every write queued before them). A validator built from it
    may be older than the data it stands for (the next request reads again), never newer.
    The epoch keeps the versions of an earlier server process, which counted from zero too,
    from matching.
    """

    def __init__(self) -> None:
        self.epoch = secrets.token_hex(4)
        self._counts: dict[str, int] = {}

    def add(self, counts: list[tuple[str, int]]) -> None:
        """What a committed batch counted, per namespace."""
        for ns, n in counts:
            self._counts[ns] = self._counts.get(ns, 0) + n

    def version(self, ns: str) -> str:
        return f"{self.epoch}.{self._counts.get(ns, 0)}"


def _statements(sql: str) -> list[str]:
    lines = [ln for ln in sql.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


class _Migrations:
    """How the migration runner works on SQLite (:mod:`plait.store.migrate`); the file lock
    already keeps a second server away."""

    backend, placeholder, real = "sqlite", "?", "REAL"

    def __init__(self, conn: sqlite3.Connection, queries: dict[str, str]) -> None:
        self.conn = conn
        self.queries = queries

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Cursor]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn.cursor()
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def run_script(self, cur: sqlite3.Cursor, sql: str) -> None:
        for stmt in _statements(sql):
            cur.execute(stmt)
