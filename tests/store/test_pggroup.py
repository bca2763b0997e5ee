"""Group commit on PostgreSQL (``PostgresStore._run_group``): changes queued together share
one transaction, one after the other; one that fails rolls back alone (the group runs again,
each change in a savepoint, when it had written), and one that would wait for a row lock
runs alone after the group's COMMIT.

The store here has one connection (one runner), so a change that holds it (``Blocker``) lets
the next changes queue up behind it and run as one group once it is released."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from plait.store import postgres
from plait.store.base import Txn
from plait.store.history import StoredEvent
from plait.store.postgres import PostgresStore
from tests.store.pgdb import wait_in_change
from tests.store.test_txn import NS, execution


@pytest.fixture
def store(grouped_pg: PostgresStore) -> PostgresStore:
    return grouped_pg


class Blocker:
    """A change that holds the store's only runner until released."""

    def __init__(self) -> None:
        self.running = threading.Event()
        self.release = threading.Event()

    def __call__(self, t: Txn) -> None:
        self.running.set()
        assert wait_in_change(self.release, 30)


async def queued_behind(store: PostgresStore, *changes: Callable[[Txn], Any]
                        ) -> list[asyncio.Task[Any]]:
    """Queue ``changes`` while the store's runner is held, then let it go: they run as one
    group, in this order."""
    blocker = Blocker()
    held = asyncio.ensure_future(store.write(blocker))
    await asyncio.to_thread(blocker.running.wait, 30)
    tasks = [asyncio.ensure_future(store.write(c)) for c in changes]
    await asyncio.sleep(0)  # each task runs to its first await: it is queued
    blocker.release.set()
    await held
    return tasks


def txid_and(write: Callable[[Txn], None]) -> Callable[[Txn], int]:
    def change(t: Txn) -> int:
        write(t)
        return int(t.cur.execute("SELECT txid_current()").fetchone()[0])
    return change


def respond(request_id: str) -> Callable[[Txn], None]:
    return lambda t: t.store_response(NS, request_id, {}, 1.0)


def requests(t: Txn) -> list[str]:
    return [r[0] for r in t.cur.execute(
        "SELECT request_id FROM requests ORDER BY request_id").fetchall()]


async def test_changes_queued_together_share_one_transaction(store: PostgresStore) -> None:
    tasks = await queued_behind(store, *(txid_and(respond(f"r{i}")) for i in range(5)))
    txids = await asyncio.gather(*tasks)
    assert len(set(txids)) == 1
    assert await store.read(requests) == [f"r{i}" for i in range(5)]


async def test_a_failing_change_rolls_back_alone(store: PostgresStore) -> None:
    def failing(t: Txn) -> None:
        t.store_response(NS, "failed", {}, 1.0)
        raise ValueError("refused")

    def duplicate(t: Txn) -> None:  # its error arrives from the database, not from Python
        t.store_response(NS, "r1", {}, 1.0)

    tasks = await queued_behind(store, respond("r1"), failing, duplicate, respond("r2"))
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert outcomes[0] is None and outcomes[3] is None
    assert isinstance(outcomes[1], ValueError)
    assert isinstance(outcomes[2], postgres.ConflictError)  # a unique violation: retry
    assert await store.read(requests) == ["r1", "r2"]


async def test_a_change_that_waits_for_a_lock_runs_after_the_group(
        store: PostgresStore, pg_url: str) -> None:
    """The group holds its earlier changes' locks: a later change that would wait for a row
    lock (held here by another connection) is put off until after the COMMIT, so the others
    are answered without waiting for it."""
    await store.write(lambda t: t.insert_execution(execution()))
    other = await asyncio.to_thread(lambda: psycopg.connect(pg_url))
    try:
        await asyncio.to_thread(other.execute, "BEGIN")
        await asyncio.to_thread(other.execute, "SELECT 1 FROM executions FOR UPDATE")

        def locking(t: Txn) -> None:
            t.get_execution(NS, "w", "r1")  # locks the run's row first
            t.store_response(NS, "locked", {}, 1.0)

        first, waiting, last = await queued_behind(
            store, txid_and(respond("a")), txid_and(locking), txid_and(respond("b")))
        # Answered while the lock is still held, in one transaction, well before a change
        # alone would give up on the lock (10 s); the store's one thread now waits for the
        # lock with the put-off change, which is not answered yet.
        a, b = await asyncio.wait_for(asyncio.gather(first, last), 5)
        assert a == b
        assert not waiting.done()
        await asyncio.to_thread(other.execute, "ROLLBACK")
        assert await waiting != a
        assert await store.read(requests) == ["a", "b", "locked"]
    finally:
        await asyncio.to_thread(other.close)


