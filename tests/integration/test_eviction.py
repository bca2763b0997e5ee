"""A worker whose cache is full evicts a workflow: its cleanup runs once, inside its loop."""

from __future__ import annotations

import asyncio
import gc

from plait import Worker, workflow
from plait.client import WorkflowHandle
from plait.testing import WorkflowEnvironment

cleanups: list[tuple[str, str]] = []
"""(workflow id, where its ``finally:`` ran)."""


@workflow.defn
class WaitsForRelease:
    def __init__(self) -> None:
        self.released = False

    @workflow.run
    async def run(self) -> str:
        wid = workflow.info().workflow_id
        try:
            await workflow.wait_condition(lambda: self.released)
            return "released"
        finally:
            cleanups.append((wid, "in the loop" if workflow.in_workflow() else "outside"))

    @workflow.signal
    def release(self) -> None:
        self.released = True


def cached_ids(worker: Worker) -> set[str]:
    return {inst.info.workflow_id for inst in worker.workflow_tasks.cache.values()}


async def cached(worker: Worker, workflow_id: str, present: bool = True) -> None:
    for _ in range(400):
        if (workflow_id in cached_ids(worker)) == present:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{workflow_id} never {'entered' if present else 'left'} the cache")


async def first_task_done(handle: WorkflowHandle) -> None:
    for _ in range(400):
        history = await handle.fetch_history()
        if any(e.event_type == "WORKFLOW_TASK_COMPLETED" for e in history.events):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{handle.id} never completed its first workflow task")


async def test_evicted_workflow_cleans_up_in_its_loop_then_where_history_says(
        env: WorkflowEnvironment, queue: str) -> None:
    cleanups.clear()
    a_id, b_id = f"{queue}-a", f"{queue}-b"
    async with Worker(env.client, task_queue=queue, workflows=[WaitsForRelease],
                      max_cached_workflows=1) as worker:
        a = await env.client.start_workflow(WaitsForRelease.run, id=a_id,
                                            task_queue=queue)
        await first_task_done(a)
        await cached(worker, a_id)
        b = await env.client.start_workflow(WaitsForRelease.run, id=b_id,
                                            task_queue=queue)
        await first_task_done(b)
        await cached(worker, b_id)  # and so a, the least recently used, is evicted
        assert cached_ids(worker) == {b_id}
        gc.collect()  # before: collecting the dropped instance ran a's finally, outside
        assert cleanups == [(a_id, "in the loop")]
        await a.signal(WaitsForRelease.release)
        assert await a.result() == "released"  # replayed from history, then completed
        await b.signal(WaitsForRelease.release)
        assert await b.result() == "released"  # from the cache
    gc.collect()
    assert sorted(cleanups) == [(a_id, "in the loop"), (a_id, "in the loop"), (b_id, "in the loop")]


async def test_shutdown_unwinds_cached_workflows(env: WorkflowEnvironment, queue: str) -> None:
    cleanups.clear()
    c_id = f"{queue}-c"
    async with Worker(env.client, task_queue=queue, workflows=[WaitsForRelease]) as worker:
        c = await env.client.start_workflow(WaitsForRelease.run, id=c_id, task_queue=queue)
        await first_task_done(c)
        await cached(worker, c_id)
        assert cleanups == []
    assert cleanups == [(c_id, "in the loop")]
    assert not worker.workflow_tasks.cache
