"""PostgreSQL store: several servers on one database.

**Synchronous code, run as fibers.** The history service is synchronous code run inside one
transaction (``Store.write(fn)``), with a synchronous psycopg connection from a
``ConnectionPool``: one runner per connection, never waiting for one. The runners are
greenlets on the event loop's thread (:mod:`plait.store.pgfibers`), whose waits for
PostgreSQL let the loop go on; ``PLAIT_PG_THREADS=1`` runs them on threads instead, as
before, which cost a GIL hand-over on every database call.

**One run at a time.** A write transaction locks a run's row before it touches anything else
of that run, so every change to one run is serialized across servers (:mod:`plait.store.pgtxn`,
where the lock discipline and the transaction's operations live).

**Conflicts retry.** A unique violation (two starts of one workflow id, one request id twice),
a serialization failure, a deadlock or a lock timeout raise :class:`ConflictError`;
``Service.write`` runs the whole state change again. A lost connection raises
:class:`StoreUnavailable` (HTTP 503); a commit whose outcome is unknown is never retried here
(clients retry with their request id).

**Round trips.** Named statements go through libpq's pipeline mode
(:mod:`plait.store.pgpipe`), and a transaction asks for what it can ahead
(:mod:`plait.store.pgtxn`). A transaction that only read is answered without waiting for its
COMMIT's answer, which comes with the connection's next round trip: each store thread keeps
its connection from one transaction to the next (:meth:`PostgresStore._connection`).

**Group commit** (``PLAIT_PG_GROUP=1`` turns it off). A store thread takes the changes queued
when it is free (up to :data:`GROUP`) into one transaction: one COMMIT, one WAL flush, for all
of them. Each is answered after that COMMIT, as it would be alone; one that fails rolls back
alone (the group runs again with a savepoint per change unless the failure was a change's
own refusal before it wrote: :meth:`PostgresStore._attempt_group`). The group holds the row
locks of its earlier changes, so a later one waits for a lock at most 5 ms and otherwise runs
alone after the COMMIT (two groups never wait on each other). A claim answered at its group's COMMIT
is older than its ``dispatched_at`` says, which does not matter to a heartbeat: workers number
their requests and a task is judged lost by what the worker had read
(:mod:`plait.server.sessions`; unnumbered ones by time, from the answer:
:mod:`plait.server.deliveries`).

**Wake-ups between servers** (:mod:`plait.store.pgwake`): NOTIFY from a connection of its
own after the commits, LISTEN on another, and no NOTIFY while no other server listens.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn, TypedDict, TypeVar

import psycopg
import psycopg.errors
from psycopg_pool import ConnectionPool, PoolTimeout

from plait.store import pgfibers
from plait.store.answers import answer_all
from plait.store.base import (
    ConflictError,
    RateLimitCache,
    Store,
    StoreUnavailable,
    Txn,
)
from plait.store.migrate import migrate as run_migrations
from plait.store.pgfibers import LoopConnection
from plait.store.pgpipe import Pending, Pipe, Statement
from plait.store.pgtxn import CHANGED_CONCURRENTLY, LocksAhead, PgTxn, TaskIds
from plait.store.pgwake import WakeUps
from plait.store.queries import load_queries

__all__ = ["PgTxn", "PostgresStore", "migrate"]

T = TypeVar("T")
log = logging.getLogger("plait.store")

MIGRATION_LOCK = 0x706C616974  # "plait": the advisory lock key held while migrating
DEFAULT_POOL_SIZE = 10
PIPELINE = os.environ.get("PLAIT_PG_PIPELINE", "1") != "0"
"""Named statements through :mod:`plait.store.pgpipe` (``PLAIT_PG_PIPELINE=0``: through
psycopg's cursor, one round trip each, as before; kept to compare the two)."""
THREADS = os.environ.get("PLAIT_PG_THREADS", "0") == "1"
"""Run transactions on store threads instead of fibers on the event loop's thread
(:mod:`plait.store.pgfibers`); kept to compare the two."""
GROUP = max(1, int(os.environ.get("PLAIT_PG_GROUP", "8")))
"""Group commit: how many queued changes of this server one transaction may carry, each in a
savepoint of its own (needs the pipeline; ``PLAIT_PG_GROUP=1``: one change per transaction).
Measured side by side: +3 % W1 throughput with one server, +12 % with two, 11 % less
PostgreSQL CPU per workflow (bench/results/pg.md, "Group commit")."""
GROUP_LOCK_WAIT = b"SET LOCAL lock_timeout = '5ms'"
"""How long a change after the first of a group may wait for a row lock. The group holds the
locks of the changes before it, so a longer wait would hold them too (and two groups could
wait on each other); a change that waits longer runs alone, after the group's COMMIT."""
KEEP_CONNECTION = 60.0
"""How long a store thread keeps one connection before giving it back to the pool (which
retires connections past their lifetime, and checks the ones it gets back)."""
RECONNECT_TIMEOUT = 3.0
PROBE_EVERY = 0.5
"""While the database is unreachable: how often one request may try it."""


def _map_error(exc: psycopg.Error) -> Exception:
    """A psycopg error as the store's own: retry the state change, or the database is away."""
    # InvalidSqlStatementName: a prepared statement was dropped behind the store's back
    # (plait.store.pgpipe prepares it again on the next run of the change).
    if isinstance(exc, (psycopg.errors.UniqueViolation, psycopg.errors.SerializationFailure,
                        psycopg.errors.DeadlockDetected, psycopg.errors.LockNotAvailable,
                        psycopg.errors.InvalidSqlStatementName)) \
            or exc.sqlstate == CHANGED_CONCURRENTLY:
        return ConflictError(f"concurrent change: {exc.sqlstate} {str(exc).strip()}")
    if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
        return StoreUnavailable(f"PostgreSQL: {str(exc).strip() or type(exc).__name__}")
    return exc


class _StaleConnection(Exception):
    """The connection broke before anything was committed: safe to run again."""


class PostgresStore(Store):
    """``postgresql://user@host:port/db?...`` (any libpq URL). Pool size: the environment
    variable ``PLAIT_PG_POOL_SIZE`` (default 10 connections, plus 2 for LISTEN/NOTIFY)."""

    shared = True

    def __init__(self, url: str, *, pool_size: int | None = None,
                 connect_timeout: float = 5.0, pool_timeout: float = 2.0) -> None:
        self.url = url
        size = pool_size or int(os.environ.get("PLAIT_PG_POOL_SIZE", DEFAULT_POOL_SIZE))
        self._queries = load_queries("pyformat", "postgres")
        self._statements = {name: Statement(name, q) for name, q in self._queries.items()}
        self._task_ids = TaskIds()
        self._kwargs = _ConnectArgs(autocommit=True,
                                    connect_timeout=max(1, int(connect_timeout)))
        self._pool_timeout = pool_timeout
        self._down_since: float | None = None
        self._down_reason = ""
        self._next_probe = 0.0
        self._probe_lock = threading.Lock()
        self._limits = RateLimitCache(ttl=1.0)  # other servers' changes count within 1 s
        # Connect once directly first: an unreachable or misconfigured database fails the
        # start with its one real reason, and migrations run before anything else.
        self.channel = self._setup(url)
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            url, min_size=min(2, size), max_size=size, kwargs=dict(self._kwargs), open=False,
            connection_class=LoopConnection,
            configure=_configure, timeout=pool_timeout, name="plait",
            # The pool retries a lost connection with doubling delays; left at its default
            # (5 min) the delay reaches 16 s and more during an outage, so the server stayed
            # unavailable long after the database was back. Give up on a slot after 3 s
            # instead: the next request grows the pool again at once.
            reconnect_timeout=RECONNECT_TIMEOUT)
        try:
            self._pool.open(wait=True, timeout=connect_timeout)
        except PoolTimeout:
            self._pool.close()
            raise StoreUnavailable(f"cannot connect to PostgreSQL at {_safe(url)} within "
                                   f"{connect_timeout:g} s") from None
        # One runner per connection, fed from one queue: fibers on the loop's thread
        # (plait.store.pgfibers), or threads whose answers go back with
        # call_soon_threadsafe (PLAIT_PG_THREADS=1).
        self._size = size
        self._local = threading.local()  # each store thread's _Slot
        self._jobs: Any = None  # queue.SimpleQueue (threads) or _Jobs of _Job; None stops
        self._threads: list[threading.Thread] = []
        self._runners: list[asyncio.Task[None]] = []
        self._runners_loop: asyncio.AbstractEventLoop | None = None
        if THREADS:
            self._jobs = queue.SimpleQueue()
            self._threads = [threading.Thread(target=self._work, name=f"plait-pg-{i}",
                                              daemon=True) for i in range(size)]
            for t in self._threads:
                t.start()
        self.server_id = uuid.uuid4().hex[:12]
        self.wake_ups = WakeUps(url, self._kwargs["connect_timeout"], self.channel,
                                self.server_id)
        self._closed = False

    # -- setup ------------------------------------------------------------------------------
    def _setup(self, url: str) -> str:
        try:
            with psycopg.connect(url, **self._kwargs) as conn:
                migrate(conn)
                schema = conn.execute("SELECT current_schema()").fetchone()
        except psycopg.OperationalError as e:
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise StoreUnavailable(f"cannot connect to PostgreSQL at {_safe(url)}: "
                                   f"{reason}") from None
        except psycopg.Error as e:
            raise _map_error(e) from e
        # NOTIFY channels are per database, not per schema: servers on different schemas of
        # one database (tests do this) must not wake each other.
        name = schema[0] if schema else "public"
        return "plait" if name == "public" else f"plait_{name}"[:63]

    # -- transactions -----------------------------------------------------------------------
    async def write(self, fn: Callable[[Txn], T], *, task: int | None = None) -> T:
        return await self._submit(fn, True, task)

    async def read(self, fn: Callable[[Txn], T]) -> T:
        return await self._submit(fn, False, None)

    async def _submit(self, fn: Callable[[Txn], T], write: bool, task: int | None) -> T:
        if self._closed:
            raise StoreUnavailable("the store is closed")
        loop = asyncio.get_running_loop()
        if not THREADS and self._runners_loop is not loop:
            self._start_runners(loop)
        fut: asyncio.Future[T] = loop.create_future()
        self._jobs.put_nowait((fn, write, loop, fut, task))
        return await fut

    def _start_runners(self, loop: asyncio.AbstractEventLoop) -> None:
        """The fibers' runners, on the loop of the first transaction (again on a new loop
        once that one is closed: tests run one loop after another)."""
        if self._runners_loop is not None and not self._runners_loop.is_closed():
            raise RuntimeError("a PostgresStore serves one event loop at a time")
        self._runners_loop = loop
        self._jobs = _Jobs(loop)
        self._runners = [loop.create_task(self._runner(_Slot()), name=f"plait-pg-{i}")
                         for i in range(self._size)]

    async def _runner(self, slot: _Slot) -> None:
        """One connection's turn at the queue, as a store thread's (:meth:`_work`)."""
        while (job := await self._jobs.get()) is not None:
            await pgfibers.run(lambda job=job: self._take(job), slot)  # type: ignore[misc]
        await pgfibers.run(self._let_go, slot)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            self._take(job)
        self._let_go()

    def _take(self, job: _Job) -> None:
        """Run ``job``: a change with the others queued behind it, if they may share its
        transaction, or alone."""
        if not job[1] or GROUP == 1 or not PIPELINE:
            self._do(job)
            return
        group, reads = self._gather(job)
        self._run_group(group)
        for read in reads:
            self._do(read)

    def _do(self, job: _Job) -> None:
        """Run one change (or read) in a transaction of its own and answer its caller."""
        try:
            value, ok = self._run(job[0], job[1]), True
        except BaseException as e:  # handed to the caller, whatever it is
            value, ok = e, False
        _answer(job, value, ok)

    def _gather(self, first: _Job) -> tuple[list[_Job], list[_Job]]:
        """The changes queued right now that may share ``first``'s transaction (and the
        reads taken off the queue while looking, run after it)."""
        group: list[_Job] = [first]
        reads: list[_Job] = []
        while len(group) < GROUP:
            try:
                job = self._jobs.get_nowait()
            except (queue.Empty, asyncio.QueueEmpty):
                break
            if job is None:  # closing: leave the stop for this runner's next turn
                self._jobs.put_nowait(None)
                break
            (group if job[1] else reads).append(job)
        return group, reads

    def _run(self, fn: Callable[[Txn], T], write: bool) -> T:
        # While the database is unreachable, answer at once (503) instead of letting every
        # request wait for a connection: queued behind those waits, even /health took tens
        # of seconds in an outage. One request at a time probes whether it is back.
        if self._down_since is not None:
            now = time.monotonic()
            with self._probe_lock:
                probe = now >= self._next_probe
                if probe:
                    self._next_probe = now + PROBE_EVERY
            if not probe:
                raise StoreUnavailable(f"PostgreSQL has been unreachable for "
                                       f"{now - self._down_since:.0f} s: {self._down_reason}")
        try:
            value = self._run_once(fn, write)
        except StoreUnavailable as e:
            if self._down_since is None:
                self._down_since, self._down_reason = time.monotonic(), str(e)
                self._next_probe = self._down_since + PROBE_EVERY
                log.error("PostgreSQL is unreachable: %s", e)
            raise
        if self._down_since is not None:
            log.warning("PostgreSQL is reachable again after %.1f s",
                        time.monotonic() - self._down_since)
            self._down_since = None
        return value

    def _run_once(self, fn: Callable[[Txn], T], write: bool) -> T:
        try:
            return self._attempt(fn, write)
        except _StaleConnection:
            # A pooled connection died while idle (the database restarted, a proxy dropped
            # it): nothing was written. Drop every such connection, then run once more.
            pgfibers.blocking(self._pool.check)
        try:
            return self._attempt(fn, write)
        except _StaleConnection as e:
            raise StoreUnavailable(str(e.__cause__ or e)) from e

    def _slot(self) -> _Slot:
        """What this runner keeps between transactions: the fiber's, or the thread's."""
        fiber = pgfibers.current()
        if fiber is not None:
            slot: _Slot = fiber.slot
            return slot
        slot = getattr(self._local, "slot", None) or _Slot()
        self._local.slot = slot
        return slot

    def _connection(self) -> psycopg.Connection[Any]:
        """This runner's connection: kept from one transaction to the next (so a read's
        COMMIT can be answered with the next round trip), taken from the pool when it has
        none."""
        slot = self._slot()
        if slot.conn is not None:
            return slot.conn
        try:
            conn = pgfibers.blocking(self._pool.getconn)
        except PoolTimeout:
            raise StoreUnavailable("no PostgreSQL connection within "
                                   f"{self._pool_timeout:g} s (is the database up?)") from None
        slot.conn, slot.since = conn, time.monotonic()
        return conn

    def _release(self, conn: psycopg.Connection[Any], healthy: bool, *,
                 keep: bool = True) -> None:
        """Keep the connection for this runner's next transaction, unless something went
        wrong with it or it has been out for :data:`KEEP_CONNECTION` seconds: then it goes
        back to the pool, which checks it, replaces it when broken, and retires old ones."""
        slot = self._slot()
        if keep and healthy and not conn.broken \
                and time.monotonic() - slot.since < KEEP_CONNECTION:
            return
        slot.conn = None
        pipe = self._pipe(conn)
        if pipe is not None and healthy:
            with contextlib.suppress(psycopg.Error):
                pipe.leave()  # the unread answers, so that the pool finds it idle
        pgfibers.blocking(self._pool.putconn, conn)

    def _let_go(self) -> None:
        """A stopping runner gives its connection back (the pool closes it)."""
        conn = self._slot().conn
        if conn is not None:
            self._release(conn, True, keep=False)

    @staticmethod
    def _pipe(conn: psycopg.Connection[Any]) -> Pipe | None:
        """The connection's pipeline (made on its first use; it lives and dies with it)."""
        if not PIPELINE:
            return None
        pipe: Pipe | None = getattr(conn, "_plait_pipe", None)
        if pipe is None:
            pipe = Pipe(conn)
            setattr(conn, "_plait_pipe", pipe)  # noqa: B010 (not a psycopg attribute)
        return pipe

    def _attempt(self, fn: Callable[[Txn], T], write: bool) -> T:
        begin = b"BEGIN" if write else b"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
        conn = self._connection()
        kept = False
        committing = False
        pipe = self._pipe(conn)
        began: Pending | None = None
        try:
            cur = conn.cursor()
            if pipe is not None:
                began = pipe.command(begin)  # travels with the first statement
            else:
                cur.execute(begin)
            txn = PgTxn(cur, self._queries, write=write, limits=self._limits, pipe=pipe,
                        statements=self._statements, task_ids=self._task_ids)
            value = fn(txn)
            if write:
                txn.finish()
            if pipe is None:
                committing = True
                cur.execute(b"COMMIT")
                return value
            # A connection found dead at the first answer must have been dead before
            # anything was sent (then the change runs again on another), not
            # maybe-committed.
            if began is not None and began.result is None:
                pipe.sync()
            committing = True
            if write:
                pipe.commit()  # with the writes nobody waited for
            else:
                pipe.commit_unread()  # its answer comes with this connection's next one
            kept = True
            return value
        except psycopg.Error as e:
            _raise_aborted(conn, pipe, e, committing)
        except BaseException:
            if pipe is not None:
                pipe.discard()
            _rollback(conn)
            raise
        finally:
            self._release(conn, kept)

    # -- group commit -------------------------------------------------------------------------
    def _run_group(self, group: list[_Job]) -> None:
        """Several changes in one transaction: one COMMIT (and one WAL flush) for all. Each
        is answered after that COMMIT, as when it ran alone; one that fails rolls back alone.
        When the group as a whole cannot run (the database is away or the connection broke
        before anything was sent), each runs alone instead."""
        if len(group) == 1 or self._down_since is not None:
            for job in group:
                self._do(job)
            return
        try:
            ran = self._attempt_group(group, savepoints=False)
            if ran is None:  # a change failed after writing: again, each in a savepoint
                ran = self._attempt_group(group, savepoints=True)
            assert ran is not None  # with savepoints a group always runs to its end
            outcomes, alone = ran
        except _StaleConnection:
            pgfibers.blocking(self._pool.check)
            outcomes, alone = [], group
        except BaseException as e:  # the COMMIT failed or its outcome is unknown: all share it
            if isinstance(e, StoreUnavailable) and self._down_since is None:
                log.error("PostgreSQL is unreachable: %s", e)
                self._down_since, self._down_reason = time.monotonic(), str(e)
                self._next_probe = self._down_since + PROBE_EVERY
            outcomes, alone = [(job, e, False) for job in group], []
        answer_all((job[2], job[3], value, ok) for job, value, ok in outcomes)
        for job in alone:
            self._do(job)

    def _attempt_group(self, group: list[_Job], *, savepoints: bool
                       ) -> tuple[list[tuple[_Job, Any, bool]], list[_Job]] | None:
        """Run ``group`` in one transaction: what each change gave (answered once the COMMIT
        returns), and the changes left to run alone (they waited for a lock).

        Without ``savepoints`` (the usual run) the changes run one after the other with
        nothing between them: a savepoint per change cost a round trip each (its end must
        be read to know which change an error belongs to), 12 % of W1's throughput. A change
        that fails having sent nothing but reads is simply its error. Anything else (a change
        that fails after writing, any error from the database, a failed check) rolls the
        group back and returns None: the caller runs it again with a savepoint per change."""
        conn = self._connection()
        kept = False
        pipe = self._pipe(conn)
        assert pipe is not None  # groups run only with the pipeline
        outcomes: list[tuple[_Job, Any, bool]] = []
        alone: list[_Job] = []
        committing = False
        failures = pipe.failures
        try:
            cur = conn.cursor()
            began = pipe.command(b"BEGIN")
            ahead: LocksAhead | None = None
            for i, job in enumerate(group):
                if i == 1:  # the first change waited for locks as long as one alone would
                    pipe.command(GROUP_LOCK_WAIT)
                    if not savepoints:
                        ahead = LocksAhead(pipe, self._statements,
                                           [j[4] for j in group[1:] if j[4] is not None])
                if savepoints:
                    value, ok, waited = self._grouped(conn, cur, pipe, job, first=i == 0)
                else:
                    value, ok, waited = self._unmarked(cur, pipe, job, ahead)
                if not savepoints and (value is _RERUN or pipe.failures != failures):
                    pipe.discard()
                    _rollback(conn)
                    return None
                if waited:
                    alone.append(job)
                else:
                    outcomes.append((job, value, ok))
            if began.result is None:
                pipe.sync()
            committing = True
            pipe.commit()
            kept = True
            return outcomes, alone
        except psycopg.Error as e:
            # Without savepoints, an error PostgreSQL reports (a statement's, or the COMMIT's
            # own) means nothing was committed: run the group again. Only a lost connection
            # leaves a COMMIT's outcome unknown.
            if not savepoints and not conn.broken \
                    and not isinstance(_map_error(e), StoreUnavailable):
                pipe.discard()
                _rollback(conn)
                return None
            _raise_aborted(conn, pipe, e, committing)
        except BaseException:
            pipe.discard()
            _rollback(conn)
            raise
        finally:
            self._release(conn, kept and pipe.failures == failures)

    def _txn(self, cur: Any, pipe: Pipe, ahead: LocksAhead | None = None) -> PgTxn:
        return PgTxn(cur, self._queries, write=True, limits=self._limits, pipe=pipe,
                     statements=self._statements, task_ids=self._task_ids, ahead=ahead)

    def _unmarked(self, cur: Any, pipe: Pipe, job: _Job,
                  ahead: LocksAhead | None) -> tuple[Any, bool, bool]:
        """One change of a group without a savepoint: (value or error, ok, False), or
        ``_RERUN`` as the value when its failure cannot be its alone. Database errors are
        raised (the group then runs again with savepoints, or fails as a whole)."""
        txn = self._txn(cur, pipe, ahead)
        try:
            value = job[0](txn)
            txn.finish()
            return value, True, False
        except psycopg.Error:
            raise
        except BaseException as e:  # the change's own error, if it wrote nothing
            return (_RERUN if txn.wrote else e), False, False
        finally:
            if ahead is not None:
                ahead.touched |= txn.locked

    def _grouped(self, conn: psycopg.Connection[Any], cur: Any, pipe: Pipe, job: _Job, *,
                 first: bool) -> tuple[Any, bool, bool]:
        """One change of a group in its savepoint: (value or error, ok, waited for a lock).
        A lost connection or a database gone away ends the whole group (raised)."""
        txn = self._txn(cur, pipe)
        try:
            with txn.savepoint():
                value = job[0](txn)
                txn.finish()
            return value, True, False
        except psycopg.Error as e:
            if conn.broken:
                raise
            if not first and isinstance(e, psycopg.errors.LockNotAvailable):
                return None, False, True
            err = _map_error(e)
            if isinstance(err, StoreUnavailable):
                raise
            return err, False, False
        except BaseException as e:  # the change's own error: it rolled back alone
            return e, False, False

    async def healthy(self) -> bool:
        try:
            await self.read(lambda t: t.cur.execute("SELECT 1").fetchone())
            return True
        except Exception:
            return False

    # -- wake-ups between servers -------------------------------------------------------------
    def sees_every_commit(self) -> bool:
        return self.wake_ups.alone

    def publish(self, messages: Sequence[str]) -> None:
        self.wake_ups.publish(messages)

    def listen(self, on_message: Callable[[str | None], None]) -> None:
        self.wake_ups.listen(on_message)

    async def close(self) -> None:
        self._closed = True
        await self.wake_ups.close()
        for _ in self._threads:
            self._jobs.put_nowait(None)
        for thread in self._threads:
            await asyncio.to_thread(thread.join, 10)
        if self._runners and self._runners_loop is asyncio.get_running_loop():
            for _ in self._runners:
                self._jobs.put_nowait(None)
            await asyncio.wait(self._runners, timeout=10)
        await asyncio.to_thread(self._pool.close)


