"""The PostgreSQL store's transactions as fibers on the event loop's thread
(``plait.store.pgfibers``): they never leave that thread, the loop goes on while one waits
for the database, and their errors, cancellations and locks behave as on threads."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import msgspec
import psycopg
import pytest

from plait.store import pgfibers, pgpipe, postgres
from plait.store.base import Txn
from plait.store.postgres import PostgresStore
from tests.store.test_txn import NS, execution, stored


@pytest.fixture
async def store(pg_url: str) -> Any:
    s = PostgresStore(pg_url, pool_size=2)
    try:
        yield s
    finally:
        await s.close()


async def test_a_transaction_runs_on_the_loop_thread(store: PostgresStore) -> None:
    ident = await store.write(lambda t: (threading.get_ident(), pgfibers.current() is not None))
    assert ident == (threading.get_ident(), True)


class Turns:
    """Counts the event loop's turns while in use: a task that ticks every ``every`` s."""

    def __init__(self, every: float) -> None:
        self.count = 0
        self._every = every
        self._task: asyncio.Future[None] | None = None

    async def _tick(self) -> None:
        while True:
            self.count += 1
            await asyncio.sleep(self._every)

    async def __aenter__(self) -> Turns:
        self._task = asyncio.ensure_future(self._tick())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def test_the_loop_runs_while_a_transaction_waits_for_the_database(
        store: PostgresStore) -> None:
    async with Turns(0.01) as turns:
        def slow(t: Txn) -> int:
            t.cur.execute("SELECT pg_sleep(0.3)")
            return turns.count

        before = turns.count
        seen = await store.write(slow)
    assert seen > before  # the ticker ran during the statement


async def test_another_transaction_runs_while_one_waits_for_a_lock(
        store: PostgresStore, pg_url: str) -> None:
    """Two connections, two fibers: one waits in PostgreSQL for a lock held elsewhere while
    the other runs to its end."""
    other = await asyncio.to_thread(psycopg.connect, pg_url, autocommit=True)
    try:
        await asyncio.to_thread(other.execute, "SELECT pg_advisory_lock(4242)")
        waiting = asyncio.ensure_future(store.read(
            lambda t: t.cur.execute("SELECT pg_advisory_xact_lock_shared(4242)").fetchone()))
        assert await store.read(lambda t: t.cur.execute("SELECT 7").fetchone()[0]) == 7
        assert not waiting.done()
        await asyncio.to_thread(other.execute, "SELECT pg_advisory_unlock(4242)")
        await waiting
    finally:
        await asyncio.to_thread(other.close)


async def test_an_error_in_a_change_reaches_its_caller_and_the_store_goes_on(
        store: PostgresStore) -> None:
    def bad(t: Txn) -> None:
        t.cur.execute("SELECT 1")
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        await store.write(bad)
    assert await store.read(lambda t: t.cur.execute("SELECT 2").fetchone()[0]) == 2


async def test_run_returns_and_raises_what_the_fiber_does() -> None:
    async def later(value: int) -> int:
        await asyncio.sleep(0)
        return value

    def body() -> int:
        return pgfibers.suspend(later(20)) + pgfibers.suspend(later(22))

    assert await pgfibers.run(body, slot=None) == 42

    def failing() -> None:
        pgfibers.suspend(later(1))
        raise KeyError("gone")

    with pytest.raises(KeyError):
        await pgfibers.run(failing, slot=None)


async def test_a_cancelled_wait_is_raised_inside_the_fiber() -> None:
    seen: list[str] = []
    waiting = asyncio.Event()

    def body() -> None:
        try:
            pgfibers.suspend(_forever(waiting))
        except asyncio.CancelledError:
            seen.append("cancelled in the fiber")
            raise

    task = asyncio.ensure_future(pgfibers.run(body, slot=None))
    await waiting.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == ["cancelled in the fiber"]


