"""Worker sessions: graceful shutdown, and tasks whose dispatch never reached the worker."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import aiohttp

from plait import Worker, activity, workflow
from plait.testing import WorkflowEnvironment
from tests.waiting import NotYet, eventually

began: list[str] = []
finished: list[str] = []


@activity.defn
async def slow_step(name: str) -> str:
    began.append(name)
    await asyncio.sleep(0.5)  # work that is still running when the worker is asked to stop
    finished.append(name)
    return name


@workflow.defn
class TwoSteps:
    @workflow.run
    async def run(self) -> list[str]:
        a = await workflow.execute_activity(slow_step, "a",
                                            start_to_close_timeout=timedelta(seconds=60))
        b = await workflow.execute_activity(slow_step, "b",
                                            start_to_close_timeout=timedelta(seconds=60))
        return [a, b]


async def test_graceful_shutdown_finishes_running_work_and_hands_back_the_rest(
        env: WorkflowEnvironment, queue: str) -> None:
    began.clear()
    finished.clear()
    handle = await env.client.start_workflow(TwoSteps.run, id="g-1", task_queue=queue)
    worker = Worker(env.client, task_queue=queue, workflows=[TwoSteps], activities=[slow_step])
    async with worker:
        await eventually(lambda: began, what='"a" running')
        assert finished == []  # shut down while "a" runs
    # Shutdown waited for "a" to finish and report.
    assert finished == ["a"]
    # The next worker takes over at once: the closed session left nothing to expire.
    started = time.monotonic()
    async with Worker(env.client, task_queue=queue, workflows=[TwoSteps],
                      activities=[slow_step]):
        assert await handle.result() == ["a", "b"]
    assert time.monotonic() - started < 2.0  # no 3 s session expiry to wait out
    desc = await handle.describe()
    assert [a.outcome for a in desc.attempts] == ["completed", "completed"]


async def test_task_whose_dispatch_was_lost_is_offered_again(env: WorkflowEnvironment,
                                                             queue: str) -> None:
    """A worker whose poll response was lost does not list the task as held; the server
    re-offers it after a short grace, long before any timeout."""
    ns = env.address + "/api/v1/namespaces/default"
    handle = await env.client.start_workflow(TwoSteps.run, id="lost-1", task_queue=queue,
                                             task_timeout=timedelta(seconds=60))
    async with aiohttp.ClientSession() as http:
        async with http.post(ns + "/sessions", json={"task_queue": queue,
                                                      "identity": "ghost"}) as r:
            session = (await r.json())["session_id"]
        async with http.post(ns + f"/task-queues/{queue}/poll", json={
                "session_id": session, "kind": "workflow", "wait": 5}) as r:
            tasks = (await r.json())["tasks"]
        assert len(tasks) == 1  # claimed... and "lost" on the way

        async def alive_until_offered_again() -> bool | NotYet:
            # The session lives on (it heartbeats) but does not list the task as held.
            async with http.post(env.address + f"/api/v1/sessions/{session}/heartbeat",
                                 json={"held": []}) as r:
                assert r.status == 200
            types = [e.event_type for e in (await handle.fetch_history()).events]
            return "WORKFLOW_TASK_TIMED_OUT" in types or NotYet(types)

        await eventually(alive_until_offered_again, interval=0.3,
                         what="the lost task offered again")
    async with Worker(env.client, task_queue=queue, workflows=[TwoSteps],
                      activities=[slow_step]):
        assert await handle.result() == ["a", "b"]


async def test_workflow_task_held_past_its_timeout_is_offered_again(env: WorkflowEnvironment,
                                                                    queue: str) -> None:
    """A live worker that holds a workflow task and never answers (stuck workflow code) keeps
    heartbeating; the task still times out after task_timeout and goes to another worker."""
    ns = env.address + "/api/v1/namespaces/default"
    handle = await env.client.start_workflow(TwoSteps.run, id="stuck-1", task_queue=queue,
                                             task_timeout=timedelta(seconds=1))
    async with aiohttp.ClientSession() as http:
        async with http.post(ns + "/sessions", json={"task_queue": queue,
                                                      "identity": "stuck"}) as r:
            session = (await r.json())["session_id"]
        async with http.post(ns + f"/task-queues/{queue}/poll", json={
                "session_id": session, "kind": "workflow", "wait": 5}) as r:
            token = (await r.json())["tasks"][0]["token"]

        async def holding_until_timed_out() -> bool | NotYet:
            async with http.post(env.address + f"/api/v1/sessions/{session}/heartbeat",
                                 json={"held": [token]}) as r:
                assert r.status == 200
            types = [e.event_type for e in (await handle.fetch_history()).events]
            return "WORKFLOW_TASK_TIMED_OUT" in types or NotYet(types)

        await eventually(holding_until_timed_out, interval=0.3,
                         what="the held workflow task timing out")
        async with Worker(env.client, task_queue=queue, workflows=[TwoSteps],
                          activities=[slow_step]):
            assert await handle.result() == ["a", "b"]
        async with http.post(env.address + "/api/v1/workflow-tasks/complete",
                             json={"token": token, "commands": []}) as r:
            assert r.status == 409  # the stuck worker's late answer is refused
    history = await handle.fetch_history()
    timed_out = [e for e in history.events if e.event_type == "WORKFLOW_TASK_TIMED_OUT"]
    assert timed_out and timed_out[0].attributes["timeout_type"] == "start_to_close"


runs: list[str] = []


@activity.defn
async def longer_than_the_lease(name: str) -> str:
    runs.append(name)
    await asyncio.sleep(4.0)  # the environment's session expiry is 3 s
    return name


@workflow.defn
class OneLong:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity(longer_than_the_lease, "long",
                                               start_to_close_timeout=timedelta(seconds=60))


async def test_shutdown_keeps_the_session_alive_while_work_finishes(env: WorkflowEnvironment,
                                                                    queue: str) -> None:
    runs.clear()
    h = await env.client.start_workflow(OneLong.run, id="long", task_queue=queue)
    worker = Worker(env.client, task_queue=queue, workflows=[OneLong],
                    activities=[longer_than_the_lease])
    async with worker:
        await eventually(lambda: runs, what="the long activity running")
    async with Worker(env.client, task_queue=queue, workflows=[OneLong],
                      activities=[longer_than_the_lease]):
        assert await h.result() == "long"
    assert runs == ["long"]  # finished during the graceful shutdown, not run again
