"""What only the PostgreSQL store has: the lock discipline that serializes each run across
servers, error mapping, outages and recovery, and wake-ups between servers (LISTEN/NOTIFY)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from plait.store.base import ConflictError, StoreUnavailable, Txn
from plait.store.history import StoredEvent
from plait.store.postgres import PostgresStore
from tests.store.pgdb import Proxy, wait_in_change
from tests.store.test_txn import NS, add_sessions, add_task, execution


def paused(fn: Callable[[Txn], Any], reached: threading.Event,
           go: threading.Event) -> Callable[[Txn], Any]:
    """``fn``, but it stops (holding its transaction open) until ``go`` is set."""
    def op(t: Txn) -> Any:
        value = fn(t)
        reached.set()
        assert wait_in_change(go, 10)
        return value
    return op


async def test_a_claim_skips_a_run_being_changed_and_never_waits(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    try:
        await store.write(lambda t: (t.insert_execution(execution()), add_sessions(t, "s")))
        await store.write(lambda t: add_task(t, kind="activity", ref="a"))
        reached, go = threading.Event(), threading.Event()
        holder = asyncio.ensure_future(store.write(paused(
            lambda t: t.get_execution(NS, "w", "r1"), reached, go)))
        await asyncio.to_thread(reached.wait, 10)

        def claim(t: Txn) -> list[Any]:
            return t.claim_tasks(ns=NS, task_queue="q", kind="activity", session="s",
                                 now=time.time(), limit=5)
        started = time.monotonic()
        assert await store.write(claim) == []  # skipped, not waited for
        assert time.monotonic() - started < 1.0
        go.set()
        await holder
        assert len(await store.write(claim)) == 1
    finally:
        await store.close()


async def test_a_task_changed_before_its_run_was_locked_retries_the_change(pg_url: str) -> None:
    """A session's tasks are read without locks; acting on one locks its run and checks the
    row again, so a completion that slipped in between is never overwritten."""
    store = PostgresStore(pg_url)
    try:
        await store.write(lambda t: t.insert_execution(execution()))
        task_id = await store.write(lambda t: add_task(t, kind="activity", ref="a"))
        await store.write(lambda t: t.claim_task_by_id(task_id, "s", 1.0))
        reached, go = threading.Event(), threading.Event()

        def expire(t: Txn) -> None:
            tasks = t.leased_tasks("s")
            assert [x.task_id for x in tasks] == [task_id]
            reached.set()
            assert wait_in_change(go, 10)
            t.get_execution(NS, "w", "r1")  # locks the run: the task row is checked again
            t.release_task(task_id, 0.0, tasks[0].payload)

        expiring = asyncio.ensure_future(store.write(expire))
        await asyncio.to_thread(reached.wait, 10)
        await store.write(lambda t: t.delete_task(task_id))  # the completion, meanwhile
        go.set()
        with pytest.raises(ConflictError):
            await expiring
        assert await store.read(lambda t: t.get_task(task_id)) is None
    finally:
        await store.close()


async def test_get_task_waits_for_the_run_and_sees_the_latest_row(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    try:
        await store.write(lambda t: t.insert_execution(execution()))
        task_id = await store.write(lambda t: add_task(t, kind="activity", ref="a"))
        reached, go = threading.Event(), threading.Event()

        def lease(t: Txn) -> None:
            t.get_execution(NS, "w", "r1")
            t.claim_task_by_id(task_id, "s", 1.0)
        holder = asyncio.ensure_future(store.write(paused(lease, reached, go)))
        await asyncio.to_thread(reached.wait, 10)
        reader = asyncio.ensure_future(store.write(lambda t: t.get_task(task_id)))
        await asyncio.sleep(0.2)
        assert not reader.done()  # waiting for the run's lock
        go.set()
        await holder
        task = await reader
        assert task is not None and task.lease_session == "s"  # not the stale unleased row
    finally:
        await store.close()


async def test_unique_violations_are_conflicts(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    try:
        def insert(t: Txn) -> None:
            t.store_response(NS, "r", {}, 1.0)
        await store.write(insert)
        with pytest.raises(ConflictError):
            await store.write(insert)

        # Two first starts of one id that both saw no current run: the second one conflicts.
        def start(rid: str) -> Callable[[Txn], None]:
            def op(t: Txn) -> None:
                assert t.current_run(NS, "w") is None or rid == "r1"
                t.insert_execution(execution(rid=rid))
            return op
        reached, go = threading.Event(), threading.Event()
        first = asyncio.ensure_future(store.write(paused(start("r1"), reached, go)))
        await asyncio.to_thread(reached.wait, 10)
        second = asyncio.ensure_future(store.write(start("r2")))
        await asyncio.sleep(0.1)
        go.set()
        await first
        with pytest.raises(ConflictError):
            await second
        assert await store.read(lambda t: t.current_run(NS, "w")) == "r1"
    finally:
        await store.close()


async def test_an_event_text_that_is_not_json_is_refused_not_split(pg_url: str) -> None:
    """The events' texts travel joined by chr(30), which JSON holds only escaped: a text
    holding it raw is refused, not stored as two events."""
    store = PostgresStore(pg_url)
    try:
        await store.write(lambda t: t.insert_execution(execution()))
        bad = [StoredEvent(1, '{"a":1}'), StoredEvent(2, '{"b":"\x1e"}')]
        with pytest.raises(ValueError, match="control character"):
            await store.write(lambda t: t.insert_events(NS, "w", "r1", bad))
        assert await store.read(lambda t: t.events(NS, "w", "r1")) == []
    finally:
        await store.close()


async def test_unreachable_database_is_unavailable() -> None:
    with pytest.raises(StoreUnavailable, match="cannot connect"):
        PostgresStore("postgresql://postgres@127.0.0.1:1/none", connect_timeout=1)


async def test_outage_gives_unavailable_then_recovers_without_restart(pg_url: str) -> None:
    proxy = Proxy()
    store = PostgresStore(proxy.url(pg_url), pool_timeout=1.0)
    try:
        await store.write(lambda t: t.insert_execution(execution()))
        proxy.cut()
        with pytest.raises(StoreUnavailable):
            await store.read(lambda t: t.get_execution(NS, "w", "r1"))
        assert not await store.healthy()
        proxy.restore()
        deadline = time.monotonic() + 10
        while not await store.healthy():
            assert time.monotonic() < deadline, "the store did not recover"
            await asyncio.sleep(0.1)
        assert await store.read(lambda t: t.get_execution(NS, "w", "r1")) is not None
    finally:
        await store.close()
        proxy.close()


async def test_a_connection_dropped_while_idle_is_replaced_transparently(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    try:
        await store.write(lambda t: t.insert_execution(execution()))
        pids = await asyncio.gather(*(store.read(
            lambda t: t.cur.execute("SELECT pg_backend_pid(), pg_sleep(0.05)").fetchone()[0])
            for _ in range(4)))
        with psycopg.connect(pg_url, autocommit=True) as admin:
            for pid in set(pids):
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        for _ in range(4):
            assert await store.read(lambda t: t.get_execution(NS, "w", "r1")) is not None
    finally:
        await store.close()


async def test_wake_ups_travel_between_servers(pg_url: str) -> None:
    one, two = PostgresStore(pg_url), PostgresStore(pg_url)
    got_one: list[str | None] = []
    got_two: list[str | None] = []
    try:
        one.listen(got_one.append)
        two.listen(got_two.append)
        deadline = time.monotonic() + 5
        while not (got_one and got_two and one.wake_ups.peers):  # each heard the other
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        one.publish(["a", "b", "a"])
        one.publish(["x" * 3000, "y" * 3000, "z" * 3000])  # more than one NOTIFY's worth
        while len([m for m in got_two if m]) < 5:
            assert time.monotonic() < deadline, got_two
            await asyncio.sleep(0.01)
        assert sorted(m for m in got_two if m) == ["a", "b", "x" * 3000, "y" * 3000,
                                                   "z" * 3000]
        # A server does not hear its own; None: it started listening, then it first heard
        # the other (and could no longer trust an empty claim).
        assert got_one == [None, None]
    finally:
        await one.close()
        await two.close()


async def test_every_named_query_prepares(pg_url: str) -> None:
    """Each query (shared and PostgreSQL's own) is valid against the migrated schema."""
    from plait.store.queries import load_queries

    store = PostgresStore(pg_url)
    await store.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for name, sql in load_queries("pyformat", "postgres").items():
            try:
                conn.execute(f"PREPARE q AS {_positional(sql)}")
                conn.execute("DEALLOCATE q")
            except psycopg.Error as e:
                raise AssertionError(f"query {name}: {e}") from None


def _positional(sql: str) -> str:
    import re

    names: list[str] = []

    def number(m: re.Match[str]) -> str:
        if m.group(1) not in names:
            names.append(m.group(1))
        return f"${names.index(m.group(1)) + 1}"
    return re.sub(r"%\((\w+)\)s", number, sql)


async def test_the_latest_run_moving_on_meanwhile_restarts_the_change(pg_url: str) -> None:
    """A signal to "the latest run" that raced with continue-as-new must reach the new run:
    finding the old one closed once locked, and no longer the latest, retries the change."""
    store = PostgresStore(pg_url)
    try:
        await store.write(lambda t: t.insert_execution(execution()))
        reached, go = threading.Event(), threading.Event()

        def signal(t: Txn) -> None:
            rid = t.current_run(NS, "w")
            reached.set()
            assert wait_in_change(go, 10)
            assert rid is not None
            e = t.get_execution(NS, "w", rid)
            assert e is not None and e.status == "RUNNING"

        def continue_as_new(t: Txn) -> None:
            e = t.get_execution(NS, "w", "r1")
            assert e is not None
            e.status, e.close_time = "CONTINUED_AS_NEW", 5.0
            t.update_execution(e, 1)
            t.insert_execution(execution(rid="r2"))

        signalling = asyncio.ensure_future(store.write(signal))
        await asyncio.to_thread(reached.wait, 10)
        await store.write(continue_as_new)
        go.set()
        with pytest.raises(ConflictError):
            await signalling
        await store.write(signal)  # run again, it finds the new run
    finally:
        await store.close()


async def test_any_statement_on_a_run_locks_it_first(pg_url: str) -> None:
    """The lock is taken where every statement passes, not by each operation: here the
    attempt log (an operation that never asks for the lock itself) holds the run, and a
    second transaction's lock attempt finds it taken."""
    store = PostgresStore(pg_url)
    try:
        await store.write(lambda t: t.insert_execution(execution()))
        reached, go = threading.Event(), threading.Event()
        holder = asyncio.ensure_future(store.write(paused(
            lambda t: t.attempts_of_run(NS, "w", "r1"), reached, go)))
        await asyncio.to_thread(reached.wait, 10)
        with psycopg.connect(pg_url, autocommit=False) as conn:
            conn.execute("SET lock_timeout = '100ms'")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                conn.execute("SELECT 1 FROM executions WHERE workflow_id = 'w' FOR UPDATE")
        go.set()
        await holder
    finally:
        await store.close()
