"""A lean way to run the store's named statements on one PostgreSQL connection: libpq's
pipeline mode, prepared statements, and no waiting for results nobody has asked for yet.

**Why.** A W1 workflow runs ~100 statements in ~13 transactions, and psycopg's cursor spends
more Python per statement (a new ``Transformer``, query conversion, the prepared-statement
bookkeeping, its generators) than the round trip costs the database; and each statement
waited for its answer before the next was sent, so a transaction cost one round trip per
statement. Here a statement is sent at once and its result read only when someone reads
it (``fetchone``, ``rowcount``): a write nobody reads travels with the next statement whose
answer is needed, or with COMMIT. BEGIN travels with the first statement.

**Errors are the same, only later.** In pipeline mode, a failing statement aborts the rest
of the batch up to the next sync, and its error is raised by that sync: at the next read, at
a savepoint's end, or at COMMIT (which then never ran). Since the whole transaction is rolled
back on any error, a later raise changes nothing for callers. A statement that must change
one row (the optimistic ``next_event_id`` check) says so in SQL (``plait_expect_one``, which
raises), so no answer has to come back before COMMIT is sent.

**The statements** are prepared once per connection (names ``plait_<query>``), their types
inferred by the server (``tests/store/test_postgres.py`` prepares every query that way), and
their parameters sent as text, dumped by psycopg's own C dumpers; results come back as text
and are loaded by psycopg's loaders into tuples, as the cursor would. psycopg's automatic
preparing is off on these connections: its ``DEALLOCATE ALL`` after a ROLLBACK would drop
ours too (a statement found missing anyway is prepared again; the change retries).

Anything else (``executemany``, dynamic SQL) uses the psycopg cursor, after :meth:`leave`
has read every pending result and left pipeline mode.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Generator, Iterator
from typing import Any

import psycopg
import psycopg.errors
from psycopg import adapt
from psycopg.abc import Transformer
from psycopg.generators import fetch_many, send
from psycopg.pq import ExecStatus

from plait.store import pgfibers

__all__ = ["Pending", "Pipe", "Statement"]

_TEXT = adapt.PyFormat.TEXT
_SYNC = ExecStatus.PIPELINE_SYNC
_OK = (ExecStatus.COMMAND_OK, ExecStatus.TUPLES_OK)
_NAMED = re.compile(r"%\((\w+)\)s")
LOAD_CHUNK = 2000
"""Rows loaded between turns of the event loop: a 50,000-event history took 20 ms to load,
and a transaction on the loop's thread would hold it for all of that (:func:`_load`)."""


def _exchange(pg: Any, syncs: int) -> Generator[Any, Any, list[list[Any]]]:
    """Send what is queued, then read the results of each command up to the last of
    ``syncs`` sync points: one wait on the socket for the whole batch (psycopg's C
    generators do the I/O)."""
    yield from send(pg)
    out: list[list[Any]] = []
    while True:
        results = yield from fetch_many(pg)
        if results and results[0].status == _SYNC:
            syncs -= 1
            if not syncs:
                return out
            continue
        out.append(results)


def _load(tx: Transformer, res: Any) -> list[tuple[Any, ...]]:
    """The rows of ``res`` as tuples, a chunk at a time with the loop let run in between
    (:func:`pgfibers.pause`), so that one big read does not stall every other request."""
    n = res.ntuples
    tx.set_pgresult(res)
    if n <= LOAD_CHUNK:
        return list(tx.load_rows(0, n, tuple)) if n else []
    rows: list[tuple[Any, ...]] = []
    for start in range(0, n, LOAD_CHUNK):
        if start:
            pgfibers.pause()
            tx.set_pgresult(res)  # the transformer is this connection's; set it again anyway
        rows += tx.load_rows(start, min(n, start + LOAD_CHUNK), tuple)
    return rows


class Statement:
    """A named query in the form the protocol wants: ``$n`` placeholders, and the order of
    the parameters they stand for."""

    __slots__ = ("formats", "name", "order", "sql")

    def __init__(self, name: str, pyformat_sql: str) -> None:
        order: list[str] = []

        def number(m: re.Match[str]) -> str:
            if m.group(1) not in order:
                order.append(m.group(1))
            return f"${order.index(m.group(1)) + 1}"

        self.name = f"plait_{name}".encode()
        self.sql = _NAMED.sub(number, pyformat_sql).encode()
        self.order = tuple(order)
        self.formats = [_TEXT] * len(order)


