"""Batch job rows on every backend: created once, read back whole (the list filter, the
signal's payloads, reset options), progress saved, listed newest first in pages, and the
runner's view: the earliest due page, and a due job claimed by one transaction at a time."""

from __future__ import annotations

import asyncio

from plait.protocol.batches import ResetOptions
from plait.store.base import Store, Txn
from plait.store.batches import BatchJob
from plait.store.search_index import ListFilter

NS = "default"


def job(bid: str, created: float = 10.0, due: float | None = 100.0) -> BatchJob:
    return BatchJob(
        namespace=NS,
        batch_id=bid,
        operation="signal",
        filter=ListFilter(
            workflow_type="Order",
            status="RUNNING",
            search_attributes={"tier": 3, "region": "eu"},
            started_after=1.5,
            started_before=created,
        ),
        rate=25.0,
        created_at=created,
        reason="repair",
        signal_name="approve",
        signal_input=[{"encoding": "json", "data": {"by": "ops"}}],
        header={"trace": "t-1"},
        reset=ResetOptions(to="last_workflow_task"),
        identity="ops-cli",
        total=7,
        next_run_at=due,
    )


async def test_create_once_read_save_progress(store: Store) -> None:
    assert await store.write(lambda t: t.insert_batch(job("a")))
    assert not await store.write(lambda t: t.insert_batch(job("a", due=5.0)))
    got = await store.read(lambda t: t.get_batch(NS, "a"))
    assert got == job("a")
    assert await store.read(lambda t: t.get_batch("other", "a")) is None

    def advance(t: Txn) -> None:
        j = t.get_batch(NS, "a", lock=True)
        assert j is not None
        j.done, j.failed, j.last_error = 5, 1, "w-3: not found"
        j.cursor = (12.5, "w-3", "r-3")
        j.state, j.closed_at, j.next_run_at, j.total = "completed", 20.0, None, 6
        t.save_batch(j)

    await store.write(advance)
    got = await store.read(lambda t: t.get_batch(NS, "a"))
    assert got is not None
    assert (got.state, got.total, got.done, got.failed) == ("completed", 6, 5, 1)
    assert got.cursor == (12.5, "w-3", "r-3") and got.last_error == "w-3: not found"
    assert got.closed_at == 20.0 and got.next_run_at is None
    assert got.filter == job("a").filter and got.signal_input == job("a").signal_input


async def test_list_newest_first_in_pages(store: Store) -> None:
    for bid, created in (("b", 2.0), ("a", 3.0), ("c", 2.0), ("d", 1.0)):
        await store.write(lambda t, bid=bid, created=created: t.insert_batch(job(bid, created)))
    first = await store.read(lambda t: t.list_batches(NS, limit=2))
    assert [j.batch_id for j in first] == ["a", "c"]
    rest = await store.read(lambda t: t.list_batches(NS, after=(2.0, "c"), limit=5))
    assert [j.batch_id for j in rest] == ["b", "d"]
    assert await store.read(lambda t: t.list_batches("other")) == []


async def test_next_run_and_due_claims(store: Store) -> None:
    assert await store.read(lambda t: t.next_batch_run()) is None
    await store.write(lambda t: t.insert_batch(job("late", due=200.0)))
    await store.write(lambda t: t.insert_batch(job("early", due=50.0)))
    await store.write(lambda t: t.insert_batch(job("closed", due=None)))
    assert await store.read(lambda t: t.next_batch_run()) == 50.0
    assert await store.write(lambda t: t.claim_due_batches(49.0, 10)) == []
    assert await store.write(lambda t: t.claim_due_batches(300.0, 10)) == [
        (NS, "early"),
        (NS, "late"),
    ]


async def test_a_due_job_is_claimed_by_one_transaction_at_a_time(store: Store) -> None:
    """Two transactions look at once (PostgreSQL: two servers): one gets the job and moves
    its next page on; the other sees nothing due."""
    await store.write(lambda t: t.insert_batch(job("j", due=10.0)))
    claimed: list[list[tuple[str, str]]] = []

    def page(t: Txn) -> None:
        due = t.claim_due_batches(20.0, 10)
        claimed.append(due)
        for ns, bid in due:
            j = t.get_batch(ns, bid, lock=True)
            assert j is not None
            j.next_run_at = 30.0
            t.save_batch(j)

    await asyncio.gather(store.write(page), store.write(page))
    assert sorted(len(c) for c in claimed) == [0, 1]


async def test_closed_jobs_go_after_their_namespaces_retention(store: Store) -> None:
    def setup(t: Txn) -> None:
        t.create_namespace("default", 100.0, "", 0.0)
        for bid, closed in (("old", 50.0), ("recent", 150.0), ("open", None)):
            j = job(bid, due=None if closed else 10.0)
            j.closed_at = closed
            t.insert_batch(j)

    await store.write(setup)
    assert await store.write(lambda t: t.delete_expired_batches(200.0)) == 1
    left = await store.read(lambda t: t.list_batches(NS))
    assert sorted(j.batch_id for j in left) == ["open", "recent"]
