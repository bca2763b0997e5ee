"""Every operation of the store's transaction object, on every backend."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from plait.protocol.common import RetryPolicy
from plait.protocol.jsoncodec import dumps_str
from plait.store.attempts import AttemptRow
from plait.store.base import ConflictError, ExecutionRow, Store, Txn
from plait.store.history import BufferedEvent, StoredEvent
from plait.store.run_state import RunState
from plait.store.search_index import ListFilter
from plait.store.sessions import SessionInfo, SessionRow
from plait.store.task_data import (
    ActivityOptions,
    ActivityTaskData,
    QueryAnswer,
    QueryTaskData,
    TaskData,
    TimerData,
    WorkflowTaskData,
)

NS = "ns"


def execution(wid: str = "w", rid: str = "r1", **over: Any) -> ExecutionRow:
    row = ExecutionRow(NS, wid, rid, "Order", "q", "RUNNING", 100.0, None, 1, RunState(),
                       None, {"tier": "gold"}, {"note": "x"})
    for k, v in over.items():
        setattr(row, k, v)
    return row


def activity_data(activity_type: str = "charge", **over: Any) -> ActivityTaskData:
    """An activity task's payload as the server writes it when the activity is scheduled."""
    data = ActivityTaskData(
        activity_type=activity_type, input=[{"encoding": "json", "data": activity_type}],
        attempt=1, scheduled_event_id=5, scheduled_time=100.0,
        options=ActivityOptions(start_to_close_timeout=10.0,
                                retry_policy=RetryPolicy(maximum_attempts=3)),
        workflow_type="Order", header={"trace": "t-1"})
    return msgspec.structs.replace(data, **over)


def task_data(kind: str, ref: str) -> TaskData:
    """A payload of the shape the row's kind says, telling ``ref``'s task apart."""
    if kind == "activity":
        return activity_data(ref)
    if kind == "query":
        return QueryTaskData(query_name=ref, input=[], workflow_type="Order", expires_at=1e12)
    return WorkflowTaskData(attempt=1 + len(ref), timeout=7.5)


def add_task(t: Txn, *, ref: str = "wt", kind: str = "workflow", wid: str = "w",
             rid: str = "r1", queue: str = "q", visible_at: float = 0.0,
             sticky: str | None = None, sticky_until: float | None = None) -> int:
    return t.insert_task(ns=NS, task_queue=queue, kind=kind, wid=wid, rid=rid, ref=ref,
                         visible_at=visible_at, payload=task_data(kind, ref),
                         sticky_session=sticky, sticky_until=sticky_until)


def add_sessions(t: Txn, *sessions: str) -> None:
    """Worker sessions to claim for: a claim leases nothing to a session that is gone."""
    for session in sessions:
        t.upsert_session(session, NS, "q", "me", SessionInfo(task_queue="q", identity="me"),
                         expires_at=1e12)


def stored(event: dict[str, Any]) -> StoredEvent:
    return StoredEvent(event["event_id"], dumps_str(event))


def decoded(events: list[msgspec.Raw]) -> list[Any]:
    return [msgspec.json.decode(e) for e in events]


async def test_executions_insert_get_update_and_current_run(store: Store) -> None:
    await store.write(lambda t: t.insert_execution(execution()))
    row = await store.read(lambda t: t.get_execution(NS, "w", "r1"))
    assert row == execution()
    assert await store.read(lambda t: t.current_run(NS, "w")) == "r1"
    assert await store.read(lambda t: t.get_execution(NS, "w", "nope")) is None
    assert await store.read(lambda t: t.current_run(NS, "nope")) is None

    def close(t: Txn) -> None:
        e = t.get_execution(NS, "w", "r1")
        assert e is not None
        e.status, e.close_time, e.next_event_id = "COMPLETED", 200.0, 5
        e.state.cancel_requested, e.result = True, {"status": "COMPLETED", "result": 3}
        t.update_execution(e, 1)
    await store.write(close)
    row = await store.read(lambda t: t.get_execution(NS, "w", "r1"))
    assert row is not None and row.status == "COMPLETED" and row.close_time == 200.0
    assert row.next_event_id == 5 and row.state == RunState(cancel_requested=True)
    assert row.result == {"status": "COMPLETED", "result": 3}

    # A second run becomes the current one.
    await store.write(lambda t: t.insert_execution(execution(rid="r2")))
    assert await store.read(lambda t: t.current_run(NS, "w")) == "r2"


