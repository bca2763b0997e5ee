"""A bug in workflow code fails the workflow *task*: retried, visible, fixed by a deploy."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from plait import Worker, activity, workflow
from plait.client import ActivityAttempt, WorkflowExecutionDescription, WorkflowHandle
from plait.errors import ApplicationError, NonDeterminismError, WorkflowFailureError
from plait.testing import Replayer, WorkflowEnvironment
from tests.waiting import NotYet, eventually, history_has

T5 = timedelta(seconds=5)


@activity.defn
async def step(name: str) -> str:
    return name


@activity.defn
async def other_step(name: str) -> str:
    return name


async def wait_for_task_failure(handle: WorkflowHandle[Any],
                                attempts: int = 1) -> WorkflowExecutionDescription:
    """Until the run's workflow task has failed ``attempts`` times; its description then."""
    async def check() -> WorkflowExecutionDescription | NotYet:
        desc = await handle.describe()
        failure = desc.last_task_failure
        return desc if failure and failure.attempts >= attempts else NotYet(failure)
    return await eventually(check, what=f"{handle.id}'s workflow task failing {attempts}x")


def make_versions() -> tuple[type, type]:
    @workflow.defn(name="Buggy")
    class BuggyV1:
        @workflow.run
        async def run(self) -> str:
            a = await workflow.execute_activity(step, "a", start_to_close_timeout=T5)
            return a + {"x": 1}["missing"]  # KeyError: a plain bug

    @workflow.defn(name="Buggy")
    class BuggyV2:
        @workflow.run
        async def run(self) -> str:
            a = await workflow.execute_activity(step, "a", start_to_close_timeout=T5)
            return a + "-fixed"

    return BuggyV1, BuggyV2


async def test_bug_fails_task_then_fixed_code_continues(env: WorkflowEnvironment,
                                                        queue: str) -> None:
    v1, v2 = make_versions()
    handle = await env.client.start_workflow("Buggy", id="bug-1", task_queue=queue)
    async with Worker(env.client, task_queue=queue, workflows=[v1], activities=[step]):
        desc = await wait_for_task_failure(handle, attempts=2)
    assert desc.status == "RUNNING"
    failure = desc.last_task_failure
    assert failure is not None
    assert "KeyError" in failure.traceback and "missing" in failure.message
    # The history records the first failure, not every retry.
    history = await handle.fetch_history()
    assert [e.event_type for e in history.events].count("WORKFLOW_TASK_FAILED") == 1
    async with Worker(env.client, task_queue=queue, workflows=[v2], activities=[step]):
        assert await handle.result() == "a-fixed"
    assert (await handle.describe()).last_task_failure is None
    # The activity that completed before the fix did not run again.
    desc = await handle.describe()
    assert len(desc.attempts) == 1


async def test_application_error_fails_the_workflow(env: WorkflowEnvironment, queue: str) -> None:
    @workflow.defn(name="Refuses")
    class Refuses:
        @workflow.run
        async def run(self) -> None:
            raise ApplicationError("order is not payable", "o-9", type="NotPayable")

    async with Worker(env.client, task_queue=queue, workflows=[Refuses], activities=[step]):
        with pytest.raises(WorkflowFailureError) as info:
            await env.client.execute_workflow(Refuses.run, id="app-1", task_queue=queue)
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "NotPayable" and cause.details == ("o-9",)


def make_nondeterministic() -> tuple[type, type]:
    @workflow.defn(name="Drift")
    class DriftV1:
        @workflow.run
        async def run(self) -> str:
            await workflow.execute_activity(step, "one", start_to_close_timeout=T5)
            await workflow.sleep(0.5)
            return await workflow.execute_activity(step, "two", start_to_close_timeout=T5)

    @workflow.defn(name="Drift")
    class DriftV2:
        @workflow.run
        async def run(self) -> str:
            await workflow.execute_activity(other_step, "one", start_to_close_timeout=T5)
            await workflow.sleep(0.5)
            return await workflow.execute_activity(step, "two", start_to_close_timeout=T5)

    return DriftV1, DriftV2


async def test_nondeterminism_fails_task_and_names_event(env: WorkflowEnvironment,
                                                         queue: str) -> None:
    v1, v2 = make_nondeterministic()
    handle = await env.client.start_workflow("Drift", id="nd-1", task_queue=queue)
    async with Worker(env.client, task_queue=queue, workflows=[v1],
                      activities=[step, other_step]):
        await history_has(handle, "TIMER_STARTED")  # it sleeps after the first activity
    async with Worker(env.client, task_queue=queue, workflows=[v2],
                      activities=[step, other_step]):
        desc = await wait_for_task_failure(handle)
    failure = desc.last_task_failure
    assert failure is not None
    assert "NonDeterminismError" in failure.traceback
    assert "ACTIVITY_TASK_SCHEDULED" in failure.message and "other_step" in failure.message
    assert desc.status == "RUNNING"
    with pytest.raises(NonDeterminismError, match="event 5 ACTIVITY_TASK_SCHEDULED"):
        await Replayer(workflows=[v2]).replay(await handle.fetch_history())
    async with Worker(env.client, task_queue=queue, workflows=[v1],
                      activities=[step, other_step]):
        assert await handle.result() == "two"


async def test_unregistered_types_fail_loudly(env: WorkflowEnvironment, queue: str) -> None:
    v1, _ = make_versions()
    handle = await env.client.start_workflow("NoSuchWorkflow", id="unk-1", task_queue=queue)
    async with Worker(env.client, task_queue=queue, workflows=[v1], activities=[step]):
        desc = await wait_for_task_failure(handle)
    assert desc.last_task_failure is not None
    msg = desc.last_task_failure.message
    assert "NoSuchWorkflow" in msg and "Buggy" in msg

    @workflow.defn(name="CallsMissing")
    class CallsMissing:
        @workflow.run
        async def run(self) -> None:
            await workflow.execute_activity("no_such_activity", start_to_close_timeout=T5)

    handle = await env.client.start_workflow(CallsMissing.run, id="unk-2", task_queue=queue)
    async with Worker(env.client, task_queue=queue, workflows=[CallsMissing],
                      activities=[step]):
        async def first_attempt_ended() -> ActivityAttempt | NotYet:
            attempts = (await handle.describe()).attempts
            return attempts[0] if attempts and attempts[0].outcome else NotYet(attempts)

        attempt = await eventually(first_attempt_ended, what="unk-2's first attempt ending")
    failure = attempt.failure or {}
    assert "no_such_activity" in failure["message"] and "step" in failure["message"]
    assert failure["type"] == "ActivityNotRegistered"
    await handle.terminate("test over")
