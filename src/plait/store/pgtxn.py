"""A PostgreSQL transaction's operations: the lock discipline that serializes each run across
servers, and the round trips each operation waits for.

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

**Round trips.** Statements go through libpq's pipeline mode (:mod:`plait.store.pgpipe`): a
statement's answer is awaited only when it is read, so the writes of a change travel
together with its next read or with COMMIT; task ids are taken from their sequence in blocks
so that an insert needs no answer, and a row count that must be 1 is checked by the statement
itself (``plait_expect_one``, migration 0010). A round trip costs the server about 40 us of
CPU against 4 us per statement, so reads that can wait are asked for ahead: a claim returns
each task's run with it, an eager claim of a task written in the same change is not awaited,
the histories of a claim's tasks are asked for together (:meth:`PgTxn.events_later`), a
start's current run travels with its request id's lookup (:meth:`PgTxn.current_run_ahead`),
and the runs of a group's later changes are locked and read together (:class:`LocksAhead`).
"""

from __future__ import annotations

import collections
import contextlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import msgspec
import psycopg
import psycopg.errors

from plait.protocol.jsoncodec import dumps_str
from plait.store import pgfibers
from plait.store.base import (
    ConflictError,
    ExecutionRow,
    RateLimitCache,
    TaskRow,
    TimerRow,
    Txn,
    _execution,
    _nothing,
    _task,
    _timer,
)
from plait.store.history import StoredEvent
from plait.store.pgpipe import Pending, Pipe, Statement
from plait.store.sessions import SessionRow, session_row
from plait.store.statements import Params, _savepoints
from plait.store.task_data import TaskData, TimerData
from plait.store.task_data import encode as encode_task_data

__all__ = ["CHANGED_CONCURRENTLY", "EVENT_SEPARATOR", "LocksAhead", "PgTxn", "TaskIds"]

TASK_ID_BLOCK = 64

TASK_COLUMNS = 13
"""A task row's columns (``_task``); ``claim_tasks`` returns its run's row after them."""

CHANGED_CONCURRENTLY = "PX409"
"""The SQLSTATE of ``plait_expect_one`` (migration 0010): a row another change got to first."""

RunKey = tuple[str, str, str]


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
        self._lock = pgfibers.Lock()

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


class LocksAhead:
    """The runs a group's later changes act on, locked and read in one round trip.

    Each change of a group reads its run under a lock before anything else (a completion:
    the run of its task), and each read was a round trip of its own: 3.5 of W1's 7.7 per
    workflow. A change that names its task (``Store.write(..., task=...)``) has its run
    locked and its task read ahead, once the group's first change has run, together with
    the others'. The lock is taken with ``SKIP LOCKED``: it never waits, so it adds no wait
    to the group (nor a way to deadlock); a run another transaction holds is locked by its
    change as before. A run an earlier change of the group locked after these reads went
    out may have changed since: its change reads it again."""

    def __init__(self, pipe: Pipe, statements: dict[str, Statement],
                 task_ids: Iterable[int]) -> None:
        self._pending = {
            task_id: (pipe.execute(statements["lock_execution_of_task_ahead"],
                                   {"task_id": task_id}),
                      pipe.execute(statements["get_task"], {"task_id": task_id}))
            for task_id in task_ids}
        self.touched: set[RunKey] = set()
        """Runs that changes run after these reads locked: what was read of them is old."""

    def take(self, task_id: int) -> tuple[Sequence[Any], Sequence[Any] | None] | None:
        """The run's row (locked now) and the task's, or None: the change locks and reads
        them itself."""
        pending = self._pending.pop(task_id, None)
        if pending is None:
            return None
        run = pending[0].fetchone()
        if run is None or (run[0], run[1], run[2]) in self.touched:
            return None
        return run, pending[1].fetchone()


