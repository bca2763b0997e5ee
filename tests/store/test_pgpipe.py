"""The PostgreSQL store's pipeline (``plait.store.pgpipe``): writes nobody reads are sent
without waiting, so their errors (a refused row count included) arrive later; these tests pin
down that "later" is still before anything is committed or answered, and inside the block
that caused them."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from plait.store import pgtxn, postgres
from plait.store.base import ConflictError, Txn
from plait.store.history import StoredEvent
from plait.store.pgpipe import Pipe
from plait.store.postgres import PostgresStore
from tests.store.test_txn import NS, add_task, execution


@pytest.fixture(autouse=True)
def pipelined(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the pipeline, whatever ``PLAIT_PG_PIPELINE`` says."""
    monkeypatch.setattr(postgres, "PIPELINE", True)


def _requests(t: Txn) -> list[str]:
    return [r[0] for r in t.cur.execute(
        "SELECT request_id FROM requests ORDER BY request_id").fetchall()]


async def test_a_deferred_error_is_raised_inside_its_savepoint(pg_url: str) -> None:
    """A unique violation of a write nobody waited for surfaces at the end of its savepoint
    block (not after it), so only that block rolls back."""
    store = PostgresStore(pg_url)
    try:
        def op(t: Txn) -> None:
            t.store_response(NS, "kept", {}, 1.0)
            with pytest.raises(psycopg.errors.UniqueViolation), t.savepoint():
                t.store_response(NS, "twice", {}, 1.0)
                t.store_response(NS, "twice", {}, 1.0)
            t.store_response(NS, "after", {}, 1.0)
        await store.write(op)
        assert await store.read(_requests) == ["after", "kept"]
    finally:
        await store.close()


async def test_a_refused_change_commits_none_of_its_writes(pg_url: str) -> None:
    """The optimistic check of a run's row is its statement's (``plait_expect_one``); a
    transaction whose check fails is rolled back whole, writes sent after it included."""
    store = PostgresStore(pg_url)
    try:
        await store.write(lambda t: t.insert_execution(execution()))

        def stale(t: Txn) -> None:
            e = t.get_execution(NS, "w", "r1")
            assert e is not None
            e.next_event_id = 3
            t.save_execution(e, 7, [StoredEvent(1, "{}"), StoredEvent(2, "{}")])
            t.store_response(NS, "sent-after-the-check", {}, 1.0)
        with pytest.raises(ConflictError):
            await store.write(stale)
        assert await store.read(_requests) == []
        assert await store.read(lambda t: t.events(NS, "w", "r1")) == []
    finally:
        await store.close()


async def test_a_failing_write_nobody_read_fails_the_transaction(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    try:
        await store.write(lambda t: t.store_response(NS, "once", {}, 1.0))

        def dup(t: Txn) -> None:
            t.store_response(NS, "new", {}, 1.0)
            t.store_response(NS, "once", {}, 1.0)  # the error arrives with COMMIT
        with pytest.raises(ConflictError):
            await store.write(dup)
        assert await store.read(_requests) == ["once"]
    finally:
        await store.close()


async def test_statements_dropped_behind_its_back_are_prepared_again(pg_url: str) -> None:
    """``DEALLOCATE ALL`` (a pooler, a tool) drops the prepared statements: the change
    conflicts once (the service runs it again) and the next one prepares them again."""
    store = PostgresStore(pg_url, pool_size=1)
    try:
        await store.write(lambda t: t.store_response(NS, "a", {}, 1.0))
        await store.write(lambda t: t.cur.execute("DEALLOCATE ALL"))
        with pytest.raises(ConflictError):
            await store.write(lambda t: t.store_response(NS, "b", {}, 1.0))
        await store.write(lambda t: t.store_response(NS, "b", {}, 1.0))
        assert await store.read(_requests) == ["a", "b"]
    finally:
        await store.close()


async def test_task_ids_taken_in_blocks_keep_increasing(pg_url: str) -> None:
    """Task ids come from the identity sequence a block at a time (the insert then needs no
    answer): unique, and increasing in the order this store made the tasks."""
    store = PostgresStore(pg_url)
    try:
        await store.write(lambda t: t.insert_execution(execution()))
        ids = []
        for i in range(pgtxn.TASK_ID_BLOCK + 5):
            def add(t: Txn, ref: str = f"a{i}") -> int:
                return add_task(t, kind="activity", ref=ref)
            ids.append(await store.write(add))
        assert ids == sorted(set(ids))
        rows = await store.read(lambda t: t.tasks_of_run(NS, "w", "r1"))
        assert sorted(r.task_id for r in rows) == ids
    finally:
        await store.close()


async def test_a_commit_that_postgresql_turned_into_a_rollback_is_an_error(pg_url: str) -> None:
    """PostgreSQL answers COMMIT in a transaction an error aborted with ROLLBACK, not an
    error; the pipe's commit must not take that for a commit."""
    conn = await asyncio.to_thread(lambda: psycopg.connect(pg_url, autocommit=True))
    try:
        pipe = Pipe(conn)

        def run() -> None:
            pipe.command(b"BEGIN")
            pipe.command(b"SELECT 1/0")
            with pytest.raises(psycopg.errors.DivisionByZero):
                pipe.sync()
            with pytest.raises(psycopg.errors.InFailedSqlTransaction):
                pipe.commit()
        await asyncio.to_thread(run)
        assert pipe.failures == 1
    finally:
        await asyncio.to_thread(conn.close)