async def test_update_with_a_stale_next_event_id_conflicts(store: Store) -> None:
    await store.write(lambda t: t.insert_execution(execution()))

    def stale(t: Txn) -> None:
        e = t.get_execution(NS, "w", "r1")
        assert e is not None
        e.next_event_id = 9
        t.update_execution(e, 7)  # someone else moved it on
    with pytest.raises(ConflictError):
        await store.write(stale)
    row = await store.read(lambda t: t.get_execution(NS, "w", "r1"))
    assert row is not None and row.next_event_id == 1


async def test_save_execution_writes_the_row_and_its_events_or_neither(store: Store) -> None:
    """One statement on PostgreSQL (a CTE): the events go in only if the row's check passed."""
    await store.write(lambda t: t.insert_execution(execution()))
    two = [StoredEvent(1, '{"a":1}'), StoredEvent(2, '{"b":2}')]

    def save(t: Txn) -> None:
        e = t.get_execution(NS, "w", "r1")
        assert e is not None
        e.next_event_id, e.status = 3, "COMPLETED"
        t.save_execution(e, 1, two)
    await store.write(save)
    row = await store.read(lambda t: t.get_execution(NS, "w", "r1"))
    assert row is not None and (row.next_event_id, row.status) == (3, "COMPLETED")
    stored = await store.read(lambda t: t.events(NS, "w", "r1"))
    assert [bytes(e).decode() for e in stored] == ['{"a":1}', '{"b":2}']

    def stale(t: Txn) -> int:
        e = t.get_execution(NS, "w", "r1")
        assert e is not None
        e.next_event_id = 5
        with pytest.raises(ConflictError), t.savepoint():
            t.save_execution(e, 1, [StoredEvent(3, "{}"), StoredEvent(4, "{}")])
        return len(t.events(NS, "w", "r1"))
    assert await store.write(stale) == 2
    row = await store.read(lambda t: t.get_execution(NS, "w", "r1"))
    assert row is not None and row.next_event_id == 3


async def test_closed_runs(store: Store) -> None:
    await store.write(lambda t: t.insert_execution(execution()))
    await store.write(lambda t: t.insert_execution(execution(wid="w2", close_time=5.0)))

    def close_w2(t: Txn) -> None:
        e = t.get_execution(NS, "w2", "r1")
        assert e is not None
        e.close_time, e.status = 5.0, "COMPLETED"
        t.update_execution(e, 1)
    await store.write(close_w2)
    keys = [(NS, "w", "r1"), (NS, "w2", "r1"), (NS, "gone", "r1")]
    assert await store.read(lambda t: t.closed_runs(keys)) == {(NS, "w2", "r1"),
                                                               (NS, "gone", "r1")}
    assert await store.read(lambda t: t.closed_runs([])) == set()


async def test_events_in_order_after_a_point(store: Store) -> None:
    await store.write(lambda t: t.insert_execution(execution()))
    # Text that needs escaping in some encoding or other: quotes, backslashes, braces and
    # commas (an array literal's), a control character (PostgreSQL's statements split the
    # events' texts on chr(30), which JSON holds only escaped).
    tricky = 'a "quoted" \\ back\\slash, {braces} \x1e\n ""'
    evs = [{"event_id": i, "event_type": "X", "attributes": {"i": i, "s": "é", "t": tricky}}
           for i in range(1, 6)]
    rows = [stored(ev) for ev in evs]
    await store.write(lambda t: t.insert_events(NS, "w", "r1", rows[:1]))  # one, then many
    await store.write(lambda t: t.insert_events(NS, "w", "r1", rows[1:]))
    await store.write(lambda t: t.insert_events(NS, "w", "r1", []))
    got = await store.read(lambda t: t.events(NS, "w", "r1"))
    assert decoded(got) == evs
    # Handed back as the very text that was written (workers get it without a re-encode).
    assert [bytes(e).decode() for e in got] == [r.data for r in rows]
    assert decoded(await store.read(lambda t: t.events(NS, "w", "r1", 3))) == evs[3:]
    assert await store.read(lambda t: t.events(NS, "w", "r2")) == []