def migrate(conn: psycopg.Connection[Any]) -> list[str]:
    """Apply the missing migrations (:mod:`plait.store.migrate`). Every transaction first
    takes an advisory lock, so servers starting together apply each migration once: the
    others wait, then find it recorded. Returns the names applied."""
    return run_migrations(_Migrations(conn))


class _Migrations:
    backend, placeholder, real = "postgres", "%s", "DOUBLE PRECISION"

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.queries = load_queries("pyformat", "postgres")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[psycopg.Cursor[Any]]:
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            yield cur

    def run_script(self, cur: psycopg.Cursor[Any], sql: str) -> None:
        cur.execute(sql.encode())


def _configure(conn: psycopg.Connection[Any]) -> None:
    # The store prepares its own statements (plait.store.pgpipe); psycopg's automatic ones
    # would end in a DEALLOCATE ALL after each ROLLBACK, which drops ours too.
    conn.prepare_threshold = None
    # A lock held this long means a stuck transaction: give up and let the caller retry.
    conn.execute("SET lock_timeout = '10s'")
    # A server frozen mid-transaction (not killed: its socket stays open) must not hold a
    # workflow's lock forever.
    conn.execute("SET idle_in_transaction_session_timeout = '30s'")


class _Jobs:
    """The runners' queue, on one event loop.

    Jobs queued during one turn of the loop are handed over together at its end (one
    ``call_soon``), so the changes that arrived in one turn can share a transaction, as
    they did when a store thread woke a little after the first of them. The runner that went
    idle last is woken first (an :class:`asyncio.Queue` wakes the one idle longest): under
    light load the same few runners, with their connections, do all the work (after an
    outage, the next change need not wait for a connection of its own)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._jobs: collections.deque[_Job | None] = collections.deque()
        self._idle: list[asyncio.Future[None]] = []
        self._waking = False

    def put_nowait(self, job: _Job | None) -> None:
        self._jobs.append(job)
        if self._idle and not self._waking:
            self._waking = True
            self._loop.call_soon(self._wake)

    def _wake(self) -> None:
        self._waking = False
        want = len(self._jobs)
        while want and self._idle:
            runner = self._idle.pop()
            if not runner.done():
                runner.set_result(None)
                want -= 1

    def get_nowait(self) -> _Job | None:
        if not self._jobs:
            raise asyncio.QueueEmpty
        return self._jobs.popleft()

    async def get(self) -> _Job | None:
        while not self._jobs:  # woken with the others, and they took everything
            fut: asyncio.Future[None] = self._loop.create_future()
            self._idle.append(fut)
            await fut
        return self._jobs.popleft()


class _Slot:
    """A runner's connection, kept from one transaction to the next, and since when."""

    __slots__ = ("conn", "since")

    def __init__(self) -> None:
        self.conn: psycopg.Connection[Any] | None = None
        self.since = 0.0


