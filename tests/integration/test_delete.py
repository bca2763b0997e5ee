"""Deleting a run: it goes away with its history, attempt log, timers, tasks and visibility
rows; a running run is terminated first."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
import pytest

from plait import Worker, activity, workflow
from plait.errors import WorkflowNotFoundError
from plait.testing import WorkflowEnvironment
from tests.waiting import history_has


@activity.defn
async def shout(name: str) -> str:
    return name.upper()


@workflow.defn
class ShoutThenWait:
    @workflow.run
    async def run(self, name: str, wait: float) -> str:
        loud = await workflow.execute_activity(shout, name,
                                               start_to_close_timeout=timedelta(seconds=5))
        await workflow.sleep(wait)
        return loud


async def _gone(env: WorkflowEnvironment, wid: str, run_id: str) -> None:
    handle = env.client.get_workflow_handle(wid)
    with pytest.raises(WorkflowNotFoundError):
        await handle.describe()
    with pytest.raises(WorkflowNotFoundError):
        await handle.fetch_history()
    with pytest.raises(WorkflowNotFoundError):
        await env.client.get_workflow_handle(wid, run_id=run_id).describe()
    assert wid not in [w.workflow_id async for w in env.client.list_workflows()]
    assert wid not in [w.workflow_id async for w in env.client.list_workflows(
        search_attributes={"Customer": "ada"})]


async def test_a_closed_run_is_deleted_with_everything_kept_about_it(
        env: WorkflowEnvironment, queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[ShoutThenWait],
                      activities=[shout]):
        handle = await env.client.start_workflow(ShoutThenWait.run, "ada", 0.0, id="done",
                                                 task_queue=queue,
                                                 search_attributes={"Customer": "ada"})
        other = await env.client.start_workflow(ShoutThenWait.run, "bob", 0.0, id="kept",
                                                task_queue=queue,
                                                search_attributes={"Customer": "ada"})
        assert await handle.result() == "ADA"
        assert await other.result() == "BOB"
    assert (await handle.describe()).attempts
    assert await env.client.count_workflows(search_attributes={"Customer": "ada"}) == 2
    await handle.delete()
    await _gone(env, "done", handle.run_id or "")
    assert await env.client.count_workflows() == 1
    assert await env.client.count_workflows(search_attributes={"Customer": "ada"}) == 1
    assert await other.result() == "BOB"  # the other run is untouched


async def test_a_running_run_is_terminated_then_deleted(env: WorkflowEnvironment,
                                                        queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[ShoutThenWait],
                      activities=[shout]):
        handle = await env.client.start_workflow(ShoutThenWait.run, "ada", 600.0,
                                                 id="running", task_queue=queue,
                                                 search_attributes={"Customer": "ada"})
        await history_has(handle, "TIMER_STARTED")
        await handle.delete()
        await _gone(env, "running", handle.run_id or "")
        assert await env.client.count_workflows() == 0
        # The id is free again: a new run of it starts and finishes as usual.
        again = await env.client.start_workflow(ShoutThenWait.run, "eve", 0.0, id="running",
                                                task_queue=queue)
        assert await again.result() == "EVE"


async def test_deleting_an_unknown_run_is_not_found(env: WorkflowEnvironment,
                                                    queue: str) -> None:
    with pytest.raises(WorkflowNotFoundError):
        await env.client.get_workflow_handle("nobody").delete()
    handle = await env.client.start_workflow(ShoutThenWait.run, "ada", 0.0, id="twice",
                                             task_queue=queue)
    await handle.delete()
    with pytest.raises(WorkflowNotFoundError):
        await handle.delete()
    url = f"{env.address}/api/v1/namespaces/default/workflows/twice"
    async with aiohttp.ClientSession() as http:
        async with http.delete(url, params={"run_id": "no-such-run"}) as r:
            assert r.status == 404
            assert (await r.json())["error"]["code"] == "workflow_not_found"
        again = await env.client.start_workflow(ShoutThenWait.run, "ada", 0.0, id="twice",
                                                task_queue=queue)
        for _ in range(2):  # a retry after a lost response gets the first answer
            async with http.delete(url, params={"request_id": "del-1"}) as r:
                assert r.status == 200
                assert (await r.json())["run_id"] == again.run_id
    with pytest.raises(WorkflowNotFoundError):
        await again.describe()
