"""The store interface: a transaction object with named operations, and the async front.

The history service is plain synchronous Python run *inside* one transaction (see
``Store.write``): load the workflow's row, append events, create the tasks and timers they
imply, and commit all of it at once (the transactional outbox). The optimistic check on
``next_event_id`` in :meth:`Txn.update_execution` stops two servers from both extending one
history.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import msgspec

from plait.protocol.common import Memo, SearchAttributes
from plait.protocol.jsoncodec import dumps_str, loads
from plait.store.api_keys import ApiKeyStatements
from plait.store.attempts import AttemptStatements
from plait.store.batches import BatchStatements
from plait.store.gauges import GaugeStatements
from plait.store.history import BUFFERED, BufferedEvent, EventAttributes, StoredEvent
from plait.store.namespaces import NamespaceStatements
from plait.store.rate_limits import RateLimit, RateLimitCache, RateLimitStatements
from plait.store.requests import RequestStatements
from plait.store.run_state import RunState
from plait.store.schedules import ScheduleStatements
from plait.store.search_index import ListFilter, index_key, index_rows, index_value
from plait.store.sessions import SessionStatements
from plait.store.statements import Params
from plait.store.task_data import (
    HELD,
    TIMER_DATA,
    ActivityTaskData,
    QueryTaskData,
    TaskData,
    TimerData,
    WorkflowTaskData,
    decode_task_data,
    encode,
)
from plait.store.task_queues import TaskQueueStatements

__all__ = ["ConflictError", "ExecutionRow", "RateLimit", "RateLimitCache", "Store",
           "StoreUnavailable", "TaskRow", "Txn"]

T = TypeVar("T")


class StoreUnavailable(Exception):
    """The database cannot be reached or refused the commit; the request may be retried."""


class ConflictError(Exception):
    """Another writer extended the history first (optimistic check failed); retry."""


class StoreBusy(StoreUnavailable):
    """A state change kept conflicting with other writers; the caller may retry later."""


@dataclasses.dataclass
class ExecutionRow:
    namespace: str
    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    status: str
    start_time: float
    close_time: float | None
    next_event_id: int
    state: RunState
    result: EventAttributes | None
    """The status and the closing event's attributes, once closed."""
    search_attributes: SearchAttributes
    memo: Memo | None


@dataclasses.dataclass
class TaskRow:
    task_id: int
    namespace: str
    task_queue: str
    kind: str
    workflow_id: str
    run_id: str
    ref: str
    visible_at: float
    lease_session: str | None
    dispatch_no: int
    dispatched_at: float | None
    lease_request: int | None
    """The worker's number of the request whose answer carried the task to it (poll or
    completion; None when the worker numbers none): a heartbeat that says the worker read
    that answer and does not list the task shows the task lost (:mod:`plait.server.sessions`)."""
    payload: TaskData

    @property
    def activity(self) -> ActivityTaskData:
        """The payload of an activity task (the kind column says which shape it has)."""
        if not isinstance(self.payload, ActivityTaskData):
            raise TypeError(f"task {self.task_id} is a {self.kind} task, not an activity")
        return self.payload

    @property
    def workflow(self) -> WorkflowTaskData:
        if not isinstance(self.payload, WorkflowTaskData):
            raise TypeError(f"task {self.task_id} is a {self.kind} task, not a workflow task")
        return self.payload

    @property
    def query(self) -> QueryTaskData:
        if not isinstance(self.payload, QueryTaskData):
            raise TypeError(f"task {self.task_id} is a {self.kind} task, not a query")
        return self.payload


@dataclasses.dataclass
class TimerRow:
    namespace: str
    workflow_id: str
    run_id: str
    kind: str
    ref: str
    fire_at: float
    data: TimerData


def _execution(ns: str, r: Sequence[Any]) -> ExecutionRow:
    return ExecutionRow(ns, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7],
                        RunState.decode(r[8]),
                        loads(r[9]) if r[9] else None, loads(r[10]) if r[10] else {},
                        loads(r[11]) if r[11] else None)


def _nothing() -> set[int]:
    return set()


def _task(row: Sequence[Any]) -> TaskRow:
    return TaskRow(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8],
                   row[9], row[10], row[11], decode_task_data(row[3], row[12]))


def _timer(row: Sequence[Any]) -> TimerRow:
    return TimerRow(row[0], row[1], row[2], row[3], row[4], row[5], TIMER_DATA.decode(row[6]))


