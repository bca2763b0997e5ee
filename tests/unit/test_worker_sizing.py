"""A Worker's slot counts and sync thread pool: the defaults (issue 15: a default worker as
fast as the tuned benchmark worker) and the user's own values, kept exactly."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from plait import Client, Worker, activity, workflow
from plait.protocol.transport import MockTransport, Request, Response


@activity.defn
async def fetch(n: int) -> int:
    return n


@activity.defn
def blocking(n: int) -> int:
    return n


@workflow.defn
class Flow:
    @workflow.run
    async def run(self) -> None:
        return None


def _client() -> Client:
    async def refuse(request: Request) -> Response:
        raise AssertionError(f"constructing a worker sent {request.method} {request.url}")
    return Client(MockTransport(refuse))


def _threads(worker: Worker) -> int:
    """The size of the worker's own pool for sync activities."""
    pool = worker._acts.executor
    assert isinstance(pool, ThreadPoolExecutor)
    return int(pool._max_workers)  # the pool's bound; its threads are made on demand


def test_a_default_worker_of_async_activities_gets_the_tuned_slot_counts() -> None:
    worker = Worker(_client(), task_queue="q", workflows=[Flow], activities=[fetch])
    assert worker.workflow_slots.size == 300
    assert worker.activity_slots.size == 300
    assert _threads(worker) == 100  # bounded anyway, should a sync attempt ever run


def test_a_default_worker_with_a_sync_activity_keeps_100_slots_and_100_threads() -> None:
    for acts in ([blocking], [fetch, blocking]):
        worker = Worker(_client(), task_queue="q", workflows=[Flow], activities=acts)
        assert worker.activity_slots.size == 100, acts
        assert _threads(worker) == 100, acts  # never more threads than the user asked for
        assert worker.workflow_slots.size == 300, acts  # workflow tasks hold no thread


def test_a_workflow_only_worker_gets_the_default_workflow_task_slots() -> None:
    worker = Worker(_client(), task_queue="q", workflows=[Flow])
    assert worker.workflow_slots.size == 300


@pytest.mark.parametrize("acts", [[fetch], [blocking], [fetch, blocking]])
def test_values_passed_are_used_exactly(acts: list[object]) -> None:
    for given in (1, 7, 100, 300, 1000):
        worker = Worker(_client(), task_queue="q", workflows=[Flow], activities=acts,
                        max_concurrent_activities=given,
                        max_concurrent_workflow_tasks=given + 1)
        assert worker.activity_slots.size == given
        assert worker.workflow_slots.size == given + 1
        assert _threads(worker) == given  # asked for: as many threads as slots, as before


def test_one_count_given_leaves_the_other_at_its_default() -> None:
    worker = Worker(_client(), task_queue="q", workflows=[Flow], activities=[fetch],
                    max_concurrent_workflow_tasks=5)
    assert (worker.workflow_slots.size, worker.activity_slots.size) == (5, 300)
    worker = Worker(_client(), task_queue="q", workflows=[Flow], activities=[blocking],
                    max_concurrent_activities=5)
    assert (worker.workflow_slots.size, worker.activity_slots.size) == (300, 5)


def test_a_pool_passed_in_is_used_and_the_default_slots_follow_the_activities() -> None:
    pool = ThreadPoolExecutor(max_workers=3)
    try:
        worker = Worker(_client(), task_queue="q", activities=[blocking],
                        activity_executor=pool)
        assert worker._acts.executor is pool
        assert worker.activity_slots.size == 100
    finally:
        pool.shutdown()


@pytest.mark.parametrize("option", ["max_concurrent_activities",
                                    "max_concurrent_workflow_tasks"])
def test_a_count_below_one_is_refused(option: str) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Worker(_client(), task_queue="q", workflows=[Flow], activities=[fetch],
               **{option: 0})
