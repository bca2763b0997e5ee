"""Activities completed from outside (a human approval, a webhook), search attributes, and
testing activities alone."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from plait import RetryPolicy, Worker, activity, workflow
from plait.errors import ApplicationError, RPCError
from plait.testing import ActivityEnvironment, WorkflowEnvironment

tokens: asyncio.Queue[str] = asyncio.Queue()


@activity.defn
async def ask_compliance_officer(brand: str) -> str:
    await tokens.put(activity.info().task_token)  # e.g. e-mailed as a link
    activity.raise_complete_async()


@workflow.defn
class Review:
    @workflow.run
    async def run(self, brand: str) -> str:
        workflow.upsert_search_attributes({"brand": brand, "stage": "review"})
        verdict = await workflow.execute_activity(
            ask_compliance_officer, brand, start_to_close_timeout=timedelta(minutes=5),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=50)))
        workflow.upsert_search_attributes({"stage": "done"})
        return verdict


@workflow.defn
class Unanswered:
    @workflow.run
    async def run(self, brand: str) -> str:
        try:
            return await workflow.execute_activity(
                ask_compliance_officer, brand, start_to_close_timeout=timedelta(seconds=0.5),
                retry_policy=RetryPolicy(maximum_attempts=1))
        except Exception as e:
            return f"{type(e).__name__}: {getattr(e.__cause__, 'timeout_type', None)}"


async def test_an_attempt_handed_over_still_times_out(env: WorkflowEnvironment,
                                                      queue: str) -> None:
    """No session watches a handed-over attempt: a timer enforces its start-to-close."""
    async with Worker(env.client, task_queue=queue, workflows=[Unanswered],
                      activities=[ask_compliance_officer]):
        out = await env.client.execute_workflow(Unanswered.run, "slow-co", id="unanswered",
                                                task_queue=queue)
    assert out == "ActivityError: start_to_close"


async def test_activity_completed_from_outside(env: WorkflowEnvironment, queue: str) -> None:
    while not tokens.empty():
        tokens.get_nowait()
    async with Worker(env.client, task_queue=queue, workflows=[Review],
                      activities=[ask_compliance_officer], identity="reviewer"):
        h = await env.client.start_workflow(Review.run, "acme", id="review-1",
                                            task_queue=queue)
        token = await asyncio.wait_for(tokens.get(), 10)
        # A window, not a wait: longer than a session expiry (3 s), and the handed-over
        # attempt must not have been offered again by its end.
        await asyncio.sleep(3.5)
        assert tokens.empty()
        officer = env.client.get_async_activity_handle(token)
        await officer.heartbeat("reading the brand file")
        await officer.fail(ApplicationError("need the EIN document"))
        retry_token = await asyncio.wait_for(tokens.get(), 10)  # the retry asks again
        await env.client.get_async_activity_handle(retry_token).complete("approved")
        assert await h.result() == "approved"
        with pytest.raises(RPCError) as info:  # a second answer is refused
            await env.client.get_async_activity_handle(retry_token).complete("again")
        assert info.value.code == "stale_task"
    desc = await h.describe()
    assert desc.search_attributes == {"brand": "acme", "stage": "done"}
    assert [a.outcome for a in desc.attempts] == ["failed", "completed"]
    found = [w.workflow_id async for w in env.client.list_workflows(
        search_attributes={"brand": "acme", "stage": "done"})]
    assert found == ["review-1"]
    history = await h.fetch_history()
    assert [e.event_type for e in history.events].count("UPSERT_SEARCH_ATTRIBUTES") == 2


@activity.defn
async def resumable(total: int) -> int:
    done = activity.info().heartbeat_details[0] if activity.info().heartbeat_details else 0
    for i in range(done, total):
        if activity.is_cancelled():
            raise ApplicationError("stopped", type="Cancelled")
        activity.heartbeat(i + 1)
    return total - done


@activity.defn
def sync_resumable(total: int) -> int:
    for i in range(total):
        activity.heartbeat(i)
    return activity.info().attempt


async def test_activity_environment() -> None:
    env = ActivityEnvironment(heartbeat_details=(3,))
    assert await env.run(resumable, 5) == 2
    assert env.heartbeats == [(4,), (5,)]
    env = ActivityEnvironment(attempt=3)
    assert await env.run(sync_resumable, 2) == 3
    assert env.heartbeats == [(0,), (1,)]
    env = ActivityEnvironment()
    env.cancel()
    with pytest.raises(ApplicationError, match="stopped"):
        await env.run(resumable, 5)
