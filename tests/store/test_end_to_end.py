"""The server end to end on both backends, and several servers on one PostgreSQL.

The integration tests of ``tests/integration`` run on SQLite; the modules named in
``ON_POSTGRES`` run here once more, unchanged, on PostgreSQL (their ``env`` fixture is this
module's). The tests below run on both backends, and with two in-process servers sharing one
PostgreSQL schema: a worker on one server, the client on the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from plait import Client, Worker, activity, workflow
from plait.server.config import ServiceConfig
from plait.server.main import Server
from plait.testing import WorkflowEnvironment
from tests.store.pgdb import fresh_schema

ON_POSTGRES = ["test_workflows", "test_activities", "test_client", "test_worker_lifecycle",
               "test_reset", "test_batches"]
for _module in ON_POSTGRES:
    _mod = importlib.import_module(f"tests.integration.{_module}")
    for _name in dir(_mod):
        if _name.startswith("test_"):
            globals()[f"test_pg_{_module[5:]}__{_name[5:]}"] = getattr(_mod, _name)


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """The integration tests' environment, on PostgreSQL."""
    with fresh_schema() as url:
        async with WorkflowEnvironment.start_local(db=url, session_expiry=3.0) as e:
            yield e


@pytest.fixture
async def any_env(db_url: str) -> AsyncIterator[WorkflowEnvironment]:
    async with WorkflowEnvironment.start_local(db=db_url, session_expiry=3.0) as e:
        yield e


T10 = timedelta(seconds=10)
flaky_calls: dict[str, int] = {}


@activity.defn
async def flaky(key: str) -> int:
    flaky_calls[key] = flaky_calls.get(key, 0) + 1
    if flaky_calls[key] < 3:
        raise RuntimeError(f"attempt {flaky_calls[key]} fails")
    return flaky_calls[key]


@activity.defn
async def double(x: int) -> int:
    return 2 * x


@workflow.defn
class Pipeline:
    def __init__(self) -> None:
        self.stage = "start"

    @workflow.run
    async def run(self, x: int) -> list[int]:
        from plait import RetryPolicy

        tries = await workflow.execute_activity(
            flaky, workflow.info().workflow_id, start_to_close_timeout=T10,
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=50)))
        self.stage = "sleeping"
        await workflow.sleep(0.3)
        parts = await asyncio.gather(*(workflow.execute_activity(
            double, x + i, start_to_close_timeout=T10) for i in range(3)))
        return [tries, *parts]


async def check_history(client: Client, wid: str) -> list[str]:
    history = await client.get_workflow_handle(wid).fetch_history()
    ids = [e.event_id for e in history.events]
    assert ids == list(range(1, len(ids) + 1))
    return [e.event_type for e in history.events]


async def test_a_workflow_with_retries_a_timer_and_parallel_activities(
        any_env: WorkflowEnvironment, queue: str) -> None:
    client = any_env.client
    async with Worker(client, task_queue=queue, workflows=[Pipeline],
                      activities=[flaky, double]):
        handles = [await client.start_workflow(Pipeline.run, 10 * i, id=f"{queue}-{i}",
                                               task_queue=queue) for i in range(5)]
        results = await asyncio.gather(*(h.result() for h in handles))
    assert results == [[3, 20 * i, 20 * i + 2, 20 * i + 4] for i in range(5)]
    for i in range(5):
        types = await check_history(client, f"{queue}-{i}")
        assert types.count("TIMER_FIRED") == 1
        assert types.count("ACTIVITY_TASK_COMPLETED") == 4
        desc = await client.get_workflow_handle(f"{queue}-{i}").describe()
        assert [a.outcome for a in desc.attempts if a.activity_type == "flaky"] == \
            ["failed", "failed", "completed"]
    assert await client.count_workflows(status="COMPLETED") == 5


@contextlib.asynccontextmanager
async def two_servers(url: str) -> AsyncIterator[tuple[Server, Server]]:
    config = ServiceConfig(session_expiry=3.0)
    one, two = Server(url, port=0, config=config), Server(url, port=0, config=config)
    await one.start()
    await two.start()
    try:
        yield one, two
    finally:
        await one.stop()
        await two.stop()


@workflow.defn
class Quick:
    @workflow.run
    async def run(self, x: int) -> int:
        return await workflow.execute_activity(double, x, start_to_close_timeout=T10)