async def test_tasks_insert_get_release_delete(store: Store) -> None:
    await store.write(lambda t: t.insert_execution(execution()))
    a = await store.write(lambda t: add_task(t, ref="wt", visible_at=1.0))
    b = await store.write(lambda t: add_task(t, ref="act-1", kind="activity", visible_at=2.0))
    assert b > a
    task = await store.read(lambda t: t.get_task(a))
    assert task is not None and (task.kind, task.ref, task.visible_at) == ("workflow", "wt", 1.0)
    assert (task.lease_session, task.dispatch_no, task.dispatched_at) == (None, 0, None)
    assert task.payload == task_data("workflow", "wt") and task.workflow.attempt == 3
    with pytest.raises(TypeError):
        task.activity  # noqa: B018 - the kind says which shape the payload has
    by_ref = await store.read(lambda t: t.get_task_by_ref(NS, "w", "r1", "activity", "act-1"))
    assert by_ref is not None and by_ref.task_id == b
    assert await store.read(lambda t: t.get_task_by_ref(NS, "w", "r1", "activity", "x")) is None
    assert [t.task_id for t in await store.read(lambda t: t.tasks_of_run(NS, "w", "r1"))] == [a, b]

    scheduled = await store.read(lambda t: t.get_task(b))
    assert scheduled is not None and scheduled.activity == activity_data("act-1")
    second = activity_data("act-1", attempt=2, heartbeat_details=[{"encoding": "json",
                                                                   "data": 40}],
                           last_failure={"message": "boom", "type": "ValueError"})
    await store.write(lambda t: t.update_task_payload(b, second))
    claimed = await store.write(lambda t: t.claim_task_by_id(b, "s1", 5.0))
    assert claimed is not None and claimed.lease_session == "s1" and claimed.dispatch_no == 1
    assert claimed.dispatched_at == 5.0 and claimed.payload == second
    assert await store.write(lambda t: t.claim_task_by_id(b, "s2", 6.0)) is None  # leased
    assert [t.task_id for t in await store.read(lambda t: t.leased_tasks("s1"))] == [b]

    third = activity_data("act-1", attempt=3, rate_limit_key="acme", rate_limited_until=9.0,
                          cancel_requested=True)
    await store.write(lambda t: t.release_task(b, 9.0, third))
    released = await store.read(lambda t: t.get_task(b))
    assert released is not None and released.lease_session is None
    assert (released.visible_at, released.payload, released.dispatch_no) == (9.0, third, 1)
    assert await store.read(lambda t: t.leased_tasks("s1")) == []

    await store.write(lambda t: t.delete_task(a))
    assert await store.read(lambda t: t.get_task(a)) is None


async def test_each_kind_of_task_keeps_its_payload_shape(store: Store) -> None:
    """The row's kind says how its payload is read; each shape round-trips whole."""
    await store.write(lambda t: t.insert_execution(execution()))
    payloads: dict[str, TaskData] = {
        "workflow": WorkflowTaskData(attempt=4, timeout=2.5),
        "activity": activity_data("ship", attempt=2, rate_limit_key="k",
                                  last_failure={"message": "late", "type": "Timeout"}),
        "query": QueryTaskData(query_name="status", input=[{"encoding": "json", "data": 1}],
                               workflow_type="Order", expires_at=120.0,
                               answer=QueryAnswer(result={"encoding": "json", "data": "ok"}))}
    ids = {}
    for kind, payload in payloads.items():
        ids[kind] = await store.write(lambda t, kind=kind, payload=payload: t.insert_task(
            ns=NS, task_queue="q", kind=kind, wid="w", rid="r1", ref=kind, visible_at=0.0,
            payload=payload))
    rows = {kind: await store.read(lambda t, i=i: t.get_task(i)) for kind, i in ids.items()}
    assert {kind: row.payload for kind, row in rows.items() if row} == payloads
    wt, act, query = rows["workflow"], rows["activity"], rows["query"]
    assert wt is not None and act is not None and query is not None
    assert (wt.workflow, act.activity, query.query) == (
        payloads["workflow"], payloads["activity"], payloads["query"])
    for row, wrong in ((wt, "query"), (act, "workflow"), (query, "activity")):
        with pytest.raises(TypeError, match="not a"):
            getattr(row, wrong)


