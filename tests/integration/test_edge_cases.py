"""Edge cases a review found, each kept as a regression test."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from plait import Worker, activity, workflow
from plait.errors import RPCError
from plait.testing import Replayer, WorkflowEnvironment

T5 = timedelta(seconds=5)


@activity.defn
async def step(i: int) -> int:
    return i


@workflow.defn
class Chain:
    @workflow.run
    async def run(self) -> int:
        total = 0
        for i in range(3):
            total += await workflow.execute_activity(step, i, start_to_close_timeout=T5)
        return total


@workflow.defn
class Waiter:
    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: False)
        return ""

    @workflow.query
    def q(self) -> str:
        return "x"


async def _session(env: WorkflowEnvironment, queue: str) -> str:
    resp = await env.client.api.call("POST", "/api/v1/namespaces/default/sessions",
                                     {"task_queue": queue, "identity": "fake"})
    return str(resp["session_id"])


async def _poll(env: WorkflowEnvironment, session: str, queue: str, kind: str) -> list[dict]:  # type: ignore[type-arg]
    resp = await env.client.api.call(
        "POST", f"/api/v1/namespaces/default/task-queues/{queue}/poll",
        {"session_id": session, "kind": kind, "max_tasks": 1, "wait": 5})
    return list(resp["tasks"])


async def test_dead_worker_holding_a_query_does_not_block_other_expiries(
        env: WorkflowEnvironment, queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Waiter]):
        waiting = await env.client.start_workflow(Waiter.run, id="waits", task_queue=queue)
        await asyncio.sleep(0.3)
    a = await _session(env, queue)
    asking = asyncio.create_task(waiting.query(Waiter.q, timeout=timedelta(seconds=20)))
    assert [t["kind"] for t in await _poll(env, a, queue, "query")] == ["query"]
    other = f"{queue}-b"
    h = await env.client.start_workflow(Chain.run, id="after", task_queue=other)
    b = await _session(env, other)
    assert [t["kind"] for t in await _poll(env, b, other, "workflow")] == ["workflow"]
    # Both fake workers die; their sessions expire (3 s); a real worker takes over.
    async with Worker(env.client, task_queue=other, workflows=[Chain], activities=[step]), \
            Worker(env.client, task_queue=queue, workflows=[Waiter]):
        assert await asyncio.wait_for(h.result(), 15) == 3
        assert await asyncio.wait_for(asking, 15) == "x"  # the query went to another worker
        await waiting.terminate()


async def test_split_workflow_and_activity_workers(env: WorkflowEnvironment,
                                                   queue: str) -> None:
    """An activity-only worker must not be handed the workflow task its result created."""
    async with Worker(env.client, task_queue=queue, workflows=[Chain]), \
            Worker(env.client, task_queue=queue, activities=[step]):
        h = await env.client.start_workflow(Chain.run, id="split", task_queue=queue)
        assert await h.result() == 3
    types = [e.event_type for e in (await h.fetch_history()).events]
    assert "WORKFLOW_TASK_FAILED" not in types


async def test_token_of_the_wrong_kind_is_refused(env: WorkflowEnvironment, queue: str) -> None:
    await env.client.start_workflow(Chain.run, id="kind", task_queue=queue)
    s = await _session(env, queue)
    token = (await _poll(env, s, queue, "workflow"))[0]["token"]
    with pytest.raises(RPCError) as info:
        await env.client.get_async_activity_handle(token).complete("x")
    assert info.value.code == "bad_token" and "workflow task token" in info.value.message
    with pytest.raises(RPCError):
        await env.client.api.call("POST", "/api/v1/activity-tasks/complete-async",
                                  {"token": token})
    async with Worker(env.client, task_queue=queue, workflows=[Chain], activities=[step]):
        assert await env.client.get_workflow_handle("kind").result() == 3


@workflow.defn
class UsesWorkflowApisEverywhere:
    def __init__(self) -> None:
        self.created_in = workflow.info().workflow_id  # __init__ runs on the workflow loop
        self.signalled_at: str = ""

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: bool(self.signalled_at))
        return [self.created_in, self.signalled_at]

    @workflow.signal
    def mark(self) -> None:
        self.signalled_at = workflow.now().isoformat()  # and so do sync signal handlers


async def test_init_and_sync_handlers_may_use_workflow_apis(env: WorkflowEnvironment,
                                                            queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[UsesWorkflowApisEverywhere]):
        h = await env.client.start_workflow(UsesWorkflowApisEverywhere.run, id="apis",
                                            task_queue=queue)
        await h.signal(UsesWorkflowApisEverywhere.mark)
        created, signalled = await h.result()
    assert created == "apis" and signalled


@workflow.defn
class LeavesWorkBehind:
    @workflow.run
    async def run(self) -> str:
        async def later() -> None:
            await asyncio.sleep(0)
            workflow.start_activity(step, 1, start_to_close_timeout=T5)
        asyncio.ensure_future(later())  # noqa: RUF006 - deliberately left running
        return "done"


async def test_commands_after_close_are_dropped_consistently(env: WorkflowEnvironment,
                                                             queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[LeavesWorkBehind],
                      activities=[step]):
        assert await env.client.execute_workflow(LeavesWorkBehind.run, id="behind",
                                                 task_queue=queue) == "done"
    await Replayer(workflows=[LeavesWorkBehind]).replay(
        await env.client.get_workflow_handle("behind").fetch_history())


@workflow.defn
class BadTimeout:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(step, 1, start_to_close_timeout=timedelta(0))


async def test_refused_commands_are_a_visible_task_failure(env: WorkflowEnvironment,
                                                           queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[BadTimeout], activities=[step]):
        h = await env.client.start_workflow(BadTimeout.run, id="bad-timeout", task_queue=queue)
        for _ in range(100):
            desc = await h.describe()
            if desc.last_task_failure:
                break
            await asyncio.sleep(0.05)
    assert desc.last_task_failure and "must be positive" in desc.last_task_failure.message
    await h.terminate()


@workflow.defn
class Kid:
    @workflow.run
    async def run(self, n: int) -> None:
        await workflow.sleep(0.05)
        if n < 2:
            workflow.continue_as_new(n + 1)
        await workflow.sleep(60)


@workflow.defn
class ShortParent:
    @workflow.run
    async def run(self) -> None:
        await workflow.start_child_workflow(Kid.run, 0, id="kid-chain")
        await workflow.sleep(1.0)  # the child continues as new meanwhile


async def test_parent_close_policy_reaches_a_child_that_continued_as_new(
        env: WorkflowEnvironment, queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[ShortParent, Kid]):
        await env.client.execute_workflow(ShortParent.run, id="short-parent", task_queue=queue)
        kid = env.client.get_workflow_handle("kid-chain")
        for _ in range(50):
            if (await kid.describe()).status == "TERMINATED":
                break
            await asyncio.sleep(0.05)
        assert (await kid.describe()).status == "TERMINATED"
