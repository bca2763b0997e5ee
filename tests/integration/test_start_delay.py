"""A delayed start: the run exists at once, its first workflow task waits out the delay, and a
signal-with-start on the waiting run is recorded without cutting the wait short."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from plait import Worker, workflow
from plait.errors import RPCError
from plait.history import History
from plait.testing import WorkflowEnvironment

DELAY = 1.5


@workflow.defn
class Greeter:
    def __init__(self) -> None:
        self.names: list[str] = []

    @workflow.signal
    def add(self, name: str) -> None:
        self.names.append(name)

    @workflow.run
    async def run(self, first: str) -> list[str]:
        return [first, *self.names]


def _at(history: History, event_type: str) -> float:
    return next(e.timestamp for e in history.events if e.event_type == event_type).timestamp()


async def test_the_first_workflow_task_waits_out_the_delay(env: WorkflowEnvironment,
                                                           queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Greeter]):
        began = time.monotonic()
        handle = await env.client.start_workflow(Greeter.run, "ada", id="delayed",
                                                 task_queue=queue,
                                                 start_delay=timedelta(seconds=DELAY))
        described = await handle.describe()
        assert described.status == "RUNNING"
        assert described.start_delay == timedelta(seconds=DELAY)
        assert await handle.result() == ["ada"]
        assert time.monotonic() - began >= DELAY
    history = await handle.fetch_history()
    started = history.events[0]
    assert started.attributes["start_delay"] == DELAY
    waited = _at(history, "WORKFLOW_TASK_STARTED") - _at(history, "WORKFLOW_EXECUTION_STARTED")
    assert waited >= DELAY - 0.001  # timestamps are whole microseconds


async def test_a_signal_with_start_is_kept_and_does_not_cut_the_delay_short(
        env: WorkflowEnvironment, queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Greeter]):
        first = await env.client.start_workflow(Greeter.run, "ada", id="sws-delayed",
                                                task_queue=queue,
                                                start_delay=timedelta(seconds=DELAY))
        again = await env.client.start_workflow(Greeter.run, "ada", id="sws-delayed",
                                                task_queue=queue, start_signal=Greeter.add,
                                                start_signal_args=("bob",))
        assert again.run_id == first.run_id
        assert await first.result() == ["ada", "bob"]
    history = await first.fetch_history()
    waited = _at(history, "WORKFLOW_TASK_STARTED") - _at(history, "WORKFLOW_EXECUTION_STARTED")
    assert waited >= DELAY - 0.001
    types = [e.event_type for e in history.events]
    assert types.index("WORKFLOW_EXECUTION_SIGNALED") < types.index("WORKFLOW_TASK_STARTED")


@pytest.fixture
async def skipping() -> AsyncIterator[WorkflowEnvironment]:
    async with WorkflowEnvironment.start_time_skipping(session_expiry=3.0) as e:
        yield e


async def test_time_skipping_skips_a_day_long_delay(skipping: WorkflowEnvironment,
                                                    queue: str) -> None:
    began = time.monotonic()
    async with Worker(skipping.client, task_queue=queue, workflows=[Greeter]):
        result = await skipping.client.execute_workflow(
            Greeter.run, "ada", id="delayed-a-day", task_queue=queue,
            start_delay=timedelta(days=1))
    assert result == ["ada"]
    assert time.monotonic() - began < 15.0


async def test_a_negative_delay_is_refused_before_anything_is_stored(
        env: WorkflowEnvironment, queue: str) -> None:
    with pytest.raises(RPCError, match="start_delay"):
        await env.client.start_workflow(Greeter.run, "ada", id="never", task_queue=queue,
                                        start_delay=timedelta(seconds=-1))
    assert [w async for w in env.client.list_workflows()] == []


async def test_the_delay_survives_a_server_restart(tmp_path: Path, queue: str) -> None:
    """The held first workflow task is in the store: a server started again on the same
    database still waits out the rest of the delay, then runs the workflow."""
    db = "sqlite:///" + str(tmp_path / "delayed.db")
    async with WorkflowEnvironment.start_local(db=db) as env:
        began = time.time()
        await env.client.start_workflow(Greeter.run, "ada", id="delayed-restart",
                                        task_queue=queue,
                                        start_delay=timedelta(seconds=DELAY))
    async with WorkflowEnvironment.start_local(db=db) as env, \
            Worker(env.client, task_queue=queue, workflows=[Greeter]):
        handle = env.client.get_workflow_handle("delayed-restart")
        assert (await handle.describe()).start_delay == timedelta(seconds=DELAY)
        assert await handle.result() == ["ada"]
        history = await handle.fetch_history()
        assert _at(history, "WORKFLOW_TASK_STARTED") >= began + DELAY - 0.001
