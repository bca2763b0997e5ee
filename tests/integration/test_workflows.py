"""Workflow code on a real (in-process) server: activities, timers, conditions, determinism."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import enum
from datetime import timedelta

import pytest

from plait import Worker, activity, workflow
from plait.errors import TimeoutError as PlaitTimeout
from plait.errors import WorkflowFailureError
from plait.testing import WorkflowEnvironment

T5 = timedelta(seconds=5)


class Tier(enum.Enum):
    GOLD = "gold"
    SILVER = "silver"


@dataclasses.dataclass
class Order:
    order_id: str
    cents: int
    tier: Tier
    placed: dt.datetime


@activity.defn
async def price(order: Order) -> Order:
    return dataclasses.replace(order, cents=order.cents * 2)


@activity.defn(name="sync-double")
def sync_double(x: int) -> int:
    return x * 2


class Billing:
    def __init__(self, rate: int) -> None:
        self.rate = rate

    @activity.defn
    async def bill(self, cents: int) -> int:
        return cents * self.rate


@workflow.defn
class Pricing:
    @workflow.run
    async def run(self, order: Order) -> Order:
        priced = await workflow.execute_activity(price, order, start_to_close_timeout=T5)
        assert isinstance(priced, Order) and isinstance(priced.placed, dt.datetime)
        doubled = await workflow.execute_activity("sync-double", priced.cents,
                                                  start_to_close_timeout=T5)
        billed = await workflow.execute_activity(Billing.bill, doubled,
                                                 start_to_close_timeout=T5)
        return dataclasses.replace(priced, cents=billed)


async def test_dataclass_payloads_and_activity_kinds(env: WorkflowEnvironment, queue: str) -> None:
    order = Order("o-1", 100, Tier.GOLD, dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
    async with Worker(env.client, task_queue=queue, workflows=[Pricing],
                      activities=[price, sync_double, Billing(3).bill]):
        result = await env.client.execute_workflow(Pricing.run, order, id="p-1",
                                                   task_queue=queue)
    assert result == Order("o-1", 100 * 2 * 2 * 3, Tier.GOLD, order.placed)


@activity.defn
async def echo(x: int) -> int:
    await asyncio.sleep(0.01)
    return x


@workflow.defn
class FanOut:
    @workflow.run
    async def run(self, n: int) -> list[int]:
        handles = [workflow.start_activity(echo, i, start_to_close_timeout=T5)
                   for i in range(n)]
        timer = asyncio.create_task(workflow.sleep(0.1))
        results = await asyncio.gather(*handles)
        await timer
        return list(results)


async def test_gather_of_activities_and_a_timer(env: WorkflowEnvironment, queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[FanOut], activities=[echo]):
        assert await env.client.execute_workflow(FanOut.run, 50, id="f-1",
                                                 task_queue=queue) == list(range(50))


@workflow.defn
class Clocks:
    def __init__(self) -> None:
        self.ready = False

    @workflow.run
    async def run(self) -> dict[str, object]:
        t0 = workflow.now()
        r = workflow.random().random()
        u = str(workflow.uuid4())
        await asyncio.sleep(0.3)  # plain asyncio.sleep is a durable timer
        t1 = workflow.now()
        timed_out = False
        try:
            await workflow.wait_condition(lambda: self.ready, timeout=timedelta(seconds=0.2))
        except TimeoutError:
            timed_out = True
        self.ready = True
        await workflow.wait_condition(lambda: self.ready)
        info = workflow.info()
        return {"elapsed": (t1 - t0).total_seconds(), "r": r, "u": u, "timed_out": timed_out,
                "aware": t0.tzinfo is not None, "id": info.workflow_id,
                "type": info.workflow_type, "queue": info.task_queue}


async def test_timers_conditions_and_deterministic_helpers(env: WorkflowEnvironment,
                                                           queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Clocks], activities=[echo],
                      max_cached_workflows=1):
        out = await env.client.execute_workflow(Clocks.run, id="c-1", task_queue=queue)
    assert out["elapsed"] >= 0.3
    assert out["timed_out"] is True and out["aware"] is True
    assert (out["id"], out["type"], out["queue"]) == ("c-1", "Clocks", queue)
    history = await env.client.get_workflow_handle("c-1").fetch_history()
    types = [e.event_type for e in history.events]
    assert types.count("TIMER_STARTED") == 2 and types.count("TIMER_FIRED") == 2
    # Replaying the recorded history reproduces random and uuid4 exactly.
    from plait.testing import Replayer

    await Replayer(workflows=[Clocks]).replay(history)


@workflow.defn
class Slow:
    @workflow.run
    async def run(self) -> None:
        await workflow.sleep(30)


async def test_execution_timeout(env: WorkflowEnvironment, queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Slow], activities=[echo]):
        handle = await env.client.start_workflow(Slow.run, id="s-1", task_queue=queue,
                                                 execution_timeout=timedelta(seconds=0.5))
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result()
    assert isinstance(info.value.cause, PlaitTimeout)
    assert info.value.cause.timeout_type == "execution"
    assert (await handle.describe()).status == "TIMED_OUT"


async def test_cache_eviction_replays_from_history(env: WorkflowEnvironment, queue: str) -> None:
    """With a cache of one run, interleaved workflows are replayed on almost every task."""
    async with Worker(env.client, task_queue=queue, workflows=[FanOut], activities=[echo],
                      max_cached_workflows=1):
        handles = [await env.client.start_workflow(FanOut.run, 5, id=f"ev-{i}",
                                                   task_queue=queue) for i in range(8)]
        results = await asyncio.gather(*(h.result() for h in handles))
    assert results == [list(range(5))] * 8
