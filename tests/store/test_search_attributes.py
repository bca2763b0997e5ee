"""The search-attribute index, on every backend: filters by attribute in list and count, kept
in step with the row on start, upsert and deletion, and built for runs that predate it."""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg
import pytest

from plait.protocol.jsoncodec import dumps_str
from plait.store.base import ExecutionRow, Store, Txn
from plait.store.postgres import PostgresStore
from plait.store.queries import migrations
from plait.store.run_state import RunState
from plait.store.search_index import ListFilter, index_value
from plait.store.sqlite import SQLiteStore

NS = "ns"


def execution(wid: str, start: float, attrs: dict[str, Any], *, status: str = "COMPLETED",
              wtype: str = "Order", ns: str = NS) -> ExecutionRow:
    return ExecutionRow(ns, wid, "r1", wtype, "q", status, start, None, 1, RunState(), None, attrs,
                        None)


async def insert(store: Store, *rows: ExecutionRow) -> None:
    def go(t: Txn) -> None:
        for row in rows:
            t.insert_execution(row)
    await store.write(go)


async def ids(store: Store, attrs: dict[str, Any], limit: int = 100,
              **filters: Any) -> list[str]:
    rows = await store.read(lambda t: t.list_executions(
        NS, ListFilter(**filters, search_attributes=attrs), limit, None))
    return [r.workflow_id for r in rows]


async def count(store: Store, attrs: dict[str, Any], **filters: Any) -> int:
    return await store.read(lambda t: t.count_executions(
        NS, ListFilter(**filters, search_attributes=attrs)))


async def test_filters_by_attributes_with_the_other_filters(store: Store) -> None:
    await insert(store, *(execution(
        f"w{i}", float(i), {"customer": "c-1" if i % 2 else "c-2", "tier": i % 3},
        status="RUNNING" if i >= 6 else "COMPLETED", wtype="A" if i < 4 else "B")
        for i in range(10)))
    await insert(store, execution("elsewhere", 5.0, {"customer": "c-1"}, ns="other"))
    assert await ids(store, {"customer": "c-1"}) == ["w9", "w7", "w5", "w3", "w1"]
    assert await ids(store, {"customer": "c-1", "tier": 0}) == ["w9", "w3"]  # AND
    assert await ids(store, {"customer": "c-1"}, status="RUNNING") == ["w9", "w7"]
    assert await ids(store, {"customer": "c-1"}, workflow_type="A") == ["w3", "w1"]
    assert await ids(store, {"customer": "c-1"}, started_after=3.0,
                     started_before=7.0) == ["w5", "w3"]
    assert await ids(store, {"customer": "nobody"}) == []
    assert await ids(store, {"missing": "c-1"}) == []
    assert await count(store, {"customer": "c-1"}) == 5
    assert await count(store, {"customer": "c-1", "tier": 0}) == 2
    assert await count(store, {"customer": "c-2"}, status="RUNNING", workflow_type="B") == 2
    assert await count(store, {"customer": "c-2"}, started_before=4.0) == 2
    assert await count(store, {}) == 10


