"""Schedule rows on every backend: create once, read, change, list in pages, delete, and the
timer service's view (the earliest ``next_fire_at``, due schedules claimed once)."""

from __future__ import annotations

import asyncio

from plait.protocol.schedules import ScheduleAction, ScheduleDefinition
from plait.server import schedules
from plait.store.base import Store, Txn
from plait.store.schedules import ScheduleRow, ScheduleState

NS = "default"


def row(sid: str, fire_at: float | None = 100.0) -> ScheduleRow:
    return ScheduleRow(NS, sid, ScheduleDefinition(workflow_type="W", task_queue="q",
                                                   cron="0 3 * * *", timezone="Europe/Paris"),
                       ScheduleState(next_due=fire_at), fire_at)


async def test_create_once_read_change_delete(store: Store) -> None:
    assert await store.write(lambda t: t.insert_schedule(row("a")))
    assert not await store.write(lambda t: t.insert_schedule(row("a", 5.0)))
    got = await store.read(lambda t: t.get_schedule(NS, "a"))
    assert got == row("a")
    assert await store.read(lambda t: t.get_schedule("other", "a")) is None

    def change(t: Txn) -> None:
        r = t.get_schedule(NS, "a", lock=True)
        assert r is not None
        r.state.num_actions = 3
        r.state.recent.append(ScheduleAction(scheduled_time=1.0, actual_time=1.5,
                                             workflow_id="a-1", run_id="r"))
        r.state.buffered = [2.0, 3.0]
        r.next_fire_at = None
        t.save_schedule(r)
    await store.write(change)
    got = await store.read(lambda t: t.get_schedule(NS, "a"))
    assert got is not None and got.next_fire_at is None
    assert got.state.num_actions == 3 and got.state.buffered == [2.0, 3.0]
    assert got.state.recent[0].workflow_id == "a-1"
    assert got.definition.timezone == "Europe/Paris"
    assert await store.write(lambda t: t.delete_schedule(NS, "a"))
    assert not await store.write(lambda t: t.delete_schedule(NS, "a"))
    assert await store.read(lambda t: t.get_schedule(NS, "a")) is None


async def test_list_in_pages(store: Store) -> None:
    for sid in ("c", "a", "b"):
        await store.write(lambda t, sid=sid: t.insert_schedule(row(sid)))
    first = await store.read(lambda t: t.list_schedules(NS, limit=2))
    assert [r.schedule_id for r in first] == ["a", "b"]
    rest = await store.read(lambda t: t.list_schedules(NS, after="b", limit=2))
    assert [r.schedule_id for r in rest] == ["c"]
    assert await store.read(lambda t: t.list_schedules("other")) == []


async def test_next_fire_and_due_claims(store: Store) -> None:
    assert await store.read(lambda t: t.next_schedule_fire()) is None
    await store.write(lambda t: t.insert_schedule(row("late", 200.0)))
    await store.write(lambda t: t.insert_schedule(row("early", 50.0)))
    await store.write(lambda t: t.insert_schedule(row("paused", None)))
    assert await store.read(lambda t: t.next_schedule_fire()) == 50.0
    assert await store.write(lambda t: t.claim_due_schedules(49.0, 10)) == []
    assert await store.write(lambda t: t.claim_due_schedules(300.0, 10)) == [
        (NS, "early"), (NS, "late")]


async def test_a_due_schedule_is_claimed_by_one_transaction_at_a_time(store: Store) -> None:
    """Two transactions look at once (PostgreSQL: two servers): one gets the schedule and
    moves it on; the other sees nothing due."""
    await store.write(lambda t: t.insert_schedule(row("s", 10.0)))
    claimed: list[list[tuple[str, str]]] = []

    def fire(t: Txn) -> None:
        due = t.claim_due_schedules(20.0, 10)
        claimed.append(due)
        for ns, sid in due:
            r = t.get_schedule(ns, sid, lock=True)
            assert r is not None
            r.next_fire_at = 30.0
            t.save_schedule(r)
    await asyncio.gather(store.write(fire), store.write(fire))
    assert sorted(len(c) for c in claimed) == [0, 1]


async def test_a_schedule_is_hastened_only_to_an_earlier_look(store: Store) -> None:
    """A run the schedule started closed: its next look moves forward, never back, and a
    schedule with no next look (finished) keeps none."""
    await store.write(lambda t: t.insert_schedule(row("late", 100.0)))
    await store.write(lambda t: t.insert_schedule(row("done", None)))
    assert await store.write(lambda t: t.hasten_schedule(NS, "late", 40.0))
    assert not await store.write(lambda t: t.hasten_schedule(NS, "late", 60.0))
    assert not await store.write(lambda t: t.hasten_schedule(NS, "done", 40.0))
    assert not await store.write(lambda t: t.hasten_schedule(NS, "missing", 40.0))
    late = await store.read(lambda t: t.get_schedule(NS, "late"))
    done = await store.read(lambda t: t.get_schedule(NS, "done"))
    assert late is not None and late.next_fire_at == 40.0
    assert done is not None and done.next_fire_at is None


async def test_a_schedule_is_described_in_a_read_transaction(store: Store) -> None:
    """describeSchedule reads without a lock: PostgreSQL refuses FOR UPDATE in a read-only
    transaction (it was a 500, found by the fuzzer on PostgreSQL)."""
    await store.write(lambda t: t.insert_schedule(row("a", None)))
    desc = await store.read(lambda t: schedules.describe(t, NS, "a", 50.0))
    assert desc.schedule_id == "a" and desc.definition.cron == "0 3 * * *"