async def test_two_servers_serve_one_database_promptly(pg_url: str, queue: str) -> None:
    """Started through one server, run by a worker polling the other, awaited on the first:
    wake-ups cross servers (NOTIFY), so no step waits for a periodic recheck."""
    async with two_servers(pg_url) as (one, two):
        starter = await Client.connect(one.address)
        polled = await Client.connect(two.address)
        try:
            async with Worker(polled, task_queue=queue, workflows=[Quick, Pipeline],
                              activities=[double, flaky]):
                assert await starter.execute_workflow(Quick.run, 1, id=f"{queue}-warm",
                                                      task_queue=queue) == 2
                latencies = []
                for i in range(10):
                    started = time.monotonic()
                    assert await starter.execute_workflow(
                        Quick.run, i, id=f"{queue}-{i}", task_queue=queue) == 2 * i
                    latencies.append(time.monotonic() - started)
                # Each crossing would cost up to 2 s if a wake-up were missed.
                assert max(latencies) < 1.0, latencies
                # Timers and retries fire once, whichever server's timer service wins.
                handles = [await starter.start_workflow(Pipeline.run, i, id=f"{queue}-p{i}",
                                                        task_queue=queue) for i in range(6)]
                await asyncio.gather(*(h.result() for h in handles))
            for i in range(6):
                types = await check_history(polled, f"{queue}-p{i}")
                assert types.count("TIMER_FIRED") == 1
                assert types.count("TIMER_STARTED") == 1
                desc = await polled.get_workflow_handle(f"{queue}-p{i}").describe()
                assert len([a for a in desc.attempts if a.activity_type == "flaky"]) == 3
        finally:
            await starter.close()
            await polled.close()


@activity.defn
async def stuck() -> None:
    await asyncio.sleep(30)


@workflow.defn
class TimesOut:
    @workflow.run
    async def run(self) -> str:
        from plait import RetryPolicy

        try:
            await workflow.execute_activity(stuck, start_to_close_timeout=timedelta(seconds=0.5),
                                            retry_policy=RetryPolicy(maximum_attempts=2))
        except Exception as e:
            return type(e.__cause__).__name__
        return "no timeout"


async def test_timeouts_fire_once_with_two_servers(pg_url: str, queue: str) -> None:
    async with two_servers(pg_url) as (one, two):
        c1 = await Client.connect(one.address)
        c2 = await Client.connect(two.address)
        try:
            async with Worker(c1, task_queue=queue, workflows=[TimesOut], activities=[stuck]), \
                    Worker(c2, task_queue=queue, workflows=[TimesOut], activities=[stuck]):
                handles = [await (c1 if i % 2 else c2).start_workflow(
                    TimesOut.run, id=f"{queue}-{i}", task_queue=queue) for i in range(6)]
                results = await asyncio.wait_for(
                    asyncio.gather(*(h.result() for h in handles)), 30)
            assert results == ["TimeoutError"] * 6
            for i in range(6):
                types = await check_history(c1, f"{queue}-{i}")
                assert types.count("ACTIVITY_TASK_TIMED_OUT") == 1
                desc = await c2.get_workflow_handle(f"{queue}-{i}").describe()
                assert [(a.attempt, a.outcome) for a in desc.attempts] == \
                    [(1, "timed_out"), (2, "timed_out")]
        finally:
            await c1.close()
            await c2.close()


sends: list[float] = []


@activity.defn(name="send")
async def send(i: int) -> int:
    sends.append(time.time())
    return i


@workflow.defn
class Blast:
    @workflow.run
    async def run(self, base: int) -> int:
        results = await asyncio.gather(*(workflow.execute_activity(
            "send", base + i, start_to_close_timeout=timedelta(seconds=60)) for i in range(5)))
        return sum(results)


async def test_a_rate_limit_holds_across_two_servers(pg_url: str, queue: str) -> None:
    """Limit 5/s (burst 1) on an activity type; 50 activities from workers on two servers:
    no 1-second window sees more than 5 starts plus the burst, and all finish in ~10 s."""
    sends.clear()
    async with two_servers(pg_url) as (one, two):
        assert one.service is not None
        await one.service.store.write(lambda t: t.set_rate_limit("default", queue, "send",
                                                                 5.0, 1.0))
        c1 = await Client.connect(one.address)
        c2 = await Client.connect(two.address)
        try:
            async with Worker(c1, task_queue=queue, workflows=[Blast], activities=[send]), \
                    Worker(c2, task_queue=queue, workflows=[Blast], activities=[send]):
                started = time.time()
                handles = [await (c1 if i % 2 else c2).start_workflow(
                    Blast.run, 10 * i, id=f"{queue}-{i}", task_queue=queue) for i in range(10)]
                results = await asyncio.wait_for(
                    asyncio.gather(*(h.result() for h in handles)), 60)
                took = time.time() - started
            assert results == [50 * i + 10 for i in range(10)]
            starts = []  # when the server handed out each attempt: what the limit governs
            for i in range(10):
                desc = await c1.get_workflow_handle(f"{queue}-{i}").describe()
                assert [a.outcome for a in desc.attempts] == ["completed"] * 5
                starts += [a.started_at.timestamp() for a in desc.attempts if a.started_at]
        finally:
            await c1.close()
            await c2.close()
    assert len(sends) == len(starts) == 50
    busiest = max(sum(1 for s in starts if t <= s < t + 1.0) for t in starts)
    assert busiest <= 5 + 1, busiest
    assert 8.5 <= took <= 14, took