async def test_a_cancellation_the_fiber_handles_still_ends_the_task() -> None:
    waiting = asyncio.Event()
    handled: list[bool] = []

    def body() -> str:
        try:
            pgfibers.suspend(_forever(waiting))
        except asyncio.CancelledError:
            handled.append(True)  # as a store answers the job's caller with it
        return "done"

    task = asyncio.ensure_future(pgfibers.run(body, slot=None))
    await waiting.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert handled == [True]


async def _forever(started: asyncio.Event) -> None:
    started.set()
    await asyncio.Event().wait()


async def test_suspend_outside_a_fiber_is_refused() -> None:
    with pytest.raises(RuntimeError, match="outside a store fiber"):
        pgfibers.suspend(asyncio.get_running_loop().create_future())


async def test_a_fiber_waits_for_a_lock_another_holds_across_a_wait() -> None:
    """A fiber that found the lock held by another, suspended one, blocking the thread,
    would never be let go: it suspends instead, and runs once the holder lets go."""
    lock = pgfibers.Lock()
    order: list[str] = []
    gate = asyncio.Event()

    def holder() -> None:
        with lock:
            order.append("holder in")
            pgfibers.suspend(gate.wait())
            order.append("holder out")

    def second() -> None:
        with lock:
            order.append("second in")

    first = asyncio.ensure_future(pgfibers.run(holder, slot=None))
    await asyncio.sleep(0)
    other = asyncio.ensure_future(pgfibers.run(second, slot=None))
    for _ in range(5):
        await asyncio.sleep(0)
    assert order == ["holder in"]
    gate.set()
    await asyncio.gather(first, other)
    assert order == ["holder in", "holder out", "second in"]


def test_the_lock_is_a_plain_lock_on_threads() -> None:
    lock = pgfibers.Lock()
    inside = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with lock:
            inside.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    assert inside.wait(10)
    assert not lock._lock.acquire(blocking=False)
    release.set()
    t.join(10)
    with lock:
        pass


async def test_a_big_result_is_loaded_with_the_loop_let_run_in_between(
        store: PostgresStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read of many rows (a 50,000-event history) must not hold the loop for all of its
    loading: the rows come a chunk at a time, the loop's other work in between."""
    monkeypatch.setattr(pgpipe, "LOAD_CHUNK", 10)
    events = [stored({"event_id": n, "event_type": "X", "n": n}) for n in range(1, 51)]
    await store.write(lambda t: (t.insert_execution(execution()),
                                 t.insert_events(NS, "w", "r1", events)))
    real_load, seen = pgpipe._load, []
    async with Turns(0) as turns:
        def load(tx: Any, res: Any) -> Any:
            before = turns.count
            rows = real_load(tx, res)
            seen.append((res.ntuples, turns.count - before))
            return rows

        monkeypatch.setattr(pgpipe, "_load", load)
        got = await store.read(lambda t: t.events(NS, "w", "r1"))
    assert [msgspec.json.decode(e)["n"] for e in got] == list(range(1, 51))
    assert any(n == 50 and k >= 4 for n, k in seen), seen  # 5 chunks, the loop between


async def test_blocking_calls_leave_the_loop_thread() -> None:
    here = threading.get_ident()

    def body() -> int:
        return pgfibers.blocking(threading.get_ident)

    assert await pgfibers.run(body, slot=None) != here
    assert pgfibers.blocking(threading.get_ident) == here  # outside a fiber: called here


async def test_the_threads_are_still_there_to_compare(pg_url: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """``PLAIT_PG_THREADS=1``: transactions on store threads, as before the fibers."""
    monkeypatch.setattr(postgres, "THREADS", True)
    s = PostgresStore(pg_url, pool_size=2)
    try:
        ident = await s.write(lambda t: (threading.get_ident(), pgfibers.current() is None))
        assert ident[0] != threading.get_ident() and ident[1]
        assert await s.read(lambda t: t.cur.execute("SELECT 3").fetchone()[0]) == 3
    finally:
        await s.close()
