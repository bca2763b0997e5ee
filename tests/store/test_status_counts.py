"""Counts per status in one query, on every backend, with every filter the list takes; and
the listing version that lets a conditional list skip the database (SQLite only: a shared
PostgreSQL cannot know what other servers changed, and says so)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from plait.store.base import ExecutionRow, Store, Txn
from plait.store.run_state import RunState
from plait.store.search_index import ListFilter

NS = "ns"
STATUSES = ["RUNNING", "COMPLETED", "FAILED", "RUNNING", "TERMINATED", "COMPLETED",
            "CANCELED", "RUNNING", "TIMED_OUT", "CONTINUED_AS_NEW", "COMPLETED", "FAILED"]


def run(i: int, status: str, *, ns: str = NS) -> ExecutionRow:
    closed = None if status == "RUNNING" else 100.0 + i
    return ExecutionRow(ns, f"w{i:02d}", "r1", "A" if i % 2 else "B", "q", status, float(i),
                        closed, 3, RunState(), None, {"tier": i % 3}, None)


async def fill(store: Store) -> list[ExecutionRow]:
    rows = [run(i, s) for i, s in enumerate(STATUSES)]

    def go(t: Txn) -> None:
        for r in rows:
            t.insert_execution(r)
        t.insert_execution(run(99, "RUNNING", ns="elsewhere"))
    await store.write(go)
    return rows


def expected(rows: list[ExecutionRow], keep: Any = lambda r: True) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        if keep(r):
            out[r.status] = out.get(r.status, 0) + 1
    return out


async def by_status(store: Store, **filters: Any) -> dict[str, int]:
    return await store.read(lambda t: t.count_executions_by_status(NS, ListFilter(**filters)))


async def test_counts_per_status_match_counting_each_status(store: Store) -> None:
    rows = await fill(store)
    assert await by_status(store) == expected(rows) == {
        "RUNNING": 3, "COMPLETED": 3, "FAILED": 2, "TERMINATED": 1, "CANCELED": 1,
        "TIMED_OUT": 1, "CONTINUED_AS_NEW": 1}
    for status, n in expected(rows).items():
        assert await store.read(lambda t, s=status: t.count_executions(
            NS, ListFilter(status=s))) == n
    assert await store.read(
        lambda t: t.count_executions_by_status("nobody", ListFilter())) == {}


async def test_counts_per_status_take_every_filter(store: Store) -> None:
    rows = await fill(store)
    assert await by_status(store, workflow_type="A") == expected(
        rows, lambda r: r.workflow_type == "A")
    assert await by_status(store, started_after=3.0, started_before=9.0) == expected(
        rows, lambda r: 3.0 <= r.start_time < 9.0)
    assert await by_status(store, status="FAILED") == {"FAILED": 2}
    # A search attribute reads the index first, and each run's status by its key.
    assert await by_status(store, search_attributes={"tier": 1}) == expected(
        rows, lambda r: r.search_attributes["tier"] == 1)
    assert await by_status(store, search_attributes={"tier": 0}, workflow_type="B",
                           started_after=2.0) == expected(
        rows, lambda r: r.search_attributes["tier"] == 0 and r.workflow_type == "B"
        and r.start_time >= 2.0)
    assert await by_status(store, search_attributes={"tier": 7}) == {}


async def test_counts_follow_a_close(store: Store) -> None:
    rows = await fill(store)
    first = rows[0]
    closed = dataclasses.replace(first, status="COMPLETED", close_time=50.0, next_event_id=4)
    await store.write(lambda t: t.update_execution(closed, first.next_event_id))
    after = await by_status(store)
    assert after["RUNNING"] == 2 and after["COMPLETED"] == 4


async def test_the_listing_version_moves_with_what_lists_show(backend: str,
                                                             store: Store) -> None:
    if backend == "postgres":
        await fill(store)
        assert store.listing_version(NS) is None  # other servers change it unseen
        return
    v0 = store.listing_version(NS)
    rows = await fill(store)
    v1 = store.listing_version(NS)
    assert v1 != v0

    # A new event moves next_event_id and the state only: nothing a list shows.
    r = rows[0]
    moved = dataclasses.replace(r, next_event_id=r.next_event_id + 1)
    await store.write(lambda t: t.update_execution(moved, r.next_event_id))
    assert store.listing_version(NS) == v1
    await store.write(lambda t: t.store_response(NS, "req-1", {}, 1.0))
    assert store.listing_version(NS) == v1

    changes: list[Any] = [
        lambda t: t.update_execution(dataclasses.replace(
            moved, status="FAILED", close_time=9.0, next_event_id=moved.next_event_id + 1),
            moved.next_event_id),
        lambda t: t.upsert_search_attributes(rows[1], {"tier": 42}),
        lambda t: t.delete_run(NS, rows[2].workflow_id, rows[2].run_id),
        lambda t: t.insert_execution(run(50, "RUNNING")),
    ]
    seen = {v1}
    for change in changes:
        other = store.listing_version("elsewhere")
        await store.write(change)
        now = store.listing_version(NS)
        assert now not in seen
        seen.add(now)
        assert store.listing_version("elsewhere") == other  # namespaces apart
    # The same attribute value again changes nothing shown.
    await store.write(lambda t: t.upsert_search_attributes(rows[1], {"tier": 42}))
    assert store.listing_version(NS) == now

    def fails(t: Txn) -> None:
        t.insert_execution(run(51, "RUNNING"))
        raise RuntimeError("rolled back")
    with pytest.raises(RuntimeError):
        await store.write(fails)
    assert store.listing_version(NS) == now  # a rolled-back change counts nothing
