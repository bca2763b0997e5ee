"""PostgreSQL store: several servers on one database.

**Threads, not async.** The history service is synchronous code run inside one transaction
(``Store.write(fn)``), so each transaction runs on a small thread pool with a synchronous
psycopg connection from a ``ConnectionPool``: one thread per connection, never waiting for one.

**One run at a time.** Transactions run at READ COMMITTED. The optimistic check on
``next_event_id`` stops two servers from both extending one history, but a history change
also *decides* things from rows it only reads (is the workflow task out at a worker? is this
task still leased to that token?). So in a write transaction :class:`PgTxn` locks a run's
``executions`` row (``FOR UPDATE``) before it reads or writes anything else of that run:
every change to one run is serialized, as on SQLite's single writer, while different runs
proceed in parallel. The lock is taken in one place, where every statement passes
(:meth:`PgTxn._lock_for`): a statement that names a run or a task locks that run first, so
an operation added later cannot run unlocked. Claims (tasks, due timers) lock their rows and
their run's row with ``SKIP LOCKED``: they never wait, so a claim is never part of a
deadlock, and a run that is being changed is skipped until the next poll. A task row read
before its run was locked (the tasks of an expired session) is checked again once the run is
locked; if it changed, the transaction is retried.

**Conflicts retry.** A unique violation (two starts of one workflow id, one request id twice),
a serialization failure, a deadlock or a lock timeout raise :class:`ConflictError`;
``Service.write`` runs the whole state change again. A lost connection raises
:class:`StoreUnavailable` (HTTP 503); a commit whose outcome is unknown is never retried here
(clients retry with their request id).

**Round trips.** Named statements go through libpq's pipeline mode
(:mod:`plait.store.pgpipe`): a statement's answer is awaited only when it is read, so the
writes of a change travel together with its next read or with COMMIT; task ids are taken from
their sequence in blocks so that an insert needs no answer. A round trip costs the server
about 40 us of CPU against 4 us per statement, so reads that can wait are asked for ahead: a
claim returns each task's run with it, an eager claim of a task written in the same change is
checked at COMMIT instead of awaited, and the histories of a claim's tasks are asked for
together (:meth:`PgTxn.events_later`). A transaction that only read is answered without
waiting for its COMMIT's answer, which comes with the connection's next round trip: each
store thread keeps its connection from one transaction to the next (:meth:`_connection`).

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
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NoReturn, TypedDict, TypeVar

import msgspec
import psycopg
import psycopg.errors
from psycopg_pool import ConnectionPool, PoolTimeout

from plait.protocol.jsoncodec import dumps_str
from plait.store.answers import answer_all
from plait.store.base import (
    ConflictError,
    ExecutionRow,
    RateLimitCache,
    Store,
    StoreUnavailable,
    TaskRow,
    TimerRow,
    Txn,
    _execution,
    _task,
    _timer,
)
from plait.store.history import StoredEvent
from plait.store.migrate import migrate as run_migrations
from plait.store.pgpipe import Pending, Pipe, Statement
from plait.store.pgwake import WakeUps
from plait.store.queries import load_queries
from plait.store.statements import Params, _savepoints
from plait.store.task_data import TaskData, TimerData
from plait.store.task_data import encode as encode_task_data

__all__ = ["PgTxn", "PostgresStore"]

T = TypeVar("T")
RunKey = tuple[str, str, str]
log = logging.getLogger("plait.store")

MIGRATION_LOCK = 0x706C616974  # "plait": the advisory lock key held while migrating
DEFAULT_POOL_SIZE = 10
TASK_ID_BLOCK = 64
TASK_COLUMNS = 13
"""A task row's columns (``_task``); ``claim_tasks`` returns its run's row after them."""
PIPELINE = os.environ.get("PLAIT_PG_PIPELINE", "1") != "0"
"""Named statements through :mod:`plait.store.pgpipe` (``PLAIT_PG_PIPELINE=0``: through
psycopg's cursor, one round trip each, as before; kept to compare the two)."""
GROUP = max(1, int(os.environ.get("PLAIT_PG_GROUP", "8")))
"""Group commit: how many queued changes of this server one transaction may carry, each in a
savepoint of its own (needs the pipeline; ``PLAIT_PG_GROUP=1``: one change per transaction).
Measured side by side: +3 % W1 throughput with one server, +12 % with two, 11 % less
PostgreSQL CPU per workflow (bench/results/pg.md, "Group commit")."""
GROUP_LOCK_WAIT = b"SET LOCAL lock_timeout = '5ms'"
"""How long a change after the first of a group may wait for a row lock. The group holds the
locks of the changes before it, so a longer wait would hold them too (and two groups could
wait on each other); a change that waits longer runs alone, after the group's COMMIT."""
CHANGED_CONCURRENTLY = "PX409"
"""The SQLSTATE of ``plait_expect_one`` (migration 0010): a row another change got to first."""
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


def _touches(sql: str, table: str) -> bool:
    return re.search(rf"\b{table}\b", sql) is not None


def _writes(sql: str, table: str) -> bool:
    return re.search(rf"\b(UPDATE|INSERT INTO|DELETE FROM)\s+{table}\b", sql, re.I) is not None


class TaskIds:
    """Task ids taken from the tasks' identity sequence in blocks, so that inserting a task
    needs no ``RETURNING`` answer (see :mod:`plait.store.pgpipe`): one round trip per
    ``TASK_ID_BLOCK`` tasks instead of one per task. Ids are unique, not gap-free; a block
    is taken under a lock so that the ids this store hands out keep increasing (tasks made
    at the same instant are claimed in id order)."""

    def __init__(self) -> None:
        self._ids: collections.deque[int] = collections.deque()
        self._lock = threading.Lock()

    def take(self, txn: PgTxn) -> int:
        try:
            return self._ids.popleft()
        except IndexError:
            pass
        with self._lock:
            if not self._ids:
                self._ids.extend(int(r[0]) for r in txn._all("next_task_ids",
                                                             n=TASK_ID_BLOCK))
            return self._ids.popleft()


class PgTxn(Txn):
    """Named operations of one PostgreSQL transaction; in a write transaction, every
    operation on a run first locks the run (see the module docstring).

    Once a run is locked, nobody else can change its rows, so a write transaction also keeps
    what it read or wrote of the run's execution and tasks (each read returns fresh objects)
    and defers its timer deletions to one statement: fewer statements per state change.
    """

    # Named queries that write a table these caches mirror, and those that touch timers
    # (computed once per query text). Queries the overrides below run keep the caches
    # right themselves.
    _effects: dict[str, tuple[bool, bool, bool]] = {}
    _read_only: dict[str, bool] = {}  # named queries that only read (or lock) rows
    _SELF_MANAGED = frozenset({
        "get_execution", "get_execution_for_update", "lock_execution_of_task",
        "insert_execution", "update_execution", "set_current_run", "insert_current_run",
        "swap_current_run", "get_task", "insert_task", "insert_task_with_id", "claim_tasks",
        "claim_task_by_id",
        "release_task", "update_task_payload", "delete_task", "get_task_by_ref",
        "tasks_of_run", "leased_tasks_of_session", "delete_timer", "delete_timers",
        "upsert_timer", "get_timer", "insert_event", "insert_events", "get_events",
        "update_execution_and_events"})

    def __init__(self, cursor: Any, queries: dict[str, str], *, write: bool,
                 limits: RateLimitCache | None = None, pipe: Pipe | None = None,
                 statements: dict[str, Statement] | None = None,
                 task_ids: TaskIds | None = None) -> None:
        super().__init__(_Gate(cursor, pipe) if pipe is not None else cursor, queries, limits)
        self.write = write
        self._pipe = pipe
        self._statements = statements if statements is not None else {}
        self._task_ids = task_ids if pipe is not None else None
        self._locked: set[RunKey] = set()
        self._absent: set[RunKey] = set()
        self._task_run: dict[int, RunKey] = {}
        self._unlocked: dict[RunKey, list[TaskRow]] = {}
        self._current_seen: dict[tuple[str, str], str | None] = {}
        self._executions: dict[RunKey, tuple[Any, ...]] = {}  # raw rows of locked runs
        self._tasks: dict[int, tuple[Any, ...] | None] = {}  # raw rows (None: deleted)
        self._timer_deletes: dict[tuple[str, str, str, str, str], None] = {}
        self._wrote = False
        self._ahead: dict[tuple[str, str], Pending] = {}  # current_run asked for ahead

    # Statements exempt from the run lock below: the ones that take it, and the ones that
    # create a run (no row to lock yet; the insert itself holds it) or name a workflow id.
    _TAKES_OR_CREATES = frozenset({
        "get_execution_for_update", "lock_execution_of_task", "run_of_task",
        "insert_execution", "set_current_run", "insert_current_run", "swap_current_run",
        "get_task"})  # get_task reads first, then locks its run (see get_task)

    # -- plumbing ---------------------------------------------------------------------------
    def _exec(self, name: str, **params: Any) -> Any:
        if self.write and name not in self._TAKES_OR_CREATES:
            self._lock_for(params)
        if self.write and not self._wrote and not self._reads_only(name):
            self._wrote = True
        if self.write and name not in self._SELF_MANAGED:
            timers, executions, tasks = self._effect(name)
            if timers:
                self._flush_timer_deletes()
            if executions:
                self._executions.clear()
            if tasks:
                self._tasks.clear()
        cur = (self._pipe.execute(self._statements[name], params) if self._pipe is not None
               else super()._exec(name, **params))
        if name == "insert_execution" and self.write:  # the new row is this transaction's
            self._now_locked((params["ns"], params["wid"], params["rid"]))
        return cur

    @property
    def wrote(self) -> bool:
        """Whether this transaction sent anything that may have changed a row (a SELECT
        that locks does not count: its lock is released with the rest)."""
        return self._wrote or self._gate_used()

    @property
    def round_trips(self) -> int:
        """Round trips to the database its connection has made so far (what a change costs
        on PostgreSQL, more than its statements: tests count them)."""
        return self._pipe.round_trips if self._pipe is not None else 0

    def _reads_only(self, name: str) -> bool:
        reads = self._read_only.get(name)
        if reads is None:
            reads = self._read_only[name] = re.match(r"\s*SELECT\b", self.q[name],
                                                     re.I) is not None
        return reads

    def _gate_used(self) -> bool:
        return isinstance(self.cur, _Gate) and self.cur.used

    def _effect(self, name: str) -> tuple[bool, bool, bool]:
        effect = self._effects.get(name)
        if effect is None:
            sql = self.q[name]
            effect = (_touches(sql, "timers"), _writes(sql, "executions"),
                      _writes(sql, "tasks"))
            self._effects[name] = effect
        return effect

    def finish(self) -> None:
        """Write what was deferred; called right before COMMIT."""
        self._flush_timer_deletes()

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        # Row locks taken inside a savepoint are released when it rolls back, so what this
        # transaction knows (locks, caches) goes back to how it was, too.
        self._flush_timer_deletes()
        saved = (set(self._locked), set(self._absent), dict(self._task_run),
                 {k: list(v) for k, v in self._unlocked.items()}, dict(self._current_seen),
                 dict(self._executions), dict(self._tasks))
        try:
            with self._savepoint():
                yield
                self._flush_timer_deletes()
                if self._pipe is not None:
                    self._pipe.sync()  # the block's errors are raised inside it
        except BaseException as exc:
            self._timer_deletes.clear()
            self._ahead.clear()  # a read sent ahead may have been aborted with the block
            (self._locked, self._absent, self._task_run, self._unlocked, self._current_seen,
             self._executions, self._tasks) = saved
            if isinstance(exc, psycopg.Error) and exc.sqlstate == CHANGED_CONCURRENTLY:
                # As the whole transaction would be (_map_error): the caller may retry.
                raise ConflictError(str(exc).splitlines()[0]) from exc
            raise

    @contextlib.contextmanager
    def _savepoint(self) -> Iterator[None]:
        pipe = self._pipe
        if pipe is None:
            with super().savepoint():
                yield
            return
        name = f"sp{next(_savepoints)}".encode()
        pipe.command(b"SAVEPOINT " + name)
        try:
            yield
        except BaseException:
            with contextlib.suppress(psycopg.Error):
                pipe.sync()  # what the block left in flight (its error, if any)
            pipe.command(b"ROLLBACK TO SAVEPOINT " + name)
            pipe.command(b"RELEASE SAVEPOINT " + name)
            pipe.sync()
            raise
        pipe.command(b"RELEASE SAVEPOINT " + name)

    # -- the lock discipline ---------------------------------------------------------------
    def _lock_for(self, params: Params) -> None:
        """Every statement of a write transaction that names one run (``ns``, ``wid``,
        ``rid``) or one task (``task_id``) runs with that run locked: the lock is taken here,
        where every statement passes, so no operation can forget it."""
        rid, task_id = params.get("rid"), params.get("task_id")
        if isinstance(rid, str):
            self.lock_run(str(params["ns"]), str(params["wid"]), rid)
        elif isinstance(task_id, int):
            self._lock_task(task_id)

    def lock_run(self, ns: str, wid: str, rid: str) -> None:
        """Lock the run's row for the rest of the transaction (a no-op when reading)."""
        key = (ns, wid, rid)
        if not self.write or key in self._locked or key in self._absent:
            return
        r = self._one("get_execution_for_update", ns=ns, wid=wid, rid=rid)
        if r is None:
            self._absent.add(key)  # not there (yet): a run being created by this transaction
            return
        self._now_locked(key)
        self._executions[key] = tuple(r)
        # Found as the latest run, but closed by the time we got its lock: if a new run took
        # its place meanwhile (continue-as-new), start over so that a signal to "the latest
        # run" reaches the new one, as it would have one moment later.
        if r[6] is not None and self._current_seen.get((ns, wid)) == rid \
                and super().current_run(ns, wid) != rid:
            raise ConflictError(f"workflow {wid} moved to a new run concurrently")

    def _now_locked(self, key: RunKey) -> None:
        self._locked.add(key)
        self._absent.discard(key)
        for seen in self._unlocked.pop(key, []):
            r = super()._one("get_task", task_id=seen.task_id)
            now = _task(r) if r else None
            if now is None or (now.lease_session, now.dispatch_no, now.visible_at,
                               now.payload) != (seen.lease_session, seen.dispatch_no,
                                                seen.visible_at, seen.payload):
                raise ConflictError(f"task {seen.task_id} changed before its run was locked")
            self._tasks[seen.task_id] = tuple(r)

    def _lock_task(self, task_id: int, *, then_read: bool = False) -> Pending | None:
        """Lock the run that owns a task (known from an earlier read, or looked up). With
        ``then_read`` (and a pipeline), the task's row is asked for in the same round trip:
        PostgreSQL runs it after the lock is held, so it sees the row as the lock's holder
        left it. Returns that pending read, if sent."""
        if not self.write:
            return None
        key = self._task_run.get(task_id)
        if key is not None and key in self._locked:
            return None
        cur = self._exec("lock_execution_of_task", task_id=task_id)
        row = (self._exec("get_task", task_id=task_id)
               if then_read and self._pipe is not None else None)
        r = cur.fetchone()
        if r is not None:
            key = (r[0], r[1], r[2])
            self._task_run[task_id] = key
            self._now_locked(key)
            self._executions[key] = tuple(r[1:])
        return row

    def _remember(self, rows: Iterable[Sequence[Any]]) -> list[TaskRow]:
        """Task rows just read: cached when their run is locked, else checked once it is."""
        out = []
        for r in rows:
            t = _task(r)
            key = (t.namespace, t.workflow_id, t.run_id)
            self._task_run[t.task_id] = key
            if self.write:
                if key in self._locked:
                    self._tasks[t.task_id] = tuple(r)
                else:
                    self._unlocked.setdefault(key, []).append(t)
            out.append(t)
        return out

    # -- executions ------------------------------------------------------------------------
    def get_execution(self, ns: str, wid: str, rid: str) -> ExecutionRow | None:
        if not self.write:
            return super().get_execution(ns, wid, rid)
        key = (ns, wid, rid)
        self.lock_run(ns, wid, rid)
        raw = self._executions.get(key)
        if raw is None:
            if key not in self._locked:
                return None
            r = self._one("get_execution", ns=ns, wid=wid, rid=rid)
            if r is None:
                return None
            raw = self._executions[key] = tuple(r)
        return _execution(ns, raw)

    def creating_run(self, ns: str, wid: str, rid: str) -> None:
        if self.write:
            self._absent.add((ns, wid, rid))  # as a lookup of its row would have found

    def current_run_ahead(self, ns: str, wid: str) -> None:
        if self._pipe is not None and (ns, wid) not in self._ahead:
            self._ahead[(ns, wid)] = self._exec("get_current_run", ns=ns, wid=wid)

    def current_run(self, ns: str, wid: str) -> str | None:
        ahead = self._ahead.pop((ns, wid), None)
        if ahead is not None:  # asked for earlier in this transaction, nothing written since
            row = ahead.fetchone()
            rid: str | None = row[0] if row else None
        else:
            rid = super().current_run(ns, wid)
        if self.write:
            self._current_seen.setdefault((ns, wid), rid)
        return rid

    def insert_execution(self, e: ExecutionRow) -> None:
        super().insert_execution(e)
        key = (e.namespace, e.workflow_id, e.run_id)
        self._now_locked(key)
        self._executions[key] = (
            e.workflow_id, e.run_id, e.workflow_type, e.task_queue, e.status, e.start_time,
            None, e.next_event_id, e.state.encode(), None, dumps_str(e.search_attributes),
            dumps_str(e.memo) if e.memo is not None else None)

    def set_current_run(self, ns: str, wid: str, rid: str) -> None:
        """Optimistic, like ``next_event_id``: the latest run must still be the one this
        transaction saw (two concurrent starts of one id: one wins, the other retries)."""
        key = (ns, wid)
        self._ahead.pop(key, None)  # what was asked for ahead is no longer so
        if key not in self._current_seen:
            super().set_current_run(ns, wid, rid)
        elif (seen := self._current_seen[key]) is None:
            self._exec("insert_current_run", ns=ns, wid=wid, rid=rid)  # unique violation: retry
        elif self._exec("swap_current_run", ns=ns, wid=wid, rid=rid, seen=seen).rowcount != 1:
            raise ConflictError(f"workflow {wid} got a new run concurrently")
        self._current_seen[key] = rid

    def closed_runs(self, keys: Iterable[RunKey]) -> set[RunKey]:
        ks = list(keys)
        rows = self._all("closed_runs", ns=[k[0] for k in ks], wid=[k[1] for k in ks],
                        rid=[k[2] for k in ks])
        return {(r[0], r[1], r[2]) for r in rows}

    def update_execution(self, e: ExecutionRow, expected_next_event_id: int) -> None:
        self.save_execution(e, expected_next_event_id, ())

    def save_execution(self, e: ExecutionRow, expected_next_event_id: int,
                       events: Sequence[StoredEvent]) -> None:
        """The row and the events (if any) in one statement, checked by the statement
        itself: nobody waits for its answer."""
        key = (e.namespace, e.workflow_id, e.run_id)
        self.lock_run(*key)
        state, result = e.state.encode(), dumps_str(e.result) if e.result is not None else None
        self._exec(
            "update_execution_and_events", ns=e.namespace, wid=e.workflow_id, rid=e.run_id,
            status=e.status, close_time=e.close_time, next_event_id=e.next_event_id,
            state=state, result=result, expected=expected_next_event_id,
            ids=[ev.event_id for ev in events], datas=_joined(events))
        self._updated(e, key, state, result)

    def _updated(self, e: ExecutionRow, key: RunKey, state: str, result: str | None) -> None:
        """After the row's UPDATE (checked by :meth:`_expect_one`): keep the cached row in
        step (if the check fails, the transaction and this cache go)."""
        old = self._executions.get(key)
        if old is not None:
            self._executions[key] = (*old[:4], e.status, old[5], e.close_time, e.next_event_id,
                                     state, result, *old[10:])

    # -- events ----------------------------------------------------------------------------
    def insert_events(self, ns: str, wid: str, rid: str, events: Sequence[StoredEvent]) -> None:
        self.lock_run(ns, wid, rid)
        if len(events) == 1:
            self._exec("insert_event", ns=ns, wid=wid, rid=rid, event_id=events[0].event_id,
                      data=events[0].data)
        elif events:  # one statement, not a round trip per event
            self._exec("insert_events", ns=ns, wid=wid, rid=rid,
                      ids=[ev.event_id for ev in events], datas=_joined(events))

    # -- tasks -----------------------------------------------------------------------------
    def events_later(self, ns: str, wid: str, rid: str,
                     after: int = 0) -> Callable[[], list[msgspec.Raw]]:
        if self._pipe is None:
            return super().events_later(ns, wid, rid, after)
        pending = self._exec("get_events", ns=ns, wid=wid, rid=rid, after=after)
        return lambda: [msgspec.Raw(r[0]) for r in pending.fetchall()]

    def insert_task(self, *, ns: str, task_queue: str, kind: str, wid: str, rid: str, ref: str,
                    visible_at: float, payload: TaskData,
                    sticky_session: str | None = None, sticky_until: float | None = None) -> int:
        self.lock_run(ns, wid, rid)
        data = encode_task_data(payload)
        if self._task_ids is not None and self.write:
            # An id taken in advance: the insert needs no answer, so it waits for none.
            task_id = self._task_ids.take(self)
            self._exec("insert_task_with_id", task_id=task_id, ns=ns, task_queue=task_queue,
                       kind=kind, wid=wid, rid=rid, ref=ref, visible_at=visible_at,
                       sticky_session=sticky_session, sticky_until=sticky_until, payload=data)
        else:
            task_id = self._scalar("insert_task", ns=ns, task_queue=task_queue, kind=kind,
                                   wid=wid, rid=rid, ref=ref, visible_at=visible_at,
                                   sticky_session=sticky_session, sticky_until=sticky_until,
                                   payload=data)
        self._task_run[task_id] = (ns, wid, rid)
        if self.write:
            self._tasks[task_id] = (task_id, ns, task_queue, kind, wid, rid, ref, visible_at,
                                    None, 0, None, None, data)
        return task_id

    def get_task(self, task_id: int) -> TaskRow | None:
        if self.write and task_id in self._tasks:
            raw = self._tasks[task_id]
            return _task(raw) if raw is not None else None
        if self.write and task_id not in self._task_run and self._locked:
            # Most likely a task of a run this transaction holds already: read it, and lock
            # (then read again) only if it is not.
            r = self._one("get_task", task_id=task_id)
            if r is None or (r[1], r[4], r[5]) in self._locked:
                return self._remember([r])[0] if r else None
            self.lock_run(r[1], r[4], r[5])
        elif (read := self._lock_task(task_id, then_read=True)) is not None:
            r = read.fetchone()
            return self._remember([r])[0] if r else None
        r = self._one("get_task", task_id=task_id)
        return self._remember([r])[0] if r else None

    def get_task_by_ref(self, ns: str, wid: str, rid: str, kind: str, ref: str) -> TaskRow | None:
        self.lock_run(ns, wid, rid)
        r = self._one("get_task_by_ref", ns=ns, wid=wid, rid=rid, kind=kind, ref=ref)
        return self._remember([r])[0] if r else None

    def tasks_of_run(self, ns: str, wid: str, rid: str) -> list[TaskRow]:
        self.lock_run(ns, wid, rid)
        return self._remember(self._all("tasks_of_run", ns=ns, wid=wid, rid=rid))

    def _claim(self, *, ns: str, task_queue: str, kind: str, session: str, now: float,
               limit: int, request: int | None) -> list[TaskRow]:
        rows = self._all("claim_tasks", ns=ns, task_queue=task_queue, kind=kind,
                        session=session, now=now, limit=limit, request=request)
        for r in rows:  # the claim locked each task's run (SKIP LOCKED), and read it
            key = (r[1], r[4], r[5])
            self._now_locked(key)
            if self.write:
                self._executions[key] = tuple(r[TASK_COLUMNS:])
        tasks = self._remember(r[:TASK_COLUMNS] for r in rows)
        return sorted(tasks, key=lambda t: (t.visible_at, t.task_id))

    def _claim_by_id(self, task_id: int, session: str, now: float,
                     request: int | None) -> TaskRow | None:
        self._lock_task(task_id)
        known = self._tasks.pop(task_id, None)
        if known is not None and known[8] is None and self._pipe is not None:
            # Known unleased under this transaction's lock on its run (a claim skips a
            # locked run): the claim must succeed, so it is sent without waiting for its
            # answer (the statement itself raises if it claimed nothing).
            self._exec("claim_known_task", task_id=task_id, session=session, now=now,
                       request=request)
            r: Sequence[Any] | None = (*known[:8], session, known[9] + 1, now, request,
                                       known[12])
        else:
            r = self._one("claim_task_by_id", task_id=task_id, session=session, now=now,
                          request=request)
        return self._remember([r])[0] if r else None

    def release_task(self, task_id: int, visible_at: float, payload: TaskData) -> None:
        self._lock_task(task_id)
        self._tasks.pop(task_id, None)
        super().release_task(task_id, visible_at, payload)

    def update_task_payload(self, task_id: int, payload: TaskData) -> None:
        self._lock_task(task_id)
        self._tasks.pop(task_id, None)
        super().update_task_payload(task_id, payload)

    def delete_task(self, task_id: int) -> None:
        self._lock_task(task_id)
        super().delete_task(task_id)
        if self.write:
            self._tasks[task_id] = None

    def leased_tasks(self, session: str) -> list[TaskRow]:
        # Not locked here (a heartbeat reads these every second and acts on almost none);
        # acting on one locks its run first, which checks the row again.
        return self._remember(self._all("leased_tasks_of_session", session=session))

    def orphaned_tasks(self, async_lease: str) -> list[TaskRow]:
        return self._remember(self._all("orphaned_tasks", async_lease=async_lease))

    # -- timers ----------------------------------------------------------------------------
    def set_timer(self, ns: str, wid: str, rid: str, kind: str, ref: str, fire_at: float,
                  data: TimerData | None = None) -> None:
        self.lock_run(ns, wid, rid)
        self._timer_deletes.pop((ns, wid, rid, kind, ref), None)  # the upsert replaces it
        super().set_timer(ns, wid, rid, kind, ref, fire_at, data)

    def delete_timer(self, ns: str, wid: str, rid: str, kind: str, ref: str) -> None:
        if not self.write:
            super().delete_timer(ns, wid, rid, kind, ref)
            return
        self.lock_run(ns, wid, rid)
        self._timer_deletes[(ns, wid, rid, kind, ref)] = None

    def _flush_timer_deletes(self) -> None:
        keys, self._timer_deletes = list(self._timer_deletes), {}
        if len(keys) == 1:
            ns, wid, rid, kind, ref = keys[0]
            super().delete_timer(ns, wid, rid, kind, ref)
        elif keys:
            self._exec("delete_timers", **{
                col: [k[i] for k in keys]
                for i, col in enumerate(("ns", "wid", "rid", "kind", "ref"))})

    def get_timer(self, ns: str, wid: str, rid: str, kind: str, ref: str) -> TimerRow | None:
        self.lock_run(ns, wid, rid)
        if (ns, wid, rid, kind, ref) in self._timer_deletes:
            return None
        return super().get_timer(ns, wid, rid, kind, ref)

    def claim_due_timers(self, now: float, limit: int) -> list[TimerRow]:
        timers = [_timer(r) for r in self._all("claim_due_timers", now=now, limit=limit)]
        for tm in timers:
            self._now_locked((tm.namespace, tm.workflow_id, tm.run_id))
        return timers

    # -- closing and retention --------------------------------------------------------------
    def _style(self, sql: str) -> str:
        return re.sub(r"(?<!:):(\w+)", r"%(\1)s", sql)


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
        # One thread per connection, fed from one queue; answers go back with
        # call_soon_threadsafe (lighter than concurrent.futures on every transaction).
        self._local = threading.local()  # each store thread's connection (_connection)
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, name=f"plait-pg-{i}", daemon=True)
                         for i in range(size)]
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
    async def write(self, fn: Callable[[Txn], T]) -> T:
        return await self._submit(fn, True)

    async def read(self, fn: Callable[[Txn], T]) -> T:
        return await self._submit(fn, False)

    async def _submit(self, fn: Callable[[Txn], T], write: bool) -> T:
        if self._closed:
            raise StoreUnavailable("the store is closed")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._jobs.put((fn, write, loop, fut))
        return await fut

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            if not job[1] or GROUP == 1 or not PIPELINE:
                self._do(job)
                continue
            group, reads = self._gather(job)
            self._run_group(group)
            for read in reads:
                self._do(read)
        self._let_go()

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
            except queue.Empty:
                break
            if job is None:  # closing: leave the stop for this thread's next turn
                self._jobs.put(None)
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
            self._pool.check()
        try:
            return self._attempt(fn, write)
        except _StaleConnection as e:
            raise StoreUnavailable(str(e.__cause__ or e)) from e

    def _connection(self) -> psycopg.Connection[Any]:
        """This thread's connection: kept from one transaction to the next (so a read's
        COMMIT can be answered with the next round trip), taken from the pool when it has
        none."""
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        try:
            conn = self._pool.getconn()
        except PoolTimeout:
            raise StoreUnavailable("no PostgreSQL connection within "
                                   f"{self._pool_timeout:g} s (is the database up?)") from None
        self._local.conn, self._local.since = conn, time.monotonic()
        return conn

    def _release(self, conn: psycopg.Connection[Any], healthy: bool) -> None:
        """Keep the connection for this thread's next transaction, unless something went
        wrong with it or it has been out for :data:`KEEP_CONNECTION` seconds: then it goes
        back to the pool, which checks it, replaces it when broken, and retires old ones."""
        if healthy and not conn.broken \
                and time.monotonic() - self._local.since < KEEP_CONNECTION:
            return
        self._local.conn = None
        pipe = self._pipe(conn)
        if pipe is not None and healthy:
            with contextlib.suppress(psycopg.Error):
                pipe.leave()  # the unread answers, so that the pool finds it idle
        self._pool.putconn(conn)

    def _let_go(self) -> None:
        """A stopping thread gives its connection back (the pool closes it)."""
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.since = -KEEP_CONNECTION
            self._release(conn, True)

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
            self._pool.check()
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
            for i, job in enumerate(group):
                if i == 1:  # the first change waited for locks as long as one alone would
                    pipe.command(GROUP_LOCK_WAIT)
                if savepoints:
                    value, ok, waited = self._grouped(conn, cur, pipe, job, first=i == 0)
                else:
                    value, ok, waited = self._unmarked(cur, pipe, job)
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

    def _txn(self, cur: Any, pipe: Pipe) -> PgTxn:
        return PgTxn(cur, self._queries, write=True, limits=self._limits, pipe=pipe,
                     statements=self._statements, task_ids=self._task_ids)

    def _unmarked(self, cur: Any, pipe: Pipe, job: _Job) -> tuple[Any, bool, bool]:
        """One change of a group without a savepoint: (value or error, ok, False), or
        ``_RERUN`` as the value when its failure cannot be its alone. Database errors are
        raised (the group then runs again with savepoints, or fails as a whole)."""
        txn = self._txn(cur, pipe)
        try:
            value = job[0](txn)
            txn.finish()
            return value, True, False
        except psycopg.Error:
            raise
        except BaseException as e:  # the change's own error, if it wrote nothing
            return (_RERUN if txn.wrote else e), False, False

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
    def publish(self, messages: Sequence[str]) -> None:
        self.wake_ups.publish(messages)

    def listen(self, on_message: Callable[[str | None], None]) -> None:
        self.wake_ups.listen(on_message)

    async def close(self) -> None:
        self._closed = True
        await self.wake_ups.close()
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            await asyncio.to_thread(thread.join, 10)
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


