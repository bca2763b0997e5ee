"""The behaviours Temporal users expected and plait lacked (issue 18): a failure's cause
keeps its traceback, a failing workflow task is shown on the worker once per run, update
handles wait for the stage asked for."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import pytest

from plait import activity, errors, workflow
from plait.client import WorkflowUpdateStage
from plait.common import RetryPolicy
from plait.testing import WorkflowEnvironment
from plait.worker import Worker
from tests.waiting import eventually


@activity.defn
async def refuse(order_id: str) -> None:
    raise errors.ApplicationError(f"no such order {order_id}", non_retryable=True)


@workflow.defn
class Refused:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(refuse, "o-1", start_to_close_timeout=timedelta(seconds=5),
                                        retry_policy=RetryPolicy(maximum_attempts=1))


async def test_the_activitys_traceback_reaches_handle_result(env: WorkflowEnvironment,
                                                             queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Refused], activities=[refuse]):
        with pytest.raises(errors.WorkflowFailureError) as failed:
            await env.client.execute_workflow(Refused.run, id=f"refused-{queue}",
                                              task_queue=queue)
    activity_error = failed.value.cause
    assert isinstance(activity_error, errors.ActivityError)
    cause = activity_error.cause
    assert isinstance(cause, errors.ApplicationError)
    assert "in refuse" in cause.stack_trace and "no such order o-1" in cause.stack_trace


@workflow.defn
class Typo:
    @workflow.run
    async def run(self) -> None:
        await workflow.sleep(0.01)
        undefined_name  # type: ignore[name-defined]  # noqa: B018, F821


async def test_a_failing_workflow_task_is_shown_once_per_run_with_its_traceback(
        env: WorkflowEnvironment, queue: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="plait.worker")
    async with Worker(env.client, task_queue=queue, workflows=[Typo]):
        handle = await env.client.start_workflow(Typo.run, id=f"typo-{queue}", task_queue=queue)

        async def failed_twice() -> bool:
            failure = (await handle.describe()).last_task_failure
            return failure is not None and failure.attempts >= 2
        await eventually(failed_twice, what="the task failed and was retried", timeout=20)
        await handle.terminate()
    worker = [r for r in caplog.records if r.name == "plait.worker"]  # not the server's
    shown = [r for r in worker if r.levelno == logging.WARNING
             and "workflow task failed" in r.getMessage() and handle.id in r.getMessage()]
    assert len(shown) == 1, [r.getMessage() for r in shown]
    text = shown[0].getMessage()
    assert "NameError: name 'undefined_name' is not defined" in text
    assert "Traceback" in text and "in run" in text
    again = [r for r in worker if r.levelno == logging.DEBUG
             and "workflow task failed again" in r.getMessage()]
    assert again


@workflow.defn
class Counter:
    def __init__(self) -> None:
        self.value = 0
        self.done = False

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.done)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.value

    @workflow.update
    async def add(self, n: int) -> int:
        await workflow.wait_condition(lambda: self.done)  # still running when the run ends
        self.value += n
        return self.value

    @add.validator
    def check_add(self, n: int) -> None:
        if n < 0:
            raise ValueError("only up")

    @workflow.signal
    def finish(self) -> None:
        self.done = True


async def test_update_handles_wait_for_the_stage_asked(env: WorkflowEnvironment,
                                                       queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Counter]):
        handle = await env.client.start_workflow(Counter.run, id=f"counter-{queue}",
                                                 task_queue=queue)
        admitted = await handle.start_update(Counter.add, 1,
                                             wait_for_stage=WorkflowUpdateStage.ADMITTED)
        accepted = await handle.start_update(Counter.add, 2, wait_for_stage="accepted")
        with pytest.raises(errors.UpdateFailedError):
            await handle.start_update(Counter.add, -1,
                                      wait_for_stage=WorkflowUpdateStage.ACCEPTED)
        await handle.signal(Counter.finish)
        # The run waited for both handlers (all_handlers_finished) before it returned.
        assert await handle.result() == 3
        # Both handlers waited for the signal; whichever ran second saw the other's value.
        assert sorted([await admitted.result(), await accepted.result()]) in ([1, 3], [2, 3])
        assert await handle.get_update_handle(accepted.id).result() == (
            await accepted.result())


overrun_stopped = threading.Event()


@activity.defn
def overrun() -> None:
    try:
        for _ in range(600):  # 30 s: far past its start-to-close timeout
            activity.heartbeat()
            time.sleep(0.05)
    except errors.CancelledError:
        overrun_stopped.set()
        raise


@workflow.defn
class Overrun:
    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.execute_activity(overrun, start_to_close_timeout=timedelta(seconds=1),
                                            retry_policy=RetryPolicy(maximum_attempts=1))
        except errors.ActivityError as err:
            return type(err.cause).__name__
        return "completed"


async def test_a_sync_activity_past_its_deadline_is_stopped_at_its_heartbeat(
        env: WorkflowEnvironment, queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Overrun], activities=[overrun]):
        assert await env.client.execute_workflow(Overrun.run, id=f"overrun-{queue}",
                                                 task_queue=queue) == "TimeoutError"
        await eventually(overrun_stopped.is_set, what="the thread heard it at a heartbeat")
