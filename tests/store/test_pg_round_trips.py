"""What handing out tasks costs on PostgreSQL, in round trips to the database (the cost that
dominates there: about 40 us of the server's CPU each, against 4 us per statement).

A claim brings each task's run with it, an eager claim of a task this transaction just wrote
needs no answer, and the histories of a claim's tasks are asked for together. Each test also
checks that what came without a round trip is what a fresh read gives."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import msgspec
import psycopg
import pytest

from plait.store.base import ConflictError, ExecutionRow, TaskRow, Txn
from plait.store.pgtxn import PgTxn
from plait.store.postgres import PostgresStore
from tests.store.test_txn import NS, add_sessions, add_task, execution, stored

RUNS = 5


@pytest.fixture
def store(one_thread_pg: PostgresStore) -> PostgresStore:
    return one_thread_pg


def trips(t: Txn) -> int:
    return cast(PgTxn, t).round_trips


async def runs_with_workflow_tasks(store: PostgresStore) -> None:
    def setup(t: Txn) -> None:
        add_sessions(t, "s")
        for i in range(RUNS):
            t.insert_execution(execution(wid=f"w{i}"))
            t.insert_events(NS, f"w{i}", "r1", [
                stored({"event_id": n, "event_type": "X", "n": n, "wid": f"w{i}"})
                for n in (1, 2)])
            add_task(t, wid=f"w{i}")
    await store.write(setup)


async def test_a_claim_brings_each_tasks_run_with_it(store: PostgresStore) -> None:
    await runs_with_workflow_tasks(store)

    def claim(t: Txn) -> tuple[int, list[ExecutionRow | None]]:
        tasks = t.claim_tasks(ns=NS, task_queue="q", kind="workflow", session="s", now=1.0,
                              limit=RUNS)
        before = trips(t)
        rows = [t.get_execution(NS, task.workflow_id, task.run_id) for task in tasks]
        return trips(t) - before, rows

    extra, rows = await store.write(claim)
    assert extra == 0
    assert len(rows) == RUNS
    fresh = await store.read(lambda t: [t.get_execution(NS, f"w{i}", "r1")
                                        for i in range(RUNS)])
    assert sorted(rows, key=lambda r: r.workflow_id if r else "") == fresh


async def test_a_claim_and_its_sessions_check_share_one_round_trip(
        store: PostgresStore) -> None:
    await runs_with_workflow_tasks(store)

    def claim(t: Txn) -> tuple[int, int, str | None]:
        before = trips(t)
        session = t.get_session_later("s")
        tasks = t.claim_tasks(ns=NS, task_queue="q", kind="workflow", session="s", now=1.0,
                              limit=RUNS)
        row = session()
        return trips(t) - before, len(tasks), row.session_id if row else None

    assert await store.write(claim) == (1, RUNS, "s")
    assert await store.read(lambda t: t.get_session_later("gone")()) is None


async def test_an_empty_polls_claim_and_its_next_visible_time_share_one_round_trip(
        store: PostgresStore) -> None:
    """A poll that finds nothing ready also wants to know when to look again: asked with the
    claim, it costs the claim's round trip only; asked with a claim that finds tasks, it is
    there unread and changes nothing."""
    def setup(t: Txn) -> None:
        add_sessions(t, "s")
        t.insert_execution(execution(wid="w0"))
        add_task(t, wid="w0", visible_at=50.0)
    await store.write(setup)

    def poll(t: Txn, now: float) -> tuple[int, int, float | None]:
        before = trips(t)
        upcoming = t.next_visible_later(NS, "q", "workflow", "s")
        tasks = t.claim_tasks(ns=NS, task_queue="q", kind="workflow", session="s", now=now,
                              limit=1)
        when = upcoming() if not tasks else None
        return trips(t) - before, len(tasks), when

    assert await store.write(lambda t: poll(t, 1.0)) == (1, 0, 50.0)
    assert await store.write(lambda t: poll(t, 60.0)) == (1, 1, None)
    assert await store.read(lambda t: t.next_visible(NS, "q", "workflow", "s")) is None


async def test_a_hand_off_of_a_task_just_written_is_answered_with_the_commit(
        store: PostgresStore) -> None:
    """A hand-off claims the workflow task its change wrote without waiting for the claim's
    answer: it comes with COMMIT's, and says then what the claim leased."""
    await store.write(lambda t: add_sessions(t, "s"))

    def start(t: Txn) -> tuple[int, list[TaskRow], Any]:
        t.insert_execution(execution(wid="w0"))
        add_task(t, wid="w0")
        before = trips(t)
        tasks, leased = t.claim_known_later(ns=NS, task_queue="q", kind="workflow",
                                            session="s", now=1.0, limit=5, request=7)
        return trips(t) - before, tasks, leased

    extra, [task], leased = await store.write(start)
    assert extra == 0
    assert (task.lease_session, task.dispatch_no, task.lease_request) == ("s", 1, 7)
    assert leased() == {task.task_id}
    fresh = await store.read(lambda t: t.get_task(task.task_id))
    assert fresh == task