_RERUN = object()
"""A change of a group run without savepoints that failed after writing: the group runs
again, each change in a savepoint."""

_Job = tuple[Callable[[Txn], Any], bool, asyncio.AbstractEventLoop, "asyncio.Future[Any]"]
"""A change or read queued for the store's threads: (function, write, loop, its future)."""


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


class _Gate:
    """The transaction's psycopg cursor, for what does not go through the pipeline
    (``executemany``, dynamic SQL): every use first reads what is pending and leaves
    pipeline mode."""

    def __init__(self, cur: psycopg.Cursor[Any], pipe: Pipe) -> None:
        self._cur, self._pipe = cur, pipe
        self.used = False  # counted as a write: what it ran is not looked at

    def __getattr__(self, name: str) -> Any:
        self.used = True
        self._pipe.leave()
        return getattr(self._cur, name)


class _ConnectArgs(TypedDict):
    """How every connection of the store is opened."""

    autocommit: bool
    connect_timeout: int


EVENT_SEPARATOR = "\x1e"
"""Between the events' JSON texts in one parameter, which the statements split with
``string_to_array(..., chr(30))``: a control character, which JSON text never holds
unescaped. A ``text[]`` parameter instead made psycopg escape every quote of every event in
Python, about 90 us for four events: 400 us of a W1 workflow's 3 ms of server CPU."""


def _joined(events: Sequence[StoredEvent]) -> str:
    joined = EVENT_SEPARATOR.join(ev.data for ev in events)
    if events and joined.count(EVENT_SEPARATOR) != len(events) - 1:
        raise ValueError("an event's text holds an unescaped control character (not JSON)")
    return joined


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)
