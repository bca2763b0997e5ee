"""Operators' controls on one activity of a run: pause (no new attempt starts), unpause, and
reset (the attempt count starts again at 1, with a new attempt now)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from plait import RetryPolicy, Worker, activity, workflow
from plait.client import WorkflowExecutionDescription, WorkflowHandle
from plait.errors import RPCError
from plait.testing import WorkflowEnvironment
from tests.waiting import NotYet, activity_started, eventually, history_has, pending_activity

gate = asyncio.Event()
fixed = False


@pytest.fixture(autouse=True)
def fresh_state() -> None:
    global gate, fixed
    gate, fixed = asyncio.Event(), False


@activity.defn
async def charge(order: str) -> str:
    """Waits for the test's gate, then fails until the test "fixes the downstream"."""
    await gate.wait()
    if not fixed:
        raise RuntimeError("payment provider says no")
    return f"{order} charged on attempt {activity.info().attempt}"


@workflow.defn
class Checkout:
    """Charges, beside a timer that marks time in the history."""

    @workflow.run
    async def run(self, order: str, backoff: float) -> str:
        timer = asyncio.ensure_future(workflow.sleep(1.0))
        result = await workflow.execute_activity(
            charge, order, start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=backoff),
                                     maximum_attempts=5))
        await timer
        return result


async def test_a_paused_activity_starts_no_new_attempt_until_unpaused(
        env: WorkflowEnvironment, queue: str) -> None:
    global fixed
    async with Worker(env.client, task_queue=queue, workflows=[Checkout],
                      activities=[charge]):
        handle = await env.client.start_workflow(Checkout.run, "o-1", 0.05, id="act-pause",
                                                 task_queue=queue)
        aid = (await activity_started(handle, "charge")).activity_id
        await handle.pause_activity(aid)
        gate.set()  # attempt 1 fails now; attempt 2 would be due 50 ms later
        await history_has(handle, "TIMER_FIRED")  # a second later
        described = await handle.describe()
        assert [(a.attempt, a.outcome) for a in described.attempts] == [(1, "failed")]
        [pending] = described.pending_activities
        assert pending.paused and (pending.attempt, pending.state) == (2, "scheduled")
        assert not described.paused  # the run itself is not paused
        fixed = True
        await handle.unpause_activity(aid)
        assert await handle.result() == "o-1 charged on attempt 2"


async def test_reset_starts_the_count_again_with_an_attempt_now(env: WorkflowEnvironment,
                                                                queue: str) -> None:
    global fixed
    async with Worker(env.client, task_queue=queue, workflows=[Checkout],
                      activities=[charge]):
        gate.set()
        handle = await env.client.start_workflow(Checkout.run, "o-2", 600.0, id="act-reset",
                                                 task_queue=queue)
        pending = await pending_activity(handle, "backing_off", activity_type="charge")
        assert pending.attempt == 2  # the next attempt would come in ten minutes
        fixed = True  # the downstream is repaired
        await handle.reset_activity(pending.activity_id)
        assert await handle.result() == "o-2 charged on attempt 1"
    described = await handle.describe()
    # The log keeps numbering every try; the retry policy and the worker count from the reset.
    assert [(a.attempt, a.outcome) for a in described.attempts] == [(1, "failed"),
                                                                     (2, "completed")]
    history = await handle.fetch_history()
    [started] = [e for e in history.events if e.event_type == "ACTIVITY_TASK_STARTED"]
    assert started.attributes["attempt"] == 1


async def test_a_reset_while_an_attempt_runs_keeps_its_result(env: WorkflowEnvironment,
                                                             queue: str) -> None:
    global fixed
    async with Worker(env.client, task_queue=queue, workflows=[Checkout],
                      activities=[charge]):
        handle = await env.client.start_workflow(Checkout.run, "o-3", 600.0, id="act-running",
                                                 task_queue=queue)
        aid = (await activity_started(handle, "charge")).activity_id
        await handle.reset_activity(aid)
        fixed = True
        gate.set()
        assert await handle.result() == "o-3 charged on attempt 1"


async def test_a_reset_while_a_failing_attempt_runs_retries_at_once_from_one(
        env: WorkflowEnvironment, queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Checkout],
                      activities=[charge]):
        handle = await env.client.start_workflow(Checkout.run, "o-4", 600.0, id="act-fail",
                                                 task_queue=queue)
        aid = (await activity_started(handle, "charge")).activity_id
        await handle.reset_activity(aid)
        gate.set()  # attempt 1 fails: the next is the first again, now (not in ten minutes)
        described = await _two_attempts_ended(handle)
        assert [a.outcome for a in described.attempts[:2]] == ["failed", "failed"]
        await handle.terminate()


async def _two_attempts_ended(handle: WorkflowHandle[Any]) -> WorkflowExecutionDescription:
    async def check() -> WorkflowExecutionDescription | NotYet:
        d = await handle.describe()
        return d if len([a for a in d.attempts if a.outcome]) >= 2 else NotYet(d.attempts)
    return await eventually(check, what="a second attempt, at once after the reset")


async def test_bad_input(env: WorkflowEnvironment, queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Checkout],
                      activities=[charge]):
        handle = await env.client.start_workflow(Checkout.run, "o-5", 0.05, id="act-bad",
                                                 task_queue=queue)
        aid = (await activity_started(handle, "charge")).activity_id
        for call in (handle.pause_activity, handle.unpause_activity, handle.reset_activity):
            with pytest.raises(RPCError) as info:
                await call("no-such-activity")
            assert (info.value.status, info.value.code) == (404, "activity_not_found")
        await handle.terminate()
        gate.set()  # the abandoned attempt ends, so the worker stops at once
        with pytest.raises(RPCError) as info:
            await handle.pause_activity(aid)
        assert (info.value.status, info.value.code) == (409, "workflow_not_running")