_RERUN = object()
"""A change of a group run without savepoints that failed after writing: the group runs
again, each change in a savepoint."""

_Job = tuple[Callable[[Txn], Any], bool, asyncio.AbstractEventLoop, "asyncio.Future[Any]",
             int | None]
"""A change or read queued for the store's threads: (function, write, loop, its future, the
task it acts on if known)."""


def _answer(job: _Job, value: Any, ok: bool) -> None:
    answer_all([(job[2], job[3], value, ok)])


def _raise_aborted(conn: psycopg.Connection[Any], pipe: Pipe | None, exc: psycopg.Error,
                   committing: bool) -> NoReturn:
    """Roll back a transaction that failed with ``exc`` and raise the store's error for it:
    a commit whose outcome is unknown is never run again; a connection that broke before the
    COMMIT was sent committed nothing (:class:`_StaleConnection`: run it again)."""
    if pipe is not None:
        pipe.discard()
    _rollback(conn)
    err = _map_error(exc)
    if isinstance(err, StoreUnavailable):
        if committing:
            raise StoreUnavailable(f"the commit's outcome is unknown: {err}") from exc
        if conn.broken:
            raise _StaleConnection() from err
    raise err from exc


def _rollback(conn: psycopg.Connection[Any]) -> None:
    if conn.broken or conn.closed:
        return
    with contextlib.suppress(psycopg.Error):
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.execute("ROLLBACK")


class _ConnectArgs(TypedDict):
    """How every connection of the store is opened."""

    autocommit: bool
    connect_timeout: int


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)