async def test_claim_respects_visibility_queue_kind_limit_and_order(store: Store) -> None:
    await store.write(lambda t: (t.insert_execution(execution()), add_sessions(t, "s")))
    ids = []
    for i, at in enumerate([3.0, 1.0, 2.0, 50.0]):
        ids.append(await store.write(lambda t, i=i, at=at: add_task(
            t, ref=f"a{i}", kind="activity", visible_at=at)))
    await store.write(lambda t: add_task(t, ref="other", kind="activity", queue="q2"))
    await store.write(lambda t: add_task(t, ref="wt", kind="workflow"))

    def claim(limit: int, now: float = 10.0) -> Any:
        return lambda t: t.claim_tasks(ns=NS, task_queue="q", kind="activity", session="s",
                                       now=now, limit=limit)
    got = await store.write(claim(2))
    assert [t.ref for t in got] == ["a1", "a2"]  # earliest visible first
    assert all(t.lease_session == "s" and t.dispatch_no == 1 and t.dispatched_at == 10.0
               for t in got)
    assert [t.ref for t in await store.write(claim(10))] == ["a0"]  # a3 is not visible yet
    assert await store.write(claim(10)) == []
    nxt = await store.read(lambda t: t.next_visible(NS, "q", "activity", "s"))
    assert nxt == 50.0
    assert [t.ref for t in await store.write(claim(10, now=60.0))] == ["a3"]
    assert await store.read(lambda t: t.next_visible(NS, "q", "activity", "s")) is None


async def test_a_claim_leases_nothing_to_a_session_that_is_gone(store: Store) -> None:
    """Or the task would wait for the orphan sweep: the server's claim checks the session
    in the same round trip, and this is what makes that safe."""
    await store.write(lambda t: (t.insert_execution(execution()), add_sessions(t, "s", "x")))
    await store.write(lambda t: (add_task(t, kind="activity", ref="a"), t.delete_session("x")))

    def claim(session: str) -> Any:
        return lambda t: t.claim_tasks(ns=NS, task_queue="q", kind="activity",
                                       session=session, now=10.0, limit=5)
    assert await store.write(claim("x")) == []
    assert await store.write(claim("never")) == []
    assert [t.ref for t in await store.write(claim("s"))] == ["a"]


async def test_sticky_tasks_wait_for_their_session_then_go_to_anyone(store: Store) -> None:
    await store.write(lambda t: (t.insert_execution(execution()), add_sessions(t, "home", "away")))
    await store.write(lambda t: add_task(t, visible_at=1.0, sticky="home", sticky_until=4.0))

    def claim(session: str, now: float) -> Any:
        return lambda t: t.claim_tasks(ns=NS, task_queue="q", kind="workflow",
                                       session=session, now=now, limit=5)
    assert await store.write(claim("away", 2.0)) == []
    assert await store.read(lambda t: t.next_visible(NS, "q", "workflow", "away")) == 4.0
    assert await store.read(lambda t: t.next_visible(NS, "q", "workflow", "home")) == 1.0
    assert len(await store.write(claim("away", 4.0))) == 1  # the sticky window passed


async def test_clear_sticky_hands_tasks_to_anyone(store: Store) -> None:
    await store.write(lambda t: (t.insert_execution(execution()), add_sessions(t, "away")))
    await store.write(lambda t: add_task(t, visible_at=1.0, sticky="home", sticky_until=99.0))
    freed = await store.write(lambda t: t.clear_sticky("home"))
    assert freed == {(NS, "q", "workflow")}  # the queues to wake
    got = await store.write(lambda t: t.claim_tasks(ns=NS, task_queue="q", kind="workflow",
                                                    session="away", now=2.0, limit=5))
    assert len(got) == 1


