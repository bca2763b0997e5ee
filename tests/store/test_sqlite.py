"""What only the SQLite store has: durability settings, group commit isolation, one server per
file. (Migrations: test_migrations.py, for both backends.)"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from plait.store import StoreUnavailable, Txn
from plait.store.queries import load_queries
from plait.store.sqlite import SQLiteStore


async def test_wal_and_synchronous_full(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "p.db"))
    try:
        mode = await store.read(lambda t: t.cur.execute("PRAGMA journal_mode").fetchone()[0])
        sync = await store.read(lambda t: t.cur.execute("PRAGMA synchronous").fetchone()[0])
        assert mode == "wal" and sync == 2  # 2 = FULL
    finally:
        await store.close()


async def test_a_failing_operation_rolls_back_alone(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "p.db"))

    def good(i: int):  # type: ignore[no-untyped-def]
        return lambda t: t.store_response("n", f"r{i}", {}, 1.0)

    def bad(t: Txn) -> None:
        t.store_response("n", "bad", {}, 1.0)
        raise RuntimeError("boom")

    try:
        ops = [store.write(good(i)) for i in range(50)] + [store.write(bad)]
        results = await asyncio.gather(*ops, return_exceptions=True)
        assert isinstance(results[-1], RuntimeError)
        assert all(not isinstance(r, Exception) for r in results[:-1])
        n = await store.read(lambda t: t.cur.execute("SELECT COUNT(*) FROM requests")
                             .fetchone()[0])
        assert n == 50  # the failed op's insert is gone, the others committed
    finally:
        await store.close()


async def test_a_lone_failing_operation_leaves_nothing(tmp_path: Path) -> None:
    """A batch of one runs without a savepoint: its failure rolls back the transaction."""
    store = SQLiteStore(str(tmp_path / "p.db"))

    def bad(t: Txn) -> None:
        t.store_response("n", "bad", {}, 1.0)
        raise RuntimeError("boom")

    try:
        with pytest.raises(RuntimeError, match="boom"):
            await store.write(bad)
        await store.write(lambda t: t.store_response("n", "ok", {}, 1.0))
        rows = await store.read(lambda t: t.cur.execute("SELECT request_id FROM requests")
                                .fetchall())
        assert [r[0] for r in rows] == ["ok"]
    finally:
        await store.close()


async def _one_batch(store: SQLiteStore, fns: list[Any]) -> list[Any]:
    """Run ``fns`` as one batch: a first operation holds the store's thread until all of
    them are queued behind it."""
    started, gate = threading.Event(), threading.Event()

    def hold(t: Txn) -> None:
        started.set()
        gate.wait(10)

    held = asyncio.ensure_future(store.write(hold))
    await asyncio.to_thread(started.wait, 10)
    ops = [asyncio.ensure_future(store.write(fn)) for fn in fns]
    await asyncio.sleep(0)  # queued (each write puts its operation before its first await)
    gate.set()
    await held
    return await asyncio.gather(*ops, return_exceptions=True)


def _insert(name: str, runs: list[str], fail: bool = False) -> Any:
    def op(t: Txn) -> str:
        runs.append(name)
        t.store_response("n", name, {}, 1.0)
        if fail:
            raise RuntimeError(f"{name} failed")
        return name
    return op


async def _stored(store: SQLiteStore) -> list[str]:
    rows = await store.read(lambda t: t.cur.execute("SELECT request_id FROM requests")
                            .fetchall())
    return sorted(r[0] for r in rows)


async def test_a_batch_runs_without_savepoints_until_a_change_fails_after_writing(
        tmp_path: Path) -> None:
    """The batch is undone and run again, each operation in a savepoint: the failed one
    leaves nothing, the others commit (having run twice: only the committed run counts)."""
    store = SQLiteStore(str(tmp_path / "p.db"))
    runs: list[str] = []
    try:
        results = await _one_batch(store, [_insert("a", runs), _insert("b", runs, fail=True),
                                           _insert("c", runs)])
        assert results[0] == "a" and results[2] == "c"
        assert isinstance(results[1], RuntimeError)
        assert await _stored(store) == ["a", "c"]
        assert runs == ["a", "b", "a", "b", "c"]
    finally:
        await store.close()


async def test_an_operation_that_fails_before_writing_costs_the_batch_nothing(
        tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "p.db"))
    runs: list[str] = []

    def refuse(t: Txn) -> None:
        runs.append("refuse")
        t.cur.execute("SELECT 1").fetchone()  # reads, then refuses: nothing to undo
        raise ValueError("stale token")

    try:
        results = await _one_batch(store, [_insert("a", runs), refuse, _insert("c", runs)])
        assert results[0] == "a" and results[2] == "c"
        assert isinstance(results[1], ValueError)
        assert await _stored(store) == ["a", "c"]
        assert runs == ["a", "refuse", "c"]  # each ran once
    finally:
        await store.close()


async def test_second_server_on_one_file_is_refused(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "p.db"))
    try:
        with pytest.raises(StoreUnavailable, match="one server per SQLite file"):
            SQLiteStore(str(tmp_path / "p.db"))
    finally:
        await store.close()


def test_every_named_query_prepares(tmp_path: Path) -> None:
    """Each query in queries.sql is valid SQL against the migrated schema."""
    path = str(tmp_path / "p.db")
    asyncio.run(SQLiteStore(path).close())
    conn = sqlite3.connect(path)
    for name, sql in load_queries("named").items():
        try:
            conn.execute("EXPLAIN " + sql, {k: None for k in _params(sql)})
        except sqlite3.Error as e:
            raise AssertionError(f"query {name}: {e}") from None


def _params(sql: str) -> set[str]:
    import re

    return set(re.findall(r"(?<!:):(\w+)", sql))


def test_postgres_parameter_style() -> None:
    q = load_queries("pyformat")["get_execution"]
    assert "%(ns)s" in q and ":ns" not in q
