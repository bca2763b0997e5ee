"""Pausing a run: no workflow task and no new activity attempt is handed out while it is
paused; running attempts finish and are recorded, timers fire into the history, signals and
updates are kept (the update waits), and the pause survives a server restart."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from plait import RetryPolicy, Worker, activity, workflow
from plait.client import WorkflowHandle
from plait.errors import RPCError, TerminatedError, WorkflowFailureError, WorkflowNotFoundError
from plait.history import History
from plait.testing import WorkflowEnvironment
from tests.waiting import activity_started, history_has, status_is

released = asyncio.Event()
"""What a gated activity waits for (made anew by each test, on that test's loop)."""


@pytest.fixture(autouse=True)
def fresh_gate() -> None:
    global released
    released = asyncio.Event()


@activity.defn
async def gated(name: str) -> str:
    await released.wait()
    return f"gated {name}"


@activity.defn
async def gated_failure(name: str) -> str:
    await released.wait()
    if activity.info().attempt == 1:
        raise RuntimeError(f"{name} failed once")
    return f"{name} on attempt {activity.info().attempt}"


@activity.defn
async def note(names: list[str]) -> str:
    return ",".join(names)


@workflow.defn
class Stepper:
    """Sleeps, then reports what it was sent in an activity."""

    def __init__(self) -> None:
        self.got: list[str] = []

    @workflow.signal
    def add(self, name: str) -> None:
        self.got.append(name)

    @workflow.update
    def bump(self, name: str) -> int:
        self.got.append(name)
        return len(self.got)

    @workflow.run
    async def run(self, seconds: float) -> str:
        await workflow.sleep(seconds)
        return await workflow.execute_activity(note, self.got,
                                               start_to_close_timeout=timedelta(seconds=5))


@workflow.defn
class TwoSteps:
    @workflow.run
    async def run(self) -> list[str]:
        first = await workflow.execute_activity(gated, "one",
                                                start_to_close_timeout=timedelta(seconds=10))
        second = await workflow.execute_activity(note, ["two"],
                                                 start_to_close_timeout=timedelta(seconds=5))
        return [first, second]


@workflow.defn
class RetryWhileTimer:
    """An activity that fails once, beside a timer that marks time in the history."""

    @workflow.run
    async def run(self) -> str:
        timer = asyncio.ensure_future(workflow.sleep(1.0))
        result = await workflow.execute_activity(
            gated_failure, "flaky", start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=50)))
        await timer
        return result


def _types(history: History) -> list[str]:
    return [e.event_type for e in history.events]


def _after(types: list[str], event_type: str) -> list[str]:
    return types[types.index(event_type) + 1:]


async def test_a_paused_run_keeps_its_timer_signal_and_update_but_runs_nothing(
        env: WorkflowEnvironment, queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Stepper], activities=[note]):
        handle = await env.client.start_workflow(Stepper.run, 1.5, id="paused-timer",
                                                 task_queue=queue)
        await history_has(handle, "TIMER_STARTED")
        await handle.pause(reason="carrier registry is down")
        described = await handle.describe()
        assert described.paused and described.pause_reason == "carrier registry is down"
        assert described.paused_since is not None
        await handle.signal(Stepper.add, "ada")
        update = asyncio.create_task(handle.execute_update(Stepper.bump, "bob"))
        # The timer fires into the history well after the signal asked for a workflow task:
        # that task was held back all along, so no worker has started one since the pause.
        history = await history_has(handle, "TIMER_FIRED")
        since = _after(_types(history), "TIMER_STARTED")
        assert "WORKFLOW_EXECUTION_SIGNALED" in since
        assert "WORKFLOW_TASK_STARTED" not in since and "WORKFLOW_TASK_COMPLETED" not in since
        assert "ACTIVITY_TASK_SCHEDULED" not in _types(history)
        assert not update.done()  # accepted, waiting
        described = await handle.describe()
        assert described.paused and described.raw["pending_workflow_task"]

        await handle.unpause()
        assert await asyncio.wait_for(update, 10) == 2
        assert await handle.result() == "ada,bob"
    assert not (await handle.describe()).paused


async def test_a_running_attempt_finishes_and_is_recorded_but_the_next_does_not_start(
        env: WorkflowEnvironment, queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[TwoSteps],
                      activities=[gated, note]):
        handle = await env.client.start_workflow(TwoSteps.run, id="paused-attempt",
                                                 task_queue=queue)
        await activity_started(handle, "gated")
        await handle.pause()
        released.set()
        history = await history_has(handle, "ACTIVITY_TASK_COMPLETED")
        assert _types(history).count("ACTIVITY_TASK_SCHEDULED") == 1
        described = await handle.describe()
        assert described.paused and described.raw["pending_workflow_task"]
        assert [a.outcome for a in described.attempts] == ["completed"]
        await handle.unpause()
        assert await handle.result() == ["gated one", "two"]