class _Read:
    """A row read ahead, handed out as a pending read would be."""

    def __init__(self, row: Sequence[Any] | None) -> None:
        self._row = row

    def fetchone(self) -> Sequence[Any] | None:
        return self._row


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
        "claim_task_by_id", "claim_known_task", "claim_written_tasks",
        "release_task", "update_task_payload", "delete_task", "get_task_by_ref",
        "tasks_of_run", "leased_tasks_of_session", "delete_timer", "delete_timers",
        "upsert_timer", "get_timer", "insert_event", "insert_events", "get_events",
        "update_execution_and_events"})

    def __init__(self, cursor: Any, queries: dict[str, str], *, write: bool,
                 limits: RateLimitCache | None = None, pipe: Pipe | None = None,
                 statements: dict[str, Statement] | None = None,
                 task_ids: TaskIds | None = None, ahead: LocksAhead | None = None) -> None:
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
        self._locks_ahead = ahead
        self._unsticky: set[int] = set()  # tasks written here with no sticky session

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
    def locked(self) -> set[RunKey]:
        """The runs this transaction holds."""
        return self._locked

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

    def _lock_task(self, task_id: int, *, then_read: bool = False) -> Pending | _Read | None:
        """Lock the run that owns a task (known from an earlier read, or looked up). With
        ``then_read`` (and a pipeline), the task's row is asked for in the same round trip:
        PostgreSQL runs it after the lock is held, so it sees the row as the lock's holder
        left it. Returns that pending read, if sent."""
        if not self.write:
            return None
        key = self._task_run.get(task_id)
        if key is not None and key in self._locked:
            return None
        got = self._locks_ahead.take(task_id) if self._locks_ahead is not None else None
        if got is not None:
            run, task = got
            key = (run[0], run[1], run[2])
            self._task_run[task_id] = key
            self._now_locked(key)
            self._executions[key] = tuple(run[1:])
            if task is not None:
                self._remember([task])
            return _Read(task) if then_read else None
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
            ids=_id_list(ev.event_id for ev in events), datas=_joined(events))
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
                      ids=_id_list(ev.event_id for ev in events), datas=_joined(events))

    # -- tasks -----------------------------------------------------------------------------
    def events_later(self, ns: str, wid: str, rid: str,
                     after: int = 0) -> Callable[[], list[msgspec.Raw]]:
        if self._pipe is None:
            return super().events_later(ns, wid, rid, after)
        pending = self._exec("get_events", ns=ns, wid=wid, rid=rid, after=after)
        return lambda: [msgspec.Raw(r[0]) for r in pending.fetchall()]

    def claim_known_later(self, *, ns: str, task_queue: str, kind: str, session: str,
                          now: float, limit: int,
                          request: int | None) -> tuple[list[TaskRow], Callable[[], set[int]]]:
        if self._pipe is None or not self.write:
            return super().claim_known_later(ns=ns, task_queue=task_queue, kind=kind,
                                             session=session, now=now, limit=limit,
                                             request=request)
        # Tasks this transaction wrote with no worker to stick to (a new run's first, say),
        # whose cached rows it holds under its lock on their runs: no one else can have
        # leased them since. A sticky one is left to the claim, which may give it to
        # another parked poll.
        mine = (self._tasks.get(task_id) for task_id in self._unsticky)
        known = sorted((raw for raw in mine if raw is not None and raw[1] == ns
                        and raw[2] == task_queue and raw[3] == kind and raw[8] is None
                        and raw[7] <= now),
                       key=lambda raw: (raw[7], raw[0]))[:max(0, limit)]
        if not known:
            return [], _nothing
        for raw in known:
            self._tasks.pop(raw[0], None)  # leased now, or not: read again if asked
        pending = self._exec("claim_written_tasks", ids=_id_list(raw[0] for raw in known),
                             session=session, now=now, request=request)
        tasks = [_task((*raw[:8], session, raw[9] + 1, now, request, raw[12]))
                 for raw in known]

        def leased() -> set[int]:
            res = pending.result  # arrived with COMMIT's answer
            if res is None:
                return set()
            return {int(res.get_value(i, 0)) for i in range(res.ntuples)}
        return tasks, leased

    def next_visible_later(self, ns: str, task_queue: str, kind: str,
                           session: str) -> Callable[[], float | None]:
        if self._pipe is None:
            return super().next_visible_later(ns, task_queue, kind, session)
        pending = self._exec("next_visible", ns=ns, task_queue=task_queue, kind=kind,
                             session=session)

        def read() -> float | None:
            row = pending.fetchone()
            return None if row is None or row[0] is None else float(row[0])
        return read

    def get_session_later(self, session: str) -> Callable[[], SessionRow | None]:
        if self._pipe is None:
            return super().get_session_later(session)
        pending = self._exec("get_session", session=session)
        return lambda: session_row(pending.fetchone())

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
            if sticky_session is None:
                self._unsticky.add(task_id)
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


EVENT_SEPARATOR = "\x1e"
"""Between the events' JSON texts in one parameter, which the statements split with
``string_to_array(..., chr(30))``: a control character, which JSON text never holds
unescaped. A ``text[]`` parameter instead made psycopg escape every quote of every event in
Python, about 90 us for four events: 400 us of a W1 workflow's 3 ms of server CPU."""


def _id_list(ids: Iterable[int]) -> str:
    """Ids as one text parameter, which the statements split with
    ``string_to_array(..., ',')``: psycopg dumps a ``bigint[]`` element by element in
    Python (a regular expression search each): about 29 elements per W1 workflow."""
    return ",".join([str(i) for i in ids])


def _joined(events: Sequence[StoredEvent]) -> str:
    joined = EVENT_SEPARATOR.join(ev.data for ev in events)
    if events and joined.count(EVENT_SEPARATOR) != len(events) - 1:
        raise ValueError("an event's text holds an unescaped control character (not JSON)")
    return joined
