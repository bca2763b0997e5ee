"""Queries read current state through a worker (cache or replay); nothing is written."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import pytest

from plait import Worker, activity, workflow
from plait.errors import RPCError
from plait.testing import WorkflowEnvironment


@dataclasses.dataclass
class Progress:
    stage: str
    numbers: list[str]


@activity.defn
async def register(n: str) -> str:
    return n


@workflow.defn
class Registration:
    def __init__(self) -> None:
        self.stage = "starting"
        self.numbers: list[str] = []
        self.go = False

    @workflow.run
    async def run(self, numbers: list[str]) -> str:
        self.stage = "registering"
        for n in numbers:
            self.numbers.append(await workflow.execute_activity(
                register, n, start_to_close_timeout=timedelta(seconds=5)))
        self.stage = "waiting"
        await workflow.wait_condition(lambda: self.go)
        self.stage = "done"
        return "ok"

    @workflow.signal
    def proceed(self) -> None:
        self.go = True

    @workflow.query
    def progress(self) -> Progress:
        return Progress(self.stage, list(self.numbers))

    @workflow.query
    def has(self, number: str) -> bool:
        return number in self.numbers

    @workflow.query
    def broken(self) -> str:
        raise ValueError("cannot compute")

    @workflow.query
    def sneaky(self) -> str:
        workflow.start_activity(register, "x", start_to_close_timeout=timedelta(seconds=1))
        return "changed things"


async def wait_stage(handle: object, stage: str) -> None:
    for _ in range(200):
        if (await handle.query(Registration.progress)).stage == stage:  # type: ignore[attr-defined]
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never reached {stage}")


async def test_queries_from_cache_and_by_replay(env: WorkflowEnvironment, queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Registration],
                      activities=[register]):
        h = await env.client.start_workflow(Registration.run, ["+1", "+2"], id="reg",
                                            task_queue=queue)
        await wait_stage(h, "waiting")
        p = await h.query(Registration.progress)
        assert p == Progress("waiting", ["+1", "+2"])  # decoded by the handler's hint
        assert await h.query("has", "+2") is True
        before = len((await h.fetch_history()).events)
    # A fresh worker has no cache: it answers by replaying the history.
    async with Worker(env.client, task_queue=queue, workflows=[Registration],
                      activities=[register]):
        assert (await h.query(Registration.progress)).numbers == ["+1", "+2"]
        assert len((await h.fetch_history()).events) == before  # nothing written
        await h.signal(Registration.proceed)
        assert await h.result() == "ok"
        # Closed workflows answer too.
        assert (await h.query(Registration.progress)).stage == "done"


async def test_bad_queries(env: WorkflowEnvironment, queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Registration],
                      activities=[register]):
        h = await env.client.start_workflow(Registration.run, [], id="bad-q", task_queue=queue)
        await wait_stage(h, "waiting")
        with pytest.raises(RPCError) as info:
            await h.query("nope")
        assert info.value.code == "unknown_query" and "progress" in info.value.message
        with pytest.raises(RPCError) as info:
            await h.query(Registration.broken)
        assert info.value.code == "query_failed" and "cannot compute" in info.value.message
        with pytest.raises(RPCError) as info:
            await h.query(Registration.sneaky)
        assert "only read" in info.value.message
        assert (await h.query(Registration.progress)).stage == "waiting"  # still fine
        await h.terminate()
    with pytest.raises(RPCError) as info:  # no worker: a clear timeout, not a hang
        await h.query(Registration.progress, timeout=timedelta(seconds=0.5))
    assert info.value.status == 504 and info.value.code == "query_timeout"



@workflow.defn
class Looper:
    def __init__(self) -> None:
        self.next = False

    @workflow.run
    async def run(self, n: int) -> None:
        self.n = n
        await workflow.wait_condition(lambda: self.next)
        workflow.continue_as_new(n + 1)

    @workflow.signal
    def step(self) -> None:
        self.next = True

    @workflow.query
    def count(self) -> int:
        return self.n


async def test_a_query_racing_a_continue_as_new_is_answered(env: WorkflowEnvironment,
                                                            queue: str) -> None:
    """A query sent while its run continues as new is answered (by the run it reached, which
    a worker replays), not dropped with the closing run's work until the client gives up."""
    async with Worker(env.client, task_queue=queue, workflows=[Looper]):
        await env.client.start_workflow(Looper.run, 0, id="looper", task_queue=queue)
        h = env.client.get_workflow_handle("looper")  # the latest run, whichever it is
        assert await h.query(Looper.count) == 0
        for n in range(1, 11):
            await h.signal(Looper.step)
            got = await h.query(Looper.count, timeout=timedelta(seconds=5))
            assert got in (n - 1, n)
        await h.terminate()