class Pending:
    """The result of a statement sent in the pipeline: reading it waits for it (and for
    every statement sent before it)."""

    __slots__ = ("_pipe", "_pos", "_rows", "result", "rowcount_value")

    def __init__(self, pipe: Pipe) -> None:
        self._pipe = pipe
        self.result: Any = None  # the PGresult, once arrived
        self._rows: list[tuple[Any, ...]] | None = None
        self._pos = 0
        self.rowcount_value = -1

    def _arrived(self) -> Any:
        if self.result is None:
            self._pipe.sync()
            if self.result is None:  # its error was raised by an earlier sync
                raise psycopg.InterfaceError("the statement failed; the transaction is lost")
        return self.result

    def _loaded(self) -> list[tuple[Any, ...]]:
        if self._rows is None:
            res = self._arrived()
            self._rows = _load(self._pipe.tx, res)
        return self._rows

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows = self._loaded()[self._pos:]
        self._pos += len(rows)
        return rows

    def fetchone(self) -> tuple[Any, ...] | None:
        rows = self._loaded()
        if self._pos >= len(rows):
            return None
        self._pos += 1
        return rows[self._pos - 1]

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.fetchall())

    @property
    def rowcount(self) -> int:
        self._arrived()
        return self.rowcount_value


class Pipe:
    """One connection's statements in pipeline mode (used by one thread at a time, as the
    connection is)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.pg = conn.pgconn
        self.tx = adapt.Transformer(conn)
        self.prepared: set[bytes] = set()
        self.sent: collections.deque[tuple[Pending | None, bytes | None]] = collections.deque()
        self.failures = 0  # syncs that raised: a caller may have caught what it was handed
        self.unread = 0  # sync points sent whose answers are read with the next sync's
        self.round_trips = 0  # syncs sent: what the store's cost is counted in (tests)
        self.active = False

    # -- sending ----------------------------------------------------------------------------
    def _enter(self) -> None:
        if not self.active:
            self.pg.enter_pipeline_mode()
            self.active = True

    def command(self, sql: bytes) -> Pending:
        """A statement without parameters (BEGIN, COMMIT, SAVEPOINT ...), not prepared."""
        self._enter()
        self.pg.send_query_params(sql, None)
        p = Pending(self)
        self.sent.append((p, None))
        return p

    def execute(self, st: Statement, params: dict[str, Any]) -> Pending:
        self._enter()
        if st.name not in self.prepared:
            self.pg.send_prepare(st.name, st.sql)
            self.prepared.add(st.name)  # taken back if the Parse fails
            self.sent.append((None, st.name))
        values = self.tx.dump_sequence([params[k] for k in st.order], st.formats)
        self.pg.send_query_prepared(st.name, values)
        p = Pending(self)
        self.sent.append((p, None))
        return p

    # -- reading ----------------------------------------------------------------------------
    def sync(self) -> None:
        """Send what is queued, then read every answer up to here; raise the first error."""
        if not self.sent:
            return
        self.pg.pipeline_sync()
        self.round_trips += 1
        error: BaseException | None = None
        syncs, self.unread = self.unread + 1, 0
        for results in self.conn.wait(_exchange(self.pg, syncs)):
            p, prepared = self.sent.popleft()
            res = results[-1] if results else None
            if res is None or res.status not in _OK:
                if prepared is not None:
                    self.prepared.discard(prepared)
                if error is None:
                    error = self._error(res)
                continue
            if p is not None:
                p.result = res
                p.rowcount_value = res.command_tuples if res.command_tuples is not None else -1
        self.sent.clear()
        if error is not None:
            self.failures += 1
            raise error

    def commit_unread(self) -> None:
        """COMMIT a transaction that only read, without waiting for the answer: it is read
        with the connection's next round trip. What was read stays true whatever becomes of
        this COMMIT, so the caller need not wait a round trip for it. The COMMIT goes out
        now (a sync point flushes it): the transaction does not stay open meanwhile."""
        self.command(b"COMMIT")
        self.pg.pipeline_sync()
        self.unread += 1

    def commit(self) -> None:
        """COMMIT with what is still in flight, and leave pipeline mode. PostgreSQL answers
        COMMIT in a transaction an error aborted with ROLLBACK, not an error: that must not
        pass for a commit."""
        done = self.command(b"COMMIT")
        self.leave()
        if done.result is None or done.result.command_status != b"COMMIT":
            raise psycopg.errors.InFailedSqlTransaction("the transaction was rolled back")

    def _error(self, res: Any) -> BaseException:
        if res is None:
            return psycopg.OperationalError("no result from PostgreSQL")
        if res.status == ExecStatus.PIPELINE_ABORTED:
            return psycopg.errors.PipelineAborted("pipeline aborted")
        err = psycopg.errors.error_from_result(res, encoding=self.conn.info.encoding)
        if isinstance(err, psycopg.errors.InvalidSqlStatementName):
            self.prepared.clear()  # dropped behind our back (DEALLOCATE ALL): prepare again
        return err

    def leave(self) -> None:
        """Read every pending result and leave pipeline mode (for the psycopg cursor)."""
        if not self.active:
            return
        try:
            self.sync()
        finally:
            self.sent.clear()
            self.unread = 0
            if self.pg.status == psycopg.pq.ConnStatus.OK:
                self.pg.exit_pipeline_mode()
                self.active = False

    def discard(self) -> None:
        """After an error: drop what is pending, errors and all, and leave pipeline mode
        (the caller then rolls back). A connection that cannot leave it is closed: the pool
        then replaces it."""
        try:
            self.leave()
        except Exception:
            if self.active and not self.conn.closed:
                self.conn.close()
        self.active = False