async def test_a_hand_off_to_a_session_gone_leases_nothing(store: PostgresStore) -> None:
    def start(t: Txn) -> tuple[int, Any]:
        t.insert_execution(execution(wid="w0"))
        task_id = add_task(t, wid="w0")
        tasks, leased = t.claim_known_later(ns=NS, task_queue="q", kind="workflow",
                                            session="gone", now=1.0, limit=5, request=None)
        assert [x.task_id for x in tasks] == [task_id]
        return task_id, leased

    task_id, leased = await store.write(start)
    assert leased() == set()
    fresh = await store.read(lambda t: t.get_task(task_id))
    assert fresh is not None and (fresh.lease_session, fresh.dispatch_no) == (None, 0)


async def test_a_hand_off_leaves_sticky_and_unready_tasks_to_the_claim(
        store: PostgresStore) -> None:
    """Only what surely goes to this poll is claimed unanswered: a task sticky to a worker
    may belong to another parked poll, and one not yet visible to none."""
    await store.write(lambda t: add_sessions(t, "s"))

    def start(t: Txn) -> list[TaskRow]:
        t.insert_execution(execution(wid="w0"))
        t.insert_execution(execution(wid="w1"))
        add_task(t, wid="w0", sticky="other", sticky_until=1e12)
        add_task(t, wid="w1", visible_at=50.0)
        tasks, _ = t.claim_known_later(ns=NS, task_queue="q", kind="workflow", session="s",
                                       now=1.0, limit=5, request=None)
        return tasks

    assert await store.write(start) == []


async def test_the_histories_of_a_claims_tasks_arrive_in_one_round_trip(
        store: PostgresStore) -> None:
    await runs_with_workflow_tasks(store)

    def read(t: Txn) -> tuple[int, list[list[msgspec.Raw]]]:
        later = [t.events_later(NS, f"w{i}", "r1") for i in range(RUNS)]
        before = trips(t)
        events = [list(each()) for each in later]
        return trips(t) - before, events

    used, events = await store.write(read)
    assert used == 1
    fresh = await store.read(lambda t: [list(t.events(NS, f"w{i}", "r1"))
                                        for i in range(RUNS)])
    assert events == fresh
    assert all(len(e) == 2 for e in events)


async def test_an_eager_claim_of_a_task_just_written_waits_for_no_answer(
        store: PostgresStore) -> None:
    await store.write(lambda t: t.insert_execution(execution()))

    def schedule_and_claim(t: Txn) -> tuple[int, TaskRow | None]:
        task_id = add_task(t, kind="activity", ref="a")
        before = trips(t)
        claimed = t.claim_task_by_id(task_id, "s", 5.0, 7)
        return trips(t) - before, claimed

    extra, claimed = await store.write(schedule_and_claim)
    assert extra == 0
    assert claimed is not None
    task_id = claimed.task_id
    assert claimed == await store.read(lambda t: t.get_task(task_id))
    assert (claimed.lease_session, claimed.dispatch_no, claimed.dispatched_at,
            claimed.lease_request) == ("s", 1, 5.0, 7)


async def test_an_eager_claim_of_a_task_leased_meanwhile_is_refused(
        store: PostgresStore) -> None:
    """Its answer is checked before COMMIT: if the row was not the one the transaction
    knew, the change conflicts (and runs again) rather than hand out a leased task."""
    await store.write(lambda t: t.insert_execution(execution()))

    def claim_twice(t: Txn) -> None:
        task_id = add_task(t, kind="activity", ref="a")
        t.cur.execute("UPDATE tasks SET lease_session = 'other' WHERE task_id = %s",
                      (task_id,))  # behind the transaction's cache
        t.claim_task_by_id(task_id, "s", 5.0, 7)

    with pytest.raises(ConflictError):
        await store.write(claim_twice)
    assert await store.read(lambda t: t.tasks_of_run(NS, "w", "r1")) == []