async def test_filtered_pages_follow_the_list_order(store: Store) -> None:
    # Equal start times: the tie is broken by workflow id, then run id, as unfiltered.
    await insert(store, *(execution(f"w{i:02}", float(i // 3), {"k": "x" if i % 4 else "y"})
                          for i in range(24)))
    want = await ids(store, {"k": "x"})
    assert len(want) == 18
    unfiltered = await store.read(lambda t: t.list_executions(NS, ListFilter(), 100, None))
    assert want == [r.workflow_id for r in unfiltered
                    if r.search_attributes["k"] == "x"]
    got: list[str] = []
    after = None
    while True:
        page = await store.read(lambda t, after=after: t.list_executions(
            NS, ListFilter(search_attributes={"k": "x"}), 5, after))
        got += [r.workflow_id for r in page]
        if len(page) < 5:
            break
        after = (page[-1].start_time, page[-1].workflow_id, page[-1].run_id)
    assert got == want


async def test_equality_is_json_equality(store: Store) -> None:
    long_text = "z" * 5000
    await insert(store,
                 execution("int", 1.0, {"v": 1}), execution("float", 2.0, {"v": 1.0}),
                 execution("text", 3.0, {"v": "1"}), execution("true", 4.0, {"v": True}),
                 execution("half", 5.0, {"v": 1.5}), execution("big", 6.0, {"v": 2**60}),
                 execution("list", 7.0, {"v": [1, "a", {"b": 2}]}),
                 execution("none", 8.0, {"v": None}), execution("long", 9.0, {"v": long_text}))
    assert await ids(store, {"v": 1}) == ["float", "int"]
    assert await ids(store, {"v": 1.0}) == ["float", "int"]
    assert await ids(store, {"v": "1"}) == ["text"]
    # Python says True == 1; JSON (and this filter) does not.
    assert await ids(store, {"v": True}) == ["true"]
    assert await ids(store, {"v": False}) == []
    assert await ids(store, {"v": 1.5}) == ["half"]
    assert await ids(store, {"v": 2**60}) == ["big"]
    assert await ids(store, {"v": 2**60 + 1}) == []
    assert await ids(store, {"v": [1.0, "a", {"b": 2}]}) == ["list"]
    assert await ids(store, {"v": [1, "a"]}) == []
    assert await ids(store, {"v": None}) == ["none"]
    assert await ids(store, {"v": long_text}) == ["long"]
    assert await ids(store, {"v": long_text + "!"}) == []


async def test_text_the_database_cannot_hold_is_indexed_by_its_hash(store: Store) -> None:
    # PostgreSQL text cannot hold NUL; the HTTP layer refuses it in names, but not inside
    # objects shaped like payload envelopes, nor in a filter's JSON.
    await insert(store, execution("nul", 1.0, {"encoding": "x", "data": "a\x00b",
                                               "v": {"data": "\x00"}}))
    assert await ids(store, {"data": "a\x00b", "v": {"data": "\x00"}}) == ["nul"]
    assert await ids(store, {"k\x00": "\x00"}) == []


def test_canonical_values() -> None:
    assert index_value(1) == index_value(1.0) == "n:1"
    assert len({index_value(v) for v in (1, "1", True, [1], None, "null")}) == 6
    assert index_value({"b": 1, "a": 2.0}) == index_value({"a": 2, "b": 1.0})
    assert len(index_value("x" * 10_000)) < 100


async def test_upsert_changes_what_matches_and_deletion_forgets(store: Store) -> None:
    await insert(store, execution("w", 1.0, {"stage": "new", "brand": "acme"}),
                 execution("v", 2.0, {"stage": "new"}))

    def upsert(t: Txn) -> None:
        row = t.get_execution(NS, "w", "r1")
        assert row is not None
        t.upsert_search_attributes(row, {"stage": "done", "owner": "me"})
        assert row.search_attributes == {"stage": "done", "brand": "acme", "owner": "me"}
    await store.write(upsert)
    assert await ids(store, {"stage": "new"}) == ["v"]
    assert await ids(store, {"stage": "done", "brand": "acme", "owner": "me"}) == ["w"]
    row = await store.read(lambda t: t.get_execution(NS, "w", "r1"))
    assert row is not None and row.search_attributes["stage"] == "done"
    await store.write(lambda t: t.delete_run(NS, "w", "r1"))
    assert await ids(store, {"brand": "acme"}) == []
    left = await store.read(lambda t: t.cur.execute(
        "SELECT workflow_id, COUNT(*) FROM search_attributes GROUP BY workflow_id").fetchall())
    assert [tuple(r) for r in left] == [("v", 1)]


async def test_an_upsert_that_fails_leaves_the_index_as_it_was(store: Store) -> None:
    await insert(store, execution("w", 1.0, {"stage": "new"}))

    def upsert_then_fail(t: Txn) -> None:
        row = t.get_execution(NS, "w", "r1")
        assert row is not None
        t.upsert_search_attributes(row, {"stage": "done"})
        raise RuntimeError("the state change failed after the upsert")
    with pytest.raises(RuntimeError):
        await store.write(upsert_then_fail)
    assert await ids(store, {"stage": "new"}) == ["w"]
    assert await ids(store, {"stage": "done"}) == []


async def test_the_migration_indexes_runs_that_predate_it(backend: str, db_url: str) -> None:
    """A database at schema version 2 with attributes only in the JSON column: opening it
    migrates to the index and fills it."""
    before = [(v, name, sql) for v, name, sql in migrations(backend) if v <= 2]
    rows = [(NS, f"w{i}", "r1", "Order", "q", "COMPLETED", float(i), None, 1, "{}", None,
             dumps_str({"customer": f"c-{i % 2}", "tier": 1.0}), None) for i in range(6)]
    rows.append((NS, "bare", "r1", "Order", "q", "COMPLETED", 9.0, None, 1, "{}", None,
                 None, None))
    if backend == "sqlite":
        _old_sqlite(db_url[len("sqlite:///"):], before, rows)
        store: Store = SQLiteStore(db_url[len("sqlite:///"):])
    else:
        _old_postgres(db_url, before, rows)
        store = PostgresStore(db_url)
    try:
        assert await ids(store, {"customer": "c-1"}) == ["w5", "w3", "w1"]
        assert await count(store, {"tier": 1}) == 6
        assert await count(store, {}) == 7
    finally:
        await store.close()


_INSERT = "INSERT INTO executions VALUES ({})".format(", ".join(["?"] * 13))


def _old_sqlite(path: str, before: list[tuple[int, str, str]], rows: list[Any]) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_migrations "
                 "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)")
    for version, name, sql in before:
        conn.executescript(sql)
        conn.execute("INSERT INTO schema_migrations VALUES (?, ?, 0)", (version, name))
    conn.executemany(_INSERT, rows)
    conn.commit()
    conn.close()


def _old_postgres(url: str, before: list[tuple[int, str, str]], rows: list[Any]) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
                     "name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)")
        for version, name, sql in before:
            conn.execute(sql.encode())
            conn.execute("INSERT INTO schema_migrations VALUES (%s, %s, 0)", (version, name))
        with conn.cursor() as cur:
            cur.executemany(_INSERT.replace("?", "%s"), rows)