async def test_timers_upsert_get_due_claim_next_delete(store: Store) -> None:
    await store.write(lambda t: t.insert_execution(execution()))
    assert await store.read(lambda t: t.next_timer()) is None
    await store.write(lambda t: t.set_timer(NS, "w", "r1", "user", "t1", 30.0,
                                            TimerData(attempt=1)))
    await store.write(lambda t: t.set_timer(NS, "w", "r1", "user", "t2", 10.0))
    await store.write(lambda t: t.set_timer(NS, "w", "r1", "user", "t1", 20.0,
                                            TimerData(started_event_id=7)))
    tm = await store.read(lambda t: t.get_timer(NS, "w", "r1", "user", "t1"))
    assert tm is not None and (tm.fire_at, tm.data) == (20.0, TimerData(started_event_id=7))
    assert await store.read(lambda t: t.get_timer(NS, "w", "r1", "user", "zz")) is None
    assert await store.read(lambda t: t.next_timer()) == 10.0
    due = await store.read(lambda t: t.due_timers(25.0, 10))
    assert [(d.ref, d.fire_at) for d in due] == [("t2", 10.0), ("t1", 20.0)]
    assert [d.ref for d in await store.read(lambda t: t.due_timers(25.0, 1))] == ["t2"]
    claimed = await store.write(lambda t: t.claim_due_timers(15.0, 10))
    assert [(d.ref, d.kind, d.data) for d in claimed] == [("t2", "user", TimerData())]
    await store.write(lambda t: t.delete_timer(NS, "w", "r1", "user", "t2"))
    assert await store.read(lambda t: t.next_timer()) == 20.0


async def test_closing_a_run_drops_its_work_and_retention_drops_the_rest(store: Store) -> None:
    await store.write(lambda t: t.insert_execution(execution()))
    await store.write(lambda t: t.insert_execution(execution(wid="keep")))
    for wid in ("w", "keep"):
        await store.write(lambda t, wid=wid: add_task(t, wid=wid))
        await store.write(lambda t, wid=wid: t.set_timer(NS, wid, "r1", "user", "t", 5.0))
        await store.write(lambda t, wid=wid: t.insert_events(
            NS, wid, "r1", [stored({"event_id": 1, "event_type": "X"})]))
        await store.write(lambda t, wid=wid: t.open_attempt(
            NS, wid, "r1", "a", 1, "A", started_at=1.0, worker="s"))
    await store.write(lambda t: t.delete_run_work(NS, "w", "r1"))
    assert await store.read(lambda t: t.tasks_of_run(NS, "w", "r1")) == []
    assert await store.read(lambda t: t.get_timer(NS, "w", "r1", "user", "t")) is None
    assert len(await store.read(lambda t: t.events(NS, "w", "r1"))) == 1

    def close(t: Txn) -> None:
        e = t.get_execution(NS, "w", "r1")
        assert e is not None
        e.status, e.close_time = "COMPLETED", 10.0
        t.update_execution(e, 1)
    await store.write(close)
    await store.write(lambda t: t.ensure_namespace(NS, 5.0))
    await store.write(lambda t: t.ensure_namespace(NS, 99.0))  # kept
    assert await store.read(lambda t: t.expired_runs(14.0)) == []
    assert await store.read(lambda t: t.expired_runs(16.0)) == [(NS, "w", "r1")]
    await store.write(lambda t: t.delete_run(NS, "w", "r1"))
    assert await store.read(lambda t: t.get_execution(NS, "w", "r1")) is None
    assert await store.read(lambda t: t.current_run(NS, "w")) is None
    assert await store.read(lambda t: t.events(NS, "w", "r1")) == []
    assert await store.read(lambda t: t.attempts_of_run(NS, "w", "r1")) == []
    # The other run is untouched.
    assert await store.read(lambda t: t.get_timer(NS, "keep", "r1", "user", "t")) is not None
    assert len(await store.read(lambda t: t.tasks_of_run(NS, "keep", "r1"))) == 1
    assert len(await store.read(lambda t: t.attempts_of_run(NS, "keep", "r1"))) == 1


