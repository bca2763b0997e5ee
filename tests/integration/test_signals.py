"""Signals: durable, in order, buffered until the workflow waits, kept until handled."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from plait import Worker, activity, workflow
from plait.errors import RPCError, WorkflowNotFoundError
from plait.testing import WorkflowEnvironment


@activity.defn
async def note(text: str) -> str:
    return text


@workflow.defn
class Approval:
    def __init__(self) -> None:
        self.approvals: list[str] = []
        self.extra: list[tuple[str, list[object]]] = []

    @workflow.run
    async def run(self, needed: int) -> dict[str, object]:
        await workflow.wait_condition(lambda: len(self.approvals) >= needed)
        await workflow.execute_activity(note, "approved",
                                        start_to_close_timeout=timedelta(seconds=5))
        return {"approvals": self.approvals, "extra": self.extra}

    @workflow.signal
    def approve(self, by: str) -> None:
        self.approvals.append(by)

    @workflow.signal(dynamic=True)
    def anything(self, name: str, *args: object) -> None:
        self.extra.append((name, list(args)))


async def test_signals_in_order_and_dynamic(env: WorkflowEnvironment, queue: str) -> None:
    handle = await env.client.start_workflow(Approval.run, 5, id="sig-1", task_queue=queue)
    # Sent before any worker runs: buffered in the history, delivered in order.
    await handle.signal(Approval.approve, "alice")
    await handle.signal("approve", "bob")
    await handle.signal("escalate", "level", 2)
    async with Worker(env.client, task_queue=queue, workflows=[Approval], activities=[note]):
        for who in ("carol", "dave", "erin"):
            await handle.signal(Approval.approve, who)
        out = await handle.result()
    assert out["approvals"] == ["alice", "bob", "carol", "dave", "erin"]
    assert out["extra"] == [["escalate", ["level", 2]]]
    history = await handle.fetch_history()
    signaled = [e for e in history.events if e.event_type == "WORKFLOW_EXECUTION_SIGNALED"]
    assert [e.attributes["signal_name"] for e in signaled] == ["approve"] * 2 + ["escalate"] + \
        ["approve"] * 3


async def test_signal_with_start(env: WorkflowEnvironment, queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Approval], activities=[note]):
        h = await env.client.start_workflow(Approval.run, 2, id="sws", task_queue=queue,
                                            start_signal="approve", start_signal_args=("a",))
        again = await env.client.start_workflow(Approval.run, 2, id="sws", task_queue=queue,
                                                start_signal="approve",
                                                start_signal_args=("b",))
        assert again.run_id == h.run_id  # running: only signalled
        assert (await h.result())["approvals"] == ["a", "b"]


@workflow.defn
class LateHandler:
    @workflow.run
    async def run(self) -> list[str]:
        got: list[str] = []
        await workflow.sleep(0.3)
        workflow.set_signal_handler("hello", got.append)
        await workflow.wait_condition(lambda: len(got) >= 2)
        return got


async def test_signal_without_handler_is_kept_until_one_appears(env: WorkflowEnvironment,
                                                                queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[LateHandler],
                      activities=[note]):
        h = await env.client.start_workflow(LateHandler.run, id="late", task_queue=queue)
        await h.signal("hello", "first")
        await h.signal("hello", "second")
        assert await h.result() == ["first", "second"]


async def test_signals_to_closed_or_unknown_workflows(env: WorkflowEnvironment,
                                                      queue: str) -> None:
    with pytest.raises(WorkflowNotFoundError):
        await env.client.get_workflow_handle("nobody").signal("approve", "x")
    h = await env.client.start_workflow(Approval.run, 1, id="closed", task_queue=queue)
    await h.terminate()
    with pytest.raises(RPCError) as info:
        await h.signal("approve", "x")
    assert info.value.status == 409 and info.value.code == "workflow_not_running"


async def test_signal_request_id_dedups(env: WorkflowEnvironment, queue: str) -> None:
    h = await env.client.start_workflow(Approval.run, 2, id="dedup-sig", task_queue=queue)
    await h.signal("approve", "x", request_id="same")
    await h.signal("approve", "x", request_id="same")
    history = await h.fetch_history()
    assert [e.event_type for e in history.events].count("WORKFLOW_EXECUTION_SIGNALED") == 1
    await h.terminate()


@workflow.defn
class Counter:
    def __init__(self) -> None:
        self.n = 0

    @workflow.run
    async def run(self, until: int) -> int:
        while self.n < until:
            await workflow.wait_condition(lambda: self.n > 0)
            await asyncio.sleep(0.01)
        return self.n

    @workflow.signal
    async def add(self, k: int) -> None:
        await asyncio.sleep(0.01)  # async handlers are tasks on the workflow's loop
        self.n += k


async def test_async_handlers_and_replay(env: WorkflowEnvironment, queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Counter], activities=[note],
                      max_cached_workflows=1):
        h = await env.client.start_workflow(Counter.run, 10, id="cnt", task_queue=queue)
        # Counts to 5 on five signals, so it stays open until the last one.
        other = await env.client.start_workflow(Counter.run, 5, id="cnt-other",
                                                task_queue=queue)
        for _ in range(5):
            await h.signal(Counter.add, 2)
            await other.signal(Counter.add, 1)  # evicts "cnt" from the one-slot cache
        assert await h.result() == 10
        assert await other.result() == 5
