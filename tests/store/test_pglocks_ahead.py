"""A group's later changes have their runs locked and read ahead, in one round trip
(``pgtxn.LocksAhead``): what each change then reads is what it would have read itself, a
run an earlier change of the group changed is read again, and a run another transaction
holds is left to its change (which waits for it alone, as before)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from plait.store.base import TaskRow, Txn
from plait.store.history import StoredEvent
from plait.store.postgres import PostgresStore
from tests.store.pgdb import wait_in_change
from tests.store.test_pg_round_trips import trips
from tests.store.test_txn import NS, add_task, execution

RUNS = 5


@pytest.fixture
def store(grouped_pg: PostgresStore) -> PostgresStore:
    return grouped_pg


class Completion:
    """A change shaped like a task's completion: the task (fencing), then its run, then the
    run saved with one more event. Records the round trips its reads took and what it saw."""

    def __init__(self, task_id: int) -> None:
        self.task_id = task_id
        self.trips = -1
        self.seen: tuple[TaskRow | None, int] = (None, 0)
        """The task as read, and the run's next event id as read."""
        self.runs = 0

    def __call__(self, t: Txn) -> int:
        self.runs += 1
        before = trips(t)
        task = t.get_task(self.task_id)
        assert task is not None
        run = t.get_execution(NS, task.workflow_id, task.run_id)
        assert run is not None
        self.trips = trips(t) - before
        self.seen = (task, run.next_event_id)
        n = run.next_event_id
        run.next_event_id += 1
        t.save_execution(run, n, [StoredEvent(n, f'{{"n": {n}}}')])
        return n


async def group_of(store: PostgresStore, *changes: tuple[Callable[[Txn], Any], int | None]
                   ) -> list[Any]:
    """Run ``changes`` (each with the task it names) as one group, in this order."""
    running, release = threading.Event(), threading.Event()

    def hold(t: Txn) -> None:
        running.set()
        assert wait_in_change(release, 30)
    held = asyncio.ensure_future(store.write(hold))
    await asyncio.to_thread(running.wait, 30)
    tasks = [asyncio.ensure_future(store.write(c, task=task)) for c, task in changes]
    await asyncio.sleep(0)
    release.set()
    await held
    return await asyncio.gather(*tasks, return_exceptions=True)


async def runs_with_tasks(store: PostgresStore, n: int = RUNS) -> list[int]:
    def setup(t: Txn) -> list[int]:
        ids = []
        for i in range(n):
            t.insert_execution(execution(wid=f"w{i}"))
            ids.append(add_task(t, wid=f"w{i}", kind="activity", ref="a"))
        return ids
    return await store.write(setup)


def fresh(store: PostgresStore, c: Completion) -> Any:
    task = c.seen[0]
    assert task is not None
    return store.read(lambda t: (t.get_task(c.task_id),
                                 t.get_execution(NS, task.workflow_id, task.run_id)))


async def test_the_later_changes_runs_are_locked_and_read_in_one_round_trip(
        store: PostgresStore) -> None:
    changes = [Completion(task_id) for task_id in await runs_with_tasks(store)]
    outcomes = await group_of(store, *((c, c.task_id) for c in changes))
    assert outcomes == [1] * RUNS  # each saved its run's first event
    # The first change reads alone; the second's read brings everyone's; the rest wait
    # for nothing.
    assert [c.trips for c in changes] == [1, 1, 0, 0, 0]
    assert [c.runs for c in changes] == [1] * RUNS
    for c in changes:  # what was read ahead is what the change would have read itself
        task, run = await fresh(store, c)
        assert c.seen == (task, 1)
        assert run is not None and run.next_event_id == 2


async def test_without_the_task_a_change_reads_for_itself(store: PostgresStore) -> None:
    changes = [Completion(task_id) for task_id in await runs_with_tasks(store)]
    await group_of(store, *((c, None) for c in changes))
    assert [c.trips for c in changes] == [1] * RUNS


async def test_a_run_an_earlier_change_of_the_group_saved_is_read_again(
        store: PostgresStore) -> None:
    ids = await runs_with_tasks(store, 2)

    def second_task(t: Txn) -> int:
        return add_task(t, wid="w1", kind="activity", ref="b")
    other = await store.write(second_task)
    changes = [Completion(ids[0]), Completion(ids[1]), Completion(other)]
    # w1's two tasks: the second change saves w1 after the reads ahead went out, and the
    # third appends after what the second wrote (event 2), not over it.
    assert await group_of(store, *((c, c.task_id) for c in changes)) == [1, 1, 2]
    assert [c.runs for c in changes] == [1, 1, 1]


async def test_a_run_another_transaction_holds_is_left_to_its_change(
        store: PostgresStore, pg_url: str) -> None:
    ids = await runs_with_tasks(store, 3)
    changes = [Completion(task_id) for task_id in ids]
    other = await asyncio.to_thread(lambda: psycopg.connect(pg_url))
    try:
        await asyncio.to_thread(other.execute, "BEGIN")
        await asyncio.to_thread(
            other.execute, "SELECT 1 FROM executions WHERE workflow_id = 'w1' FOR UPDATE")
        group = asyncio.ensure_future(group_of(store, *((c, c.task_id) for c in changes)))
        # The others are answered while w1 is held; w1's change waits for it, alone.
        deadline = asyncio.get_running_loop().time() + 10
        while changes[2].runs == 0 or changes[0].runs == 0:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.01)
        assert not group.done()
        await asyncio.to_thread(other.execute, "ROLLBACK")
        assert await group == [1, 1, 1]
    finally:
        await asyncio.to_thread(other.close)
    for c in changes:
        _, run = await fresh(store, c)
        assert run is not None and run.next_event_id == 2