async def test_buffered_events_come_back_in_order_once(store: Store) -> None:
    await store.write(lambda t: t.insert_execution(execution()))
    await store.write(lambda t: t.insert_execution(execution(wid="other")))
    def signal(n: int) -> BufferedEvent:
        return BufferedEvent("WORKFLOW_EXECUTION_SIGNALED",
                             {"signal_name": "go", "input": [{"encoding": "json", "data": n}]},
                             ts=10.0 + n)
    for seq in (1, 2, 3):
        await store.write(lambda t, seq=seq: t.buffer_event(NS, "w", "r1", seq, signal(seq)))
    await store.write(lambda t: t.buffer_event(NS, "other", "r1", 1, signal(9)))
    assert await store.write(lambda t: t.take_buffered_events(NS, "w", "r1")) == [
        signal(1), signal(2), signal(3)]
    assert await store.write(lambda t: t.take_buffered_events(NS, "w", "r1")) == []
    await store.write(lambda t: t.delete_run_work(NS, "other", "r1", buffered=True))
    assert await store.write(lambda t: t.take_buffered_events(NS, "other", "r1")) == []


async def test_attempt_log(store: Store) -> None:
    await store.write(lambda t: t.insert_execution(execution()))
    key = (NS, "w", "r1", "a")

    def end(attempt: int, ended_at: float, outcome: str, failure: Any) -> Any:
        return lambda t: t.end_attempt(*key, attempt, "A", started_at=1.5, worker="s9",
                                       ended_at=ended_at, outcome=outcome, failure=failure)
    # An attempt handed over for async completion has an open row (re-dispatch: upsert) ...
    await store.write(lambda t: t.open_attempt(*key, 1, "A", started_at=1.0, worker="s1"))
    await store.write(lambda t: t.open_attempt(*key, 1, "A", started_at=2.0, worker="s2"))
    # ... which its end closes, keeping who started it and when.
    failure = {"message": "card declined", "type": "PaymentError", "non_retryable": False}
    await store.write(end(1, 3.0, "failed", failure))
    await store.write(end(1, 4.0, "completed", None))  # ended already: ignored
    # Any other attempt's row is written whole when it ends.
    await store.write(end(2, 5.0, "completed", None))
    rows = await store.read(lambda t: t.attempts_of_run(NS, "w", "r1"))
    assert rows == [AttemptRow("a", 2, "A", 1.5, 5.0, "completed", None, "s9"),
                    AttemptRow("a", 1, "A", 2.0, 3.0, "failed", failure, "s2")]


async def test_sessions(store: Store) -> None:
    info = SessionInfo(task_queue="q", identity="me", workflow_types=["Order"],
                       activity_types=["charge", "refund"])

    def open_(sid: str, expires: float) -> Any:
        return lambda t: t.upsert_session(sid, NS, "q", "me", info, expires_at=expires)
    await store.write(open_("s1", 10.0))
    await store.write(open_("s2", 20.0))
    row = await store.read(lambda t: t.get_session("s1"))
    assert row == SessionRow("s1", NS, "q", "me", info, 10.0)
    assert await store.read(lambda t: t.next_session_expiry()) == 10.0
    assert await store.write(lambda t: t.renew_session("s1", 30.0))
    assert not await store.write(lambda t: t.renew_session("nobody", 30.0))
    assert await store.write(lambda t: t.expired_sessions(25.0)) == ["s2"]
    await store.write(lambda t: t.shorten_session("s1", 50.0))  # never later
    assert await store.read(lambda t: t.next_session_expiry()) == 20.0
    await store.write(lambda t: t.extend_all_sessions(40.0))
    assert await store.read(lambda t: t.next_session_expiry()) == 40.0
    assert sorted(await store.write(lambda t: t.reset_session_leases(35.0))) == ["s1", "s2"]
    assert await store.read(lambda t: t.next_session_expiry()) == 35.0
    await store.write(lambda t: t.shorten_session("s1", 12.0))
    assert await store.read(lambda t: t.next_session_expiry()) == 12.0
    await store.write(lambda t: t.delete_session("s1"))
    assert await store.read(lambda t: t.get_session("s1")) is None