class Counted:
    """A change that counts its runs: without savepoints, a group runs again (each change
    in a savepoint) only when a change failed after writing or the database refused one."""

    def __init__(self, fn: Callable[[Txn], Any]) -> None:
        self.fn, self.runs = fn, 0

    def __call__(self, t: Txn) -> Any:
        self.runs += 1
        return self.fn(t)


async def test_a_group_that_succeeds_runs_each_change_once(store: PostgresStore) -> None:
    changes = [Counted(respond(f"r{i}")) for i in range(4)]
    await asyncio.gather(*await queued_behind(store, *changes))
    assert [c.runs for c in changes] == [1, 1, 1, 1]


async def test_a_change_that_fails_before_writing_costs_the_group_nothing(
        store: PostgresStore) -> None:
    """It only read: its error is its answer, and the others commit without a second run."""
    def refused(t: Txn) -> None:
        t.get_execution(NS, "w", "absent")
        raise ValueError("not found")

    changes = [Counted(respond("r1")), Counted(refused), Counted(respond("r2"))]
    outcomes = await asyncio.gather(*await queued_behind(store, *changes),
                                    return_exceptions=True)
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], ValueError)
    assert [c.runs for c in changes] == [1, 1, 1]
    assert await store.read(requests) == ["r1", "r2"]


async def test_a_change_that_fails_after_writing_runs_the_group_again_with_savepoints(
        store: PostgresStore) -> None:
    def failing(t: Txn) -> None:
        t.store_response(NS, "failed", {}, 1.0)
        raise ValueError("refused")

    changes = [Counted(respond("r1")), Counted(failing), Counted(respond("r2"))]
    outcomes = await asyncio.gather(*await queued_behind(store, *changes),
                                    return_exceptions=True)
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], ValueError)
    # The first run stopped at the failure; the second ran all three, each in a savepoint.
    assert [c.runs for c in changes] == [2, 2, 1]
    assert await store.read(requests) == ["r1", "r2"]


async def test_an_error_a_later_change_caught_is_still_the_earlier_changes(
        store: PostgresStore) -> None:
    """A statement's error arrives with the next answer anyone waits for, which may be a
    later change's. If that change catches it, the group must not take the catch for the
    end of the matter: it runs again with savepoints, and the error goes to its owner."""
    await store.write(respond("taken"))

    def duplicate(t: Txn) -> None:  # its insert is sent, its answer not waited for
        t.store_response(NS, "taken", {}, 1.0)

    def careless(t: Txn) -> str:
        with contextlib.suppress(psycopg.Error):
            t.current_run(NS, "w")  # the first answer waited for: it brings the error
        t.store_response(NS, "mine", {}, 1.0)
        return "done"

    changes = [Counted(duplicate), Counted(careless)]
    outcomes = await asyncio.gather(*await queued_behind(store, *changes),
                                    return_exceptions=True)
    assert isinstance(outcomes[0], postgres.ConflictError)
    assert outcomes[1] == "done"
    assert [c.runs for c in changes] == [2, 2]
    assert await store.read(requests) == ["mine", "taken"]


async def test_a_change_refused_at_commit_runs_the_group_again_with_savepoints(
        store: PostgresStore) -> None:
    """A stale history append is refused by its statement (``plait_expect_one``), whose
    answer nobody waits for: the refusal arrives with COMMIT, which then never ran. The
    group runs again, each change in a savepoint, and only the stale one fails."""
    await store.write(lambda t: t.insert_execution(execution()))

    def stale(t: Txn) -> None:
        e = t.get_execution(NS, "w", "r1")
        assert e is not None
        e.next_event_id = 9
        t.save_execution(e, 7, [StoredEvent(7, "{}"), StoredEvent(8, "{}")])

    changes = [Counted(respond("r1")), Counted(stale), Counted(respond("r2"))]
    outcomes = await asyncio.gather(*await queued_behind(store, *changes),
                                    return_exceptions=True)
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], postgres.ConflictError)
    assert [c.runs for c in changes] == [2, 2, 2]
    assert await store.read(requests) == ["r1", "r2"]
    assert await store.read(lambda t: t.events(NS, "w", "r1")) == []