async def test_a_starts_reads_share_one_round_trip(store: PostgresStore) -> None:
    """A start looks up its request id, then the workflow id's current run: asked for
    ahead, the second travels with the first."""
    await store.write(lambda t: t.insert_execution(execution()))
    await store.write(lambda t: t.set_current_run(NS, "w", "r1"))

    def start_reads(t: Txn) -> tuple[int, str | None, str | None]:
        before = trips(t)
        t.current_run_ahead(NS, "w")
        t.current_run_ahead(NS, "absent")
        seen, _ = t.stored_response(NS, "req-1")
        assert not seen
        return trips(t) - before, t.current_run(NS, "w"), t.current_run(NS, "absent")

    assert await store.write(start_reads) == (1, "r1", None)


async def test_a_current_run_asked_for_ahead_is_forgotten_once_it_is_set(
        store: PostgresStore) -> None:
    await store.write(lambda t: t.insert_execution(execution()))

    def set_between(t: Txn) -> str | None:
        t.current_run_ahead(NS, "w")
        t.set_current_run(NS, "w", "r1")
        return t.current_run(NS, "w")

    assert await store.write(set_between) == "r1"


async def test_a_read_waits_for_its_answers_but_not_for_its_commit(
        store: PostgresStore, pg_url: str) -> None:
    """A transaction that only read is answered when its reads arrive: its COMMIT's answer
    comes with the connection's next round trip. The COMMIT itself goes out at once, so the
    database holds no transaction open for it meanwhile."""
    await store.write(lambda t: t.insert_execution(execution()))

    def read(t: Txn) -> tuple[int, ExecutionRow | None]:
        return trips(t), t.get_execution(NS, "w", "r1")

    first, row = await store.read(read)
    second, _ = await store.read(read)
    assert row is not None
    assert second - first == 1  # the get_execution; its COMMIT rode on the next read's
    with psycopg.connect(pg_url, autocommit=True) as admin:
        deadline = time.monotonic() + 10
        while admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND state LIKE 'idle in transaction%'").fetchone() != (0,):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)


async def test_an_eager_claim_keeps_what_the_transaction_knows_of_its_other_tasks(
        store: PostgresStore) -> None:
    """Claiming one task it wrote does not make the transaction read its other tasks
    again."""
    await store.write(lambda t: t.insert_execution(execution()))

    def schedule_two_claim_one(t: Txn) -> int:
        first = add_task(t, kind="activity", ref="a")
        second = add_task(t, kind="activity", ref="b")
        t.claim_task_by_id(first, "s", 5.0, 7)
        before = trips(t)
        assert t.get_task(second) is not None
        return trips(t) - before

    assert await store.write(schedule_two_claim_one) == 0


async def test_closing_a_run_with_no_activity_out_waits_for_no_deleted_rows(
        store: PostgresStore) -> None:
    """A close reads the tasks it deletes only to end an activity attempt that was out;
    a run whose count says none is pending (the server's ``activities_counted``) asks for
    no rows, and the deletion travels with the COMMIT."""
    for wid in ("quiet", "busy"):
        await store.write(lambda t, wid=wid: (
            t.insert_execution(execution(wid=wid)),
            add_task(t, wid=wid, kind="activity", ref="a"), add_task(t, wid=wid)))

    def close(wid: str, wanted: bool) -> Any:
        def op(t: Txn) -> tuple[int, list[str]]:
            cast(PgTxn, t).lock_run(NS, wid, "r1")
            before = trips(t)
            deleted = t.delete_run_work(NS, wid, "r1", wanted=wanted)
            return trips(t) - before, sorted(task.kind for task in deleted)
        return op

    assert await store.write(close("quiet", False)) == (0, [])
    assert await store.write(close("busy", True)) == (1, ["activity", "workflow"])
    for wid in ("quiet", "busy"):
        assert await store.read(lambda t, wid=wid: t.tasks_of_run(NS, wid, "r1")) == []