async def test_requests_and_namespaces(store: Store) -> None:
    assert await store.read(lambda t: t.stored_response(NS, "r")) == (False, None)
    await store.write(lambda t: t.store_response(NS, "r", {"run_id": "x"}, 5.0))
    assert await store.read(lambda t: t.stored_response(NS, "r")) == (True, {"run_id": "x"})
    await store.write(lambda t: t.store_response(NS, "null", None, 5.0))
    assert await store.read(lambda t: t.stored_response(NS, "null")) == (True, None)
    await store.write(lambda t: t.delete_requests_before(6.0))
    assert await store.read(lambda t: t.stored_response(NS, "r")) == (False, None)
    assert await store.read(lambda t: t.namespace_retention(NS)) is None
    await store.write(lambda t: t.ensure_namespace(NS, 7.0))
    assert await store.read(lambda t: t.namespace_retention(NS)) == 7.0


async def test_list_and_count_with_filters_and_pages(store: Store) -> None:
    for i in range(7):
        row = execution(wid=f"w{i}", start_time=float(i), workflow_type="A" if i % 2 else "B",
                        status="COMPLETED" if i < 3 else "RUNNING")
        await store.write(lambda t, row=row: t.insert_execution(row))
    await store.write(lambda t: t.insert_execution(_other_ns()))
    assert await store.read(lambda t: t.count_executions(NS, ListFilter())) == 7
    assert await store.read(lambda t: t.count_executions(NS, ListFilter(workflow_type="A"))) == 3
    assert await store.read(lambda t: t.count_executions(NS, ListFilter(
        status="RUNNING", started_before=5.0))) == 2
    assert await store.read(lambda t: t.count_executions(NS, ListFilter(started_after=4.0))) == 3
    page1 = await store.read(lambda t: t.list_executions(NS, ListFilter(), 3, None))
    assert [r.workflow_id for r in page1] == ["w6", "w5", "w4"]
    last = page1[-1]
    page2 = await store.read(lambda t: t.list_executions(
        NS, ListFilter(), 3, (last.start_time, last.workflow_id, last.run_id)))
    assert [r.workflow_id for r in page2] == ["w3", "w2", "w1"]
    typed = await store.read(lambda t: t.list_executions(
        NS, ListFilter(workflow_type="B"), 10, None))
    assert [r.workflow_id for r in typed] == ["w6", "w4", "w2", "w0"]


def _other_ns() -> ExecutionRow:
    row = execution(wid="elsewhere")
    row.namespace = "other"
    return row


async def test_a_savepoint_rolls_back_alone(store: Store) -> None:
    def op(t: Txn) -> None:
        t.store_response(NS, "kept", {}, 1.0)
        with pytest.raises(RuntimeError), t.savepoint():
            t.store_response(NS, "dropped", {}, 1.0)
            raise RuntimeError("boom")
        with t.savepoint():
            t.store_response(NS, "also-kept", {}, 1.0)
    await store.write(op)
    ids = await store.read(lambda t: [r[0] for r in t.cur.execute(
        "SELECT request_id FROM requests ORDER BY request_id").fetchall()])
    assert ids == ["also-kept", "kept"]


async def test_a_failing_write_changes_nothing(store: Store) -> None:
    def op(t: Txn) -> None:
        t.insert_execution(execution())
        raise ValueError("refused")
    with pytest.raises(ValueError):
        await store.write(op)
    assert await store.read(lambda t: t.get_execution(NS, "w", "r1")) is None
    assert await store.healthy()


