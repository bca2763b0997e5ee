"""A default worker's slots grow with a real backlog and stay within the cap; a worker given
its counts keeps them (issue 15; the rules themselves: ``tests/unit/test_worker_sizing.py``)."""

from __future__ import annotations

import asyncio

from plait import Worker, workflow
from plait._worker.sizing import BASE, CAP
from plait.testing import WorkflowEnvironment
from tests.waiting import NotYet, eventually

RUNS = 400


@workflow.defn
class Quick:
    @workflow.run
    async def run(self, n: int) -> int:
        return n


async def _backlog(env: WorkflowEnvironment, queue: str) -> list[object]:
    """``RUNS`` workflows waiting in the queue before any worker polls it."""
    return await asyncio.gather(*(env.client.start_workflow(
        Quick.run, i, id=f"{queue}-{i}", task_queue=queue) for i in range(RUNS)))


async def test_a_default_worker_grows_its_slots_with_a_backlog(env: WorkflowEnvironment,
                                                               queue: str) -> None:
    handles = await _backlog(env, queue)
    seen: list[int] = []
    async with Worker(env.client, task_queue=queue, workflows=[Quick]) as worker:
        assert worker.workflow_slots.size == BASE

        def grown() -> int | NotYet:
            seen.append(worker.workflow_slots.size)
            return seen[-1] if seen[-1] > BASE else NotYet(seen[-1])
        await eventually(grown, what="workflow slots above the base", interval=0.01)
        results = [await h.result() for h in handles]  # type: ignore[attr-defined]
    assert results == list(range(RUNS))
    assert max(seen) <= CAP


async def test_counts_given_are_kept_under_the_same_backlog(env: WorkflowEnvironment,
                                                            queue: str) -> None:
    handles = await _backlog(env, queue)
    async with Worker(env.client, task_queue=queue, workflows=[Quick],
                      max_concurrent_workflow_tasks=100) as worker:
        results = [await h.result() for h in handles]  # type: ignore[attr-defined]
        assert worker.workflow_slots.size == 100
        assert worker.growth == {}
    assert results == list(range(RUNS))