async def test_a_retry_due_while_paused_waits_for_the_unpause(env: WorkflowEnvironment,
                                                                queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[RetryWhileTimer],
                      activities=[gated_failure]):
        handle = await env.client.start_workflow(RetryWhileTimer.run, id="paused-retry",
                                                 task_queue=queue)
        await activity_started(handle, "gated_failure")
        await handle.pause()
        released.set()  # attempt 1 fails now; attempt 2 would be due 50 ms later
        await history_has(handle, "TIMER_FIRED")  # a second after the pause
        described = await handle.describe()
        assert [(a.attempt, a.outcome) for a in described.attempts] == [(1, "failed")]
        [pending] = described.pending_activities
        assert (pending.attempt, pending.state) == (2, "scheduled")
        await handle.unpause()
        assert await handle.result() == "flaky on attempt 2"


async def test_the_pause_survives_a_server_restart(tmp_path: Path, queue: str) -> None:
    db = "sqlite:///" + str(tmp_path / "paused.db")
    async with WorkflowEnvironment.start_local(db=db, session_expiry=1.0) as env, \
            Worker(env.client, task_queue=queue, workflows=[Stepper], activities=[note]):
        handle = await env.client.start_workflow(Stepper.run, 1.0, id="paused-restart",
                                                 task_queue=queue)
        await history_has(handle, "TIMER_STARTED")
        await handle.pause(reason="over the restart")
    async with WorkflowEnvironment.start_local(db=db, session_expiry=1.0) as env:
        handle = env.client.get_workflow_handle("paused-restart")
        async with Worker(env.client, task_queue=queue, workflows=[Stepper],
                          activities=[note]):
            described = await handle.describe()
            assert described.paused and described.pause_reason == "over the restart"
            await handle.signal(Stepper.add, "ada")
            history = await history_has(handle, "TIMER_FIRED")
            since = _after(_types(history), "TIMER_STARTED")
            assert "WORKFLOW_TASK_STARTED" not in since
            await handle.unpause()
            assert await handle.result() == "ada"


async def test_cancel_and_terminate_still_work_on_a_paused_run(env: WorkflowEnvironment,
                                                               queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Stepper], activities=[note]):
        handle = await env.client.start_workflow(Stepper.run, 60.0, id="paused-term",
                                                 task_queue=queue)
        await history_has(handle, "TIMER_STARTED")
        await handle.pause()
        await handle.terminate("enough")
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result()
        assert isinstance(info.value.cause, TerminatedError)
        assert not (await handle.describe()).paused

        cancelled = await env.client.start_workflow(Stepper.run, 60.0, id="paused-cancel",
                                                    task_queue=queue)
        await history_has(cancelled, "TIMER_STARTED")
        await cancelled.pause()
        await cancelled.cancel()
        await history_has(cancelled, "WORKFLOW_EXECUTION_CANCEL_REQUESTED")
        await cancelled.unpause()  # the cancellation reaches the workflow's code now
        await status_is(cancelled, "CANCELED")


async def test_bad_input(env: WorkflowEnvironment, queue: str) -> None:
    with pytest.raises(WorkflowNotFoundError):
        await env.client.get_workflow_handle("nobody").pause()
    with pytest.raises(WorkflowNotFoundError):
        await env.client.get_workflow_handle("nobody").unpause()
    handle = await env.client.start_workflow(Stepper.run, 60.0, id="closed",
                                             task_queue=queue)
    await handle.pause()
    await handle.pause(reason="again")  # pausing a paused run changes nothing
    assert (await handle.describe()).pause_reason == ""
    await handle.terminate()
    for call in (handle.pause, handle.unpause):
        with pytest.raises(RPCError) as info:
            await call()
        assert (info.value.status, info.value.code) == (409, "workflow_not_running")


async def test_a_repeated_request_id_is_applied_once(env: WorkflowEnvironment,
                                                     queue: str) -> None:
    handle: WorkflowHandle[str] = await env.client.start_workflow(
        Stepper.run, 60.0, id="dedupe", task_queue=queue)
    url = f"{env.address}/api/v1/namespaces/default/workflows/dedupe"
    async with aiohttp.ClientSession() as http:
        body = {"reason": "first", "request_id": "op-1"}
        async with http.post(url + "/pause", json=body) as r:
            assert r.status == 200
            assert (await r.json())["run_id"] == handle.run_id
        await handle.unpause()
        async with http.post(url + "/pause", json=body) as r:  # a retry: answered, not redone
            assert r.status == 200
    assert not (await handle.describe()).paused


async def test_a_paused_run_under_time_skipping(queue: str) -> None:
    """A time-skipping server waiting on a paused run's result skips to its timer, keeps the
    workflow task held, and goes on after the unpause in this century (that held tasks are
    never the next deadline is pinned in tests/store/test_held_tasks.py)."""
    async with WorkflowEnvironment.start_time_skipping(session_expiry=3.0) as env, \
            Worker(env.client, task_queue=queue, workflows=[Stepper], activities=[note]):
        handle = await env.client.start_workflow(Stepper.run, 3600.0, id="paused-skip",
                                                 task_queue=queue)
        await history_has(handle, "TIMER_STARTED")
        await handle.pause()
        waiting = asyncio.create_task(handle.result())  # lets the server skip time
        history = await history_has(handle, "TIMER_FIRED")
        assert not waiting.done()
        await handle.unpause()
        assert await asyncio.wait_for(waiting, 10) == ""
        history = await handle.fetch_history()
    assert history.events[-1].timestamp.year < 3000, history.events[-1].timestamp