async def test_reads_in_a_transaction_see_its_own_writes(store: Store) -> None:
    """What a write transaction reads reflects everything it wrote before (backends may keep
    or defer rows within a transaction; they must not show stale ones)."""
    await store.write(lambda t: t.insert_execution(execution()))

    def op(t: Txn) -> None:
        e = t.get_execution(NS, "w", "r1")
        assert e is not None
        e.next_event_id, e.state.upto = 4, 1
        t.update_execution(e, 1)
        again = t.get_execution(NS, "w", "r1")
        assert again is not None and again.next_event_id == 4 and again.state.upto == 1
        again.state.upto = 2  # a caller's change to its copy is not the stored row
        third = t.get_execution(NS, "w", "r1")
        assert third is not None and third.state.upto == 1

        t.set_timer(NS, "w", "r1", "user", "a", 5.0)
        t.delete_timer(NS, "w", "r1", "user", "a")
        assert t.get_timer(NS, "w", "r1", "user", "a") is None
        t.set_timer(NS, "w", "r1", "user", "a", 6.0)  # deleted, then set again: it exists
        tm = t.get_timer(NS, "w", "r1", "user", "a")
        assert tm is not None and tm.fire_at == 6.0
        t.set_timer(NS, "w", "r1", "user", "b", 1.0)
        t.delete_timer(NS, "w", "r1", "user", "b")
        assert [x.ref for x in t.due_timers(10.0, 10)] == ["a"]
        assert t.next_timer() == 6.0

        task_id = add_task(t, kind="activity", ref="act")
        task = t.get_task(task_id)
        assert task is not None and task.lease_session is None
        assert task.payload == activity_data("act")
        task.activity.activity_type = "changed"  # not the stored row either
        task.activity.input.append({"encoding": "json", "data": "changed"})
        claimed = t.claim_task_by_id(task_id, "s", 1.0)
        assert claimed is not None and claimed.dispatch_no == 1
        now = t.get_task(task_id)
        assert now is not None and now.lease_session == "s"
        assert now.payload == activity_data("act")
        t.hand_task_over(task_id, "other")
        now = t.get_task(task_id)
        assert now is not None and now.lease_session == "other"
        t.release_task(task_id, 3.0, activity_data("act", attempt=2))
        now = t.get_task(task_id)
        assert now is not None and now.lease_session is None
        assert now.payload == activity_data("act", attempt=2)
        t.delete_task(task_id)
        assert t.get_task(task_id) is None
        assert t.tasks_of_run(NS, "w", "r1") == []
    await store.write(op)
    assert await store.read(lambda t: t.get_timer(NS, "w", "r1", "user", "b")) is None
    tm = await store.read(lambda t: t.get_timer(NS, "w", "r1", "user", "a"))
    assert tm is not None and tm.fire_at == 6.0


async def test_a_rolled_back_savepoint_forgets_its_writes(store: Store) -> None:
    await store.write(lambda t: t.insert_execution(execution()))
    await store.write(lambda t: t.set_timer(NS, "w", "r1", "user", "keep", 5.0))

    def op(t: Txn) -> None:
        t.set_timer(NS, "w", "r1", "user", "gone", 5.0)
        t.delete_timer(NS, "w", "r1", "user", "gone")
        with pytest.raises(RuntimeError), t.savepoint():
            t.delete_timer(NS, "w", "r1", "user", "keep")
            e = t.get_execution(NS, "w", "r1")
            assert e is not None
            e.next_event_id = 9
            t.update_execution(e, 1)
            raise RuntimeError("roll back")
        e = t.get_execution(NS, "w", "r1")
        assert e is not None and e.next_event_id == 1
        assert t.get_timer(NS, "w", "r1", "user", "keep") is not None
        assert t.get_timer(NS, "w", "r1", "user", "gone") is None
    await store.write(op)
    assert await store.read(lambda t: t.get_timer(NS, "w", "r1", "user", "keep")) is not None
    assert await store.read(lambda t: t.get_timer(NS, "w", "r1", "user", "gone")) is None


async def test_orphaned_tasks_are_those_leased_to_a_session_that_is_gone(store: Store) -> None:
    await store.write(lambda t: t.insert_execution(execution()))
    ghost = await store.write(lambda t: add_task(t, ref="a", kind="activity"))
    alive = await store.write(lambda t: add_task(t, ref="b", kind="activity"))
    handed = await store.write(lambda t: add_task(t, ref="c", kind="activity"))
    await store.write(lambda t: t.upsert_session("alive", NS, "q", "me",
                                                 SessionInfo(task_queue="q", identity="me"),
                                                 expires_at=99.0))
    await store.write(lambda t: t.claim_task_by_id(ghost, "ghost", 1.0))
    await store.write(lambda t: t.claim_task_by_id(alive, "alive", 1.0))
    await store.write(lambda t: t.claim_task_by_id(handed, "alive", 1.0))
    await store.write(lambda t: t.hand_task_over(handed, "async-completion"))
    orphans = await store.write(lambda t: t.orphaned_tasks("async-completion"))
    assert [o.task_id for o in orphans] == [ghost]