class Txn(SessionStatements, AttemptStatements, RequestStatements, NamespaceStatements,
          RateLimitStatements, ScheduleStatements, GaugeStatements, TaskQueueStatements,
          ApiKeyStatements, BatchStatements):
    """Typed operations inside one open transaction, over a DB-API cursor.

    Backends override only what differs (the claim query's locking, for instance). Each
    table's operations beyond runs, tasks and timers live in a module of their own
    (:mod:`plait.store.sessions`, :mod:`~plait.store.attempts`, ...).
    """

    def __init__(self, cursor: Any, queries: dict[str, str],
                 limits: RateLimitCache | None = None) -> None:
        super().__init__(cursor, queries)
        self.limits = limits if limits is not None else RateLimitCache(ttl=0.0)
        """This store's cached copy of the rate limits (:mod:`plait.store.rate_limits`)."""

    # -- executions ------------------------------------------------------------------------
    def get_execution(self, ns: str, wid: str, rid: str) -> ExecutionRow | None:
        r = self._one("get_execution", ns=ns, wid=wid, rid=rid)
        return _execution(ns, r) if r else None

    def current_run(self, ns: str, wid: str) -> str | None:
        rid: str | None = self._scalar("get_current_run", ns=ns, wid=wid)
        return rid

    def current_run_ahead(self, ns: str, wid: str) -> None:
        """:meth:`current_run` of ``wid`` will be asked for soon. A backend that sends
        statements ahead (PostgreSQL's pipeline) sends it now, so it shares the round trip of
        what is read before it (a start's request id); here it is a no-op."""
        return None

    def creating_run(self, ns: str, wid: str, rid: str) -> None:
        """This transaction is about to create the run ``rid``, an id it just made up (no
        other transaction can know it): a backend that locks each run before touching it
        need not look for this one (PostgreSQL: one round trip fewer per start)."""
        return None

    def insert_execution(self, e: ExecutionRow) -> None:
        self._exec("insert_execution", ns=e.namespace, wid=e.workflow_id, rid=e.run_id,
                  workflow_type=e.workflow_type, task_queue=e.task_queue, status=e.status,
                  start_time=e.start_time, next_event_id=e.next_event_id,
                  state=e.state.encode(), search_attributes=dumps_str(e.search_attributes),
                  memo=dumps_str(e.memo) if e.memo is not None else None)
        self.set_current_run(e.namespace, e.workflow_id, e.run_id)
        self._index_search_attributes(e, e.search_attributes)

    def upsert_search_attributes(self, e: ExecutionRow, attrs: SearchAttributes) -> None:
        """Merge ``attrs`` into the run's search attributes: the row (``e`` too) and the
        index change together, so a list filter never sees one without the other."""
        e.search_attributes = {**e.search_attributes, **attrs}
        self._exec("set_search_attributes", ns=e.namespace, wid=e.workflow_id, rid=e.run_id,
                  search_attributes=dumps_str(e.search_attributes))
        self._index_search_attributes(e, attrs)

    def _index_search_attributes(self, e: ExecutionRow, attrs: SearchAttributes) -> None:
        rows = [{"ns": e.namespace, "wid": e.workflow_id, "rid": e.run_id, "name": name,
                 "value": value, "start_time": e.start_time}
                for name, value in index_rows(attrs)]
        if rows:
            self.cur.executemany(self.q["upsert_search_attribute"], rows)

    def set_current_run(self, ns: str, wid: str, rid: str) -> None:
        """Make ``rid`` the latest run of ``wid`` (part of :meth:`insert_execution`)."""
        self._exec("set_current_run", ns=ns, wid=wid, rid=rid)

    def closed_runs(self, keys: Iterable[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
        """Those of the runs ``(namespace, workflow_id, run_id)`` that closed (or are gone)."""
        out = set()
        for ns, wid, rid in keys:
            e = self.get_execution(ns, wid, rid)
            if e is None or e.close_time is not None:
                out.add((ns, wid, rid))
        return out

    def update_execution(self, e: ExecutionRow, expected_next_event_id: int) -> None:
        cur = self._exec("update_execution", ns=e.namespace, wid=e.workflow_id, rid=e.run_id,
                        status=e.status, close_time=e.close_time,
                        next_event_id=e.next_event_id, state=e.state.encode(),
                        result=dumps_str(e.result) if e.result is not None else None,
                        expected=expected_next_event_id)
        if cur.rowcount != 1:
            raise ConflictError(f"workflow {e.workflow_id} changed concurrently")

    def save_execution(self, e: ExecutionRow, expected_next_event_id: int,
                       events: Sequence[StoredEvent]) -> None:
        """A state change of an existing run: its row (checked as :meth:`update_execution`
        does) and the events it appended. Two statements here; one where the backend can
        (PostgreSQL), since every change of a run does both."""
        self.update_execution(e, expected_next_event_id)
        self.insert_events(e.namespace, e.workflow_id, e.run_id, events)

    # -- events ----------------------------------------------------------------------------
    def insert_events(self, ns: str, wid: str, rid: str, events: Sequence[StoredEvent]) -> None:
        rows = [{"ns": ns, "wid": wid, "rid": rid, "event_id": ev.event_id, "data": ev.data}
                for ev in events]
        if rows:
            self.cur.executemany(self.q["insert_event"], rows)

    def buffer_event(self, ns: str, wid: str, rid: str, seq: int, event: BufferedEvent) -> None:
        self._exec("insert_buffered_event", ns=ns, wid=wid, rid=rid, seq=seq,
                  data=dumps_str(event))

    def take_buffered_events(self, ns: str, wid: str, rid: str) -> list[BufferedEvent]:
        """The inputs buffered while a workflow task was out, in arrival order; removed."""
        rows = self._all("buffered_events", ns=ns, wid=wid, rid=rid)
        self._exec("delete_buffered_events", ns=ns, wid=wid, rid=rid)
        return [BUFFERED.decode(r[0]) for r in rows]

    def events(self, ns: str, wid: str, rid: str, after: int = 0,
               limit: int | None = None) -> list[msgspec.Raw]:
        """The events after ``after`` (the first ``limit`` of them, if given), as the JSON
        text they were written as."""
        if limit is None:
            rows = self._all("get_events", ns=ns, wid=wid, rid=rid, after=after)
        else:
            rows = self._all("get_events_page", ns=ns, wid=wid, rid=rid, after=after,
                             limit=limit)
        return [msgspec.Raw(r[0]) for r in rows]

    def events_later(self, ns: str, wid: str, rid: str,
                     after: int = 0) -> Callable[[], list[msgspec.Raw]]:
        """:meth:`events`, read when the function returned is called. A backend that sends
        statements ahead (PostgreSQL's pipeline) sends the read now, so the histories of a
        claim's tasks arrive in one round trip; here they are read at once."""
        events = self.events(ns, wid, rid, after)
        return lambda: events

    # -- tasks -----------------------------------------------------------------------------
    def insert_task(self, *, ns: str, task_queue: str, kind: str, wid: str, rid: str, ref: str,
                    visible_at: float, payload: TaskData,
                    sticky_session: str | None = None, sticky_until: float | None = None) -> int:
        task_id: int = self._scalar("insert_task", ns=ns, task_queue=task_queue, kind=kind,
                                   wid=wid, rid=rid, ref=ref, visible_at=visible_at,
                                   sticky_session=sticky_session, sticky_until=sticky_until,
                                   payload=encode(payload))
        return task_id

    def get_task(self, task_id: int) -> TaskRow | None:
        r = self._one("get_task", task_id=task_id)
        return _task(r) if r else None

    def get_task_by_ref(self, ns: str, wid: str, rid: str, kind: str, ref: str) -> TaskRow | None:
        r = self._one("get_task_by_ref", ns=ns, wid=wid, rid=rid, kind=kind, ref=ref)
        return _task(r) if r else None

    def tasks_of_run(self, ns: str, wid: str, rid: str) -> list[TaskRow]:
        return [_task(r) for r in self._all("tasks_of_run", ns=ns, wid=wid, rid=rid)]

    def claim_tasks(self, *, ns: str, task_queue: str, kind: str, session: str, now: float,
                    limit: int, request: int | None = None) -> list[TaskRow]:
        """Lease up to ``limit`` ready tasks to ``session``, earliest first (the server then
        applies rate limits to activities: :mod:`plait.server.admission`); ``request``: the
        worker's number of the request they answer (:attr:`TaskRow.lease_request`). None
        for a session that does not exist: a task leased to it would wait for the orphan
        sweep."""
        return self._claim(ns=ns, task_queue=task_queue, kind=kind, session=session, now=now,
                           limit=limit, request=request)

    def _claim(self, *, ns: str, task_queue: str, kind: str, session: str, now: float,
               limit: int, request: int | None) -> list[TaskRow]:
        rows = self._all("claim_tasks", ns=ns, task_queue=task_queue, kind=kind,
                        session=session, now=now, limit=limit, request=request)
        return sorted((_task(r) for r in rows), key=lambda t: (t.visible_at, t.task_id))

    def claim_task_by_id(self, task_id: int, session: str, now: float,
                         request: int | None = None) -> TaskRow | None:
        return self._claim_by_id(task_id, session, now, request)

    def _claim_by_id(self, task_id: int, session: str, now: float,
                     request: int | None) -> TaskRow | None:
        r = self._one("claim_task_by_id", task_id=task_id, session=session, now=now,
                      request=request)
        return _task(r) if r else None

    def claim_known_later(self, *, ns: str, task_queue: str, kind: str, session: str,
                          now: float, limit: int,
                          request: int | None) -> tuple[list[TaskRow], Callable[[], set[int]]]:
        """For a hand-off at the end of a change: the ready tasks of the queue that this
        transaction knows unleased under its own locks on their runs (at most ``limit``,
        earliest first), as leased to ``session``, and a function that says, once the
        transaction has committed, which of them the claim did lease (none, if the session
        was gone by then). A backend that sends statements ahead (PostgreSQL's pipeline)
        sends the claim with COMMIT, so the change waits for no answer of its own; here
        (nothing known) there is nothing to claim: the caller claims as a poll does."""
        return [], _nothing

    def next_visible(self, ns: str, task_queue: str, kind: str, session: str) -> float | None:
        v: float | None = self._scalar("next_visible", ns=ns, task_queue=task_queue, kind=kind,
                                      session=session)
        return v

    def next_visible_later(self, ns: str, task_queue: str, kind: str,
                           session: str) -> Callable[[], float | None]:
        """:meth:`next_visible`, for a poll whose claim may find nothing: read when the
        function returned is called, here only then. A backend that sends statements ahead
        (PostgreSQL's pipeline) asks before the claim, so that an empty poll's claim and its
        next visible time share one round trip. A claim that found nothing changed nothing,
        so asking before it gives what asking after it would."""
        return lambda: self.next_visible(ns, task_queue, kind, session)

    def release_task(self, task_id: int, visible_at: float, payload: TaskData) -> None:
        self._exec("release_task", task_id=task_id, visible_at=visible_at,
                  payload=encode(payload))

    def update_task_payload(self, task_id: int, payload: TaskData) -> None:
        self._exec("update_task_payload", task_id=task_id, payload=encode(payload))

    def delete_task(self, task_id: int) -> None:
        self._exec("delete_task", task_id=task_id)

    def hand_task_over(self, task_id: int, session: str) -> None:
        """Lease the task to ``session`` for good (an attempt to be completed from outside)."""
        self._exec("set_task_lease", task_id=task_id, session=session)

    def any_task_busy(self, now: float) -> bool:
        """Whether some workflow or activity task is leased, or ready to be, at ``now``."""
        return bool(self._scalar("busy_tasks", now=now))

    def next_task_visible(self) -> float | None:
        """When the next unleased workflow or activity task becomes ready (a held one
        never does by itself)."""
        value = self._scalar("next_task_visible", held=HELD)
        return None if value is None else float(value)

    def leased_tasks(self, session: str) -> list[TaskRow]:
        return [_task(r) for r in self._all("leased_tasks_of_session", session=session)]

    def orphaned_tasks(self, async_lease: str) -> list[TaskRow]:
        """Tasks leased to a session that no longer exists (``async_lease``: the lease of
        attempts completed from outside, which no session holds)."""
        return [_task(r) for r in self._all("orphaned_tasks", async_lease=async_lease)]

    # -- timers ----------------------------------------------------------------------------
    def set_timer(self, ns: str, wid: str, rid: str, kind: str, ref: str, fire_at: float,
                  data: TimerData | None = None) -> None:
        self._exec("upsert_timer", ns=ns, wid=wid, rid=rid, kind=kind, ref=ref, fire_at=fire_at,
                  data=encode(data or TimerData()))

    def delete_timer(self, ns: str, wid: str, rid: str, kind: str, ref: str) -> None:
        self._exec("delete_timer", ns=ns, wid=wid, rid=rid, kind=kind, ref=ref)

    def get_timer(self, ns: str, wid: str, rid: str, kind: str, ref: str) -> TimerRow | None:
        r = self._one("get_timer", ns=ns, wid=wid, rid=rid, kind=kind, ref=ref)
        return _timer(r) if r else None

    def due_timers(self, now: float, limit: int) -> list[TimerRow]:
        return [_timer(r) for r in self._all("due_timers", now=now, limit=limit)]

    def claim_due_timers(self, now: float, limit: int) -> list[TimerRow]:
        """Due timers this transaction may fire. With one writer that is every due timer;
        a shared database hands each timer to one transaction at a time."""
        return self.due_timers(now, limit)

    def next_timer(self) -> float | None:
        v: float | None = self._scalar("next_timer")
        return v

    # -- closing and retention --------------------------------------------------------------
    def delete_run_work(self, ns: str, wid: str, rid: str, *, buffered: bool = False,
                        wanted: bool = True) -> list[TaskRow]:
        """Drop the workflow and activity tasks and the timers (and ``buffered`` inputs) of a
        run that has closed; the tasks dropped (none unless ``wanted``: on PostgreSQL the
        statement then waits for no answer). Pending queries stay: a closed run answers."""
        tasks: list[TaskRow] = []
        if wanted:
            tasks = [_task(r) for r in self._all("delete_work_tasks_of_run", ns=ns, wid=wid,
                                                 rid=rid)]
        else:
            self._exec("drop_work_tasks_of_run", ns=ns, wid=wid, rid=rid)
        self._exec("delete_timers_of_run", ns=ns, wid=wid, rid=rid)
        if buffered:
            self._exec("delete_buffered_events", ns=ns, wid=wid, rid=rid)
        return tasks

    def delete_run(self, ns: str, wid: str, rid: str) -> None:
        for name in ("delete_execution", "delete_events_of_run", "delete_attempts_of_run",
                     "delete_tasks_of_run", "delete_timers_of_run", "delete_buffered_events",
                     "delete_current_run_if", "delete_search_attributes_of_run"):
            self._exec(name, ns=ns, wid=wid, rid=rid)

    # -- list and count ----------------------------------------------------------------------
    def list_executions(self, ns: str, filters: ListFilter, limit: int,
                        after: tuple[float, str, str] | None) -> list[ExecutionRow]:
        """One page, newest first, after the ``(start_time, workflow_id, run_id)`` of the
        previous page's last row: one indexed query, whichever filters are given."""
        src, k, where, params = _filter_sql(ns, filters)
        if after is not None:
            where.append(f"({k}.start_time, {k}.workflow_id, {k}.run_id) < (:a_t, :a_w, :a_r)")
            params.update(a_t=after[0], a_w=after[1], a_r=after[2])
        params["limit"] = limit
        page = f"WHERE {' AND '.join(where)}{_ORDER.format(k=k)} LIMIT :limit"
        if k == "e":
            sql = f"SELECT {_ROW} FROM {src} {page}"
        else:
            # The page's keys first, then their rows: joined in one go, PostgreSQL
            # underestimates the (workflow_id, run_id) join and hashes every match.
            sql = (f"SELECT {_ROW} FROM (SELECT {k}.workflow_id, {k}.run_id, {k}.start_time "
                   f"FROM {src} {page}) k JOIN executions e ON e.namespace = :ns "
                   "AND e.workflow_id = k.workflow_id AND e.run_id = k.run_id"
                   + _ORDER.format(k="k"))
        self.cur.execute(self._style(sql), params)
        return [_execution(ns, r) for r in self.cur.fetchall()]

    def count_executions(self, ns: str, filters: ListFilter) -> int:
        src, _, where, params = _filter_sql(ns, filters)
        self.cur.execute(self._style(f"SELECT COUNT(*) FROM {src} WHERE "
                                     + " AND ".join(where)), params)
        return int(self.cur.fetchone()[0])

    def count_executions_by_status(self, ns: str, filters: ListFilter) -> dict[str, int]:
        """How many runs match ``filters``, per status (statuses with none are absent): one
        query grouping by status, where counting each status alone would read the matching
        runs once per status."""
        src, k, where, params = _filter_sql(ns, filters)
        status = "e.status" if k == "e" else _PROBE_VALUE.format(col="status",
                                                                 table="executions", name="")
        self.cur.execute(self._style(f"SELECT {status} AS st, COUNT(*) FROM {src} WHERE "
                                     + " AND ".join(where) + " GROUP BY st"), params)
        return {str(st): int(n) for st, n in self.cur.fetchall() if st is not None}

    def _style(self, sql: str) -> str:
        return sql


_ROW = ("e.workflow_id, e.run_id, e.workflow_type, e.task_queue, e.status, e.start_time, "
        "e.close_time, e.next_event_id, e.state, e.result, e.search_attributes, e.memo")
_ORDER = " ORDER BY {k}.start_time DESC, {k}.workflow_id DESC, {k}.run_id DESC"
_PROBE_VALUE = ("(SELECT p.{col} FROM {table} p WHERE p.namespace = s0.namespace "
                "AND p.workflow_id = s0.workflow_id AND p.run_id = s0.run_id{name})")
_PROBE = _PROBE_VALUE + " = :{param}"


def _filter_sql(ns: str, f: ListFilter) -> tuple[str, str, list[str], Params]:
    """FROM, the alias whose (start_time, workflow_id, run_id) orders the list, and WHERE.

    Built from fixed fragments only; user values travel as parameters. With search
    attributes, the first one's index range is read in list order and every other filter
    is a primary-key probe of that run (a scalar subquery, which planners do not turn into
    a join): a page costs one index range, however many runs match.
    """
    attrs = f.search_attributes
    params: Params = {"ns": ns}
    if not attrs:
        src, k, where = "executions e", "e", ["e.namespace = :ns"]
        columns = "e.{col} = :{param}"
    else:
        src, k = "search_attributes s0", "s0"
        where = ["s0.namespace = :ns AND s0.name = :n0 AND s0.value = :v0"]
        for i, (name, value) in enumerate(attrs.items()):
            params[f"n{i}"], params[f"v{i}"] = index_key(name), index_value(value)
            if i:
                where.append(_PROBE.format(col="value", table="search_attributes",
                                           name=f" AND p.name = :n{i}", param=f"v{i}"))
        columns = _PROBE.replace("{table}", "executions").replace("{name}", "")
    for value, col, param in ((f.workflow_type, "workflow_type", "wt"),
                              (f.status, "status", "st")):
        if value:
            where.append(columns.format(col=col, param=param))
            params[param] = value
    if f.started_after is not None:
        where.append(f"{k}.start_time >= :sa")
        params["sa"] = f.started_after
    if f.started_before is not None:
        where.append(f"{k}.start_time < :sb")
        params["sb"] = f.started_before
    return src, k, where, params


class Store(abc.ABC):
    """Async front of a database: runs synchronous transaction functions off the event loop."""

    @abc.abstractmethod
    async def write(self, fn: Callable[[Txn], T], *, task: int | None = None) -> T:
        """Run ``fn`` in a write transaction; return once the commit is durable. ``task``:
        the task the change acts on first, when the caller knows it (a completion's): a
        store that runs changes together may lock its run ahead (PostgreSQL)."""

    @abc.abstractmethod
    async def read(self, fn: Callable[[Txn], T]) -> T:
        """Run ``fn`` against a consistent snapshot."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def healthy(self) -> bool: ...

    shared = False
    """True when several servers may use the database at once (PostgreSQL): wake-ups must
    then travel between servers through :meth:`publish` and :meth:`listen`."""

    def sees_every_commit(self) -> bool:
        """Whether every commit to the database is, right now, this server's own, so that
        its own wake-ups are all there are: an empty claim then stays empty until one
        (:mod:`plait.server.matching`). A database of its own always is."""
        return not self.shared

    def listing_version(self, ns: str) -> str | None:
        """A token that changes whenever a list or count of ``ns``'s runs could answer
        differently (a run started, closed, deleted, or had its search attributes changed),
        or None when this store cannot know: another server may change a shared database
        without this process seeing it. A conditional list (``If-None-Match``) is answered
        from it without reading the database. The token may also change when nothing shown
        did; it never stays the same when something did."""
        return None

    def listen(self, on_message: Callable[[str | None], None]) -> None:
        """Call ``on_message`` (on the calling event loop) with every message other servers
        publish, and with ``None`` when messages may have been lost (a reconnect). Only a
        shared store has anything to deliver."""
        return None

    def publish(self, messages: Sequence[str]) -> None:
        """Send messages to every listening server, soon after the commit that caused them;
        best effort (they are hints: the database stays the truth)."""
        return None
