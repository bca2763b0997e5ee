"""A worker whose cache is full evicts a workflow: its cleanup runs once, inside its loop."""

from __future__ import annotations

import gc

from plait import Worker, workflow
from plait.testing import WorkflowEnvironment
from tests.waiting import NotYet, eventually, history_has

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


async def cached(worker: Worker, workflow_id: str) -> None:
    def check() -> bool | NotYet:
        ids = cached_ids(worker)
        return workflow_id in ids or NotYet(ids)
    await eventually(check, what=f"{workflow_id} in the worker's cache")


async def test_evicted_workflow_cleans_up_in_its_loop_then_where_history_says(
        env: WorkflowEnvironment, queue: str) -> None:
    cleanups.clear()
    a_id, b_id = f"{queue}-a", f"{queue}-b"
    async with Worker(env.client, task_queue=queue, workflows=[WaitsForRelease],
                      max_cached_workflows=1) as worker:
        a = await env.client.start_workflow(WaitsForRelease.run, id=a_id,
                                            task_queue=queue)
        await history_has(a, "WORKFLOW_TASK_COMPLETED")
        await cached(worker, a_id)
        b = await env.client.start_workflow(WaitsForRelease.run, id=b_id,
                                            task_queue=queue)
        await history_has(b, "WORKFLOW_TASK_COMPLETED")
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
        await history_has(c, "WORKFLOW_TASK_COMPLETED")
        await cached(worker, c_id)
        assert cleanups == []
    assert cleanups == [(c_id, "in the loop")]
    assert not worker.workflow_tasks.cache
