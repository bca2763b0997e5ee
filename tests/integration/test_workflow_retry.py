"""A workflow retry policy runs the whole workflow again as a new run after a failure."""

from __future__ import annotations

from datetime import timedelta

import pytest

from plait import RetryPolicy, Worker, activity, workflow
from plait.errors import ApplicationError, RPCError, WorkflowFailureError
from plait.testing import WorkflowEnvironment


@activity.defn
async def noop() -> None:
    return None


@workflow.defn
class Flaky:
    @workflow.run
    async def run(self, succeed_on: int) -> int:
        await workflow.execute_activity(noop, start_to_close_timeout=timedelta(seconds=5))
        attempt = workflow.info().attempt
        if attempt < succeed_on:
            raise ApplicationError(f"attempt {attempt} failed", type="Transient")
        if succeed_on < 0:
            raise ApplicationError("never", type="Fatal", non_retryable=True)
        return attempt


POLICY = RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=5)


async def test_failed_runs_are_retried_until_success(env: WorkflowEnvironment,
                                                     queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Flaky], activities=[noop]):
        h = await env.client.start_workflow(Flaky.run, 3, id="wr-1", task_queue=queue,
                                            retry_policy=POLICY)
        assert await h.result() == 3  # followed through the failed runs
    runs = [w async for w in env.client.list_workflows(workflow_type="Flaky")]
    assert sorted(w.status for w in runs) == ["COMPLETED", "FAILED", "FAILED"]
    latest = await env.client.get_workflow_handle("wr-1").fetch_history()
    assert latest.events[0].attributes["attempt"] == 3


async def test_retries_stop_at_maximum_attempts_and_non_retryable(env: WorkflowEnvironment,
                                                                  queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Flaky], activities=[noop]):
        policy = RetryPolicy(initial_interval=timedelta(milliseconds=50), maximum_attempts=2)
        with pytest.raises(WorkflowFailureError) as info:
            await env.client.execute_workflow(Flaky.run, 10, id="wr-2", task_queue=queue,
                                              retry_policy=policy)
        assert "attempt 2 failed" in str(info.value.cause)
        with pytest.raises(WorkflowFailureError) as info:
            await env.client.execute_workflow(Flaky.run, -1, id="wr-3", task_queue=queue,
                                              retry_policy=POLICY)
        assert isinstance(info.value.cause, ApplicationError)
        assert info.value.cause.type == "Fatal"
    assert await env.client.count_workflows(workflow_type="Flaky") == 3  # 2 + 1 runs


async def test_bad_retry_policy_is_refused(env: WorkflowEnvironment, queue: str) -> None:
    with pytest.raises(RPCError) as info:
        await env.client.api.call("POST", "/api/v1/namespaces/default/workflows", {
            "workflow_id": "x", "workflow_type": "Flaky", "task_queue": queue,
            "retry_policy": {"backoff_coefficient": 0.1}})
    assert info.value.status == 400 and "retry_policy" in info.value.message
