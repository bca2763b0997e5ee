"""``Worker(..., metrics_port=N)`` serves the worker's own Prometheus series (issue 14):
checked by scraping it after a known workload."""

from __future__ import annotations

import asyncio
import urllib.request
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from plait import Worker, activity, workflow
from plait.errors import ApplicationError
from plait.retry import RetryPolicy
from plait.testing import WorkflowEnvironment
from tests.waiting import NotYet, activity_started, eventually, history_has

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(worker: Worker) -> Samples:
    url = f"http://127.0.0.1:{worker.metrics_port}/metrics"

    def get() -> str:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.read().decode()
    text = await asyncio.to_thread(get)
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@activity.defn
async def ok(n: int) -> int:
    return n + 1


@activity.defn
async def flaky(n: int) -> int:
    if activity.info().attempt == 1:
        raise ApplicationError("first attempt fails")
    return n * 2


@workflow.defn
class TwoSteps:
    @workflow.run
    async def run(self, n: int) -> int:
        n = await workflow.execute_activity(ok, n, start_to_close_timeout=timedelta(seconds=10))
        return await workflow.execute_activity(
            flaky, n, start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=10)))


async def test_counts_after_a_known_workload(env: WorkflowEnvironment, queue: str) -> None:
    runs = 3
    # No eager dispatch: every workflow task then comes from a poll to _process, so the
    # cache sees each (chained steps would run some straight from an activity's result).
    async with Worker(env.client, task_queue=queue, workflows=[TwoSteps],
                      activities=[ok, flaky], metrics_port=0, metrics_host="127.0.0.1",
                      max_concurrent_activities=7, eager_dispatch=False) as worker:
        handles = [await env.client.start_workflow(TwoSteps.run, i, id=f"{queue}-{i}",
                                                   task_queue=queue) for i in range(runs)]
        assert [await h.result() for h in handles] == [2 * (i + 1) for i in range(runs)]
        m = await scrape(worker)

    attempts = "plait_worker_activity_attempts_total"
    assert value(m, attempts, activity_type="ok", outcome="completed") == runs
    assert value(m, attempts, activity_type="flaky", outcome="failed") == runs
    assert value(m, attempts, activity_type="flaky", outcome="completed") == runs
    # Three workflow tasks a run (start, each result); each ran once, here.
    tasks = value(m, "plait_worker_workflow_tasks_total", outcome="completed")
    assert tasks == 3 * runs
    assert value(m, "plait_worker_workflow_tasks_total", outcome="failed") == 0
    hits = value(m, "plait_worker_sticky_cache_total", result="hit")
    misses = value(m, "plait_worker_sticky_cache_total", result="miss")
    assert hits + misses == tasks and misses >= runs and hits >= 1  # a first task misses
    assert value(m, "plait_worker_task_seconds_count", kind="workflow") == tasks
    assert value(m, "plait_worker_task_seconds_count", kind="activity") == 3 * runs
    assert value(m, "plait_worker_task_seconds_sum", kind="activity") > 0
    assert value(m, "plait_worker_task_seconds_bucket", kind="workflow", le="+Inf") == tasks
    assert value(m, "plait_worker_slots", kind="activity") == 7
    assert value(m, "plait_worker_slots_used", kind="activity") == 0
    assert value(m, "plait_worker_sticky_cache_size") == 0  # closed runs are not kept


@activity.defn
async def blocks() -> None:
    await asyncio.Event().wait()  # until cancelled at shutdown


@workflow.defn
class Waits:
    def __init__(self) -> None:
        self.go = False

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.go)
        return "done"

    @workflow.signal
    def release(self) -> None:
        self.go = True


@workflow.defn
class Blocks:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(blocks, start_to_close_timeout=timedelta(seconds=60))


async def test_slots_in_use_and_evictions(env: WorkflowEnvironment, queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Waits, Blocks],
                      activities=[blocks], metrics_port=0, metrics_host="127.0.0.1",
                      max_cached_workflows=1,
                      graceful_shutdown_timeout=timedelta(milliseconds=100)) as worker:
        b = await env.client.start_workflow(Blocks.run, id=f"{queue}-b", task_queue=queue)
        await activity_started(b, "blocks")

        async def one_activity_running() -> Samples | NotYet:
            m = await scrape(worker)
            return m if value(m, "plait_worker_slots_used", kind="activity") == 1 else NotYet(m)
        await eventually(one_activity_running, what="the blocking activity's slot in use")

        w1 = await env.client.start_workflow(Waits.run, id=f"{queue}-w1", task_queue=queue)
        await history_has(w1, "WORKFLOW_TASK_COMPLETED")
        w2 = await env.client.start_workflow(Waits.run, id=f"{queue}-w2", task_queue=queue)
        await history_has(w2, "WORKFLOW_TASK_COMPLETED")
        # One place in the cache: Blocks was pushed out by w1, w1 by w2.
        m = await scrape(worker)
        assert value(m, "plait_worker_sticky_cache_evictions_total", reason="cache_full") == 2
        assert value(m, "plait_worker_sticky_cache_size") == 1
        misses = value(m, "plait_worker_sticky_cache_total", result="miss")
        await w1.signal(Waits.release)
        assert await w1.result() == "done"
        m = await scrape(worker)
        assert value(m, "plait_worker_sticky_cache_total", result="miss") == misses + 1


async def test_two_workers_in_one_process_count_apart(env: WorkflowEnvironment,
                                                     queue: str) -> None:
    async with Worker(env.client, task_queue=queue, activities=[ok], metrics_port=0,
                      metrics_host="127.0.0.1") as one, \
            Worker(env.client, task_queue=f"{queue}-other", activities=[ok], metrics_port=0,
                   metrics_host="127.0.0.1") as other:
        assert one.metrics_port != other.metrics_port
        a, b = await scrape(one), await scrape(other)
    assert value(a, "plait_worker_slots", kind="activity") == 100
    assert value(b, "plait_worker_slots", kind="activity") == 100
    assert one.metrics_port is not None


async def test_no_port_no_metrics(env: WorkflowEnvironment, queue: str) -> None:
    async with Worker(env.client, task_queue=queue, activities=[ok]) as worker:
        assert worker.metrics is None and worker.metrics_port is None


async def test_a_port_in_use_fails_run(env: WorkflowEnvironment, queue: str) -> None:
    async with Worker(env.client, task_queue=queue, activities=[ok], metrics_port=0,
                      metrics_host="127.0.0.1") as first:
        taken = first.metrics_port
        assert taken is not None
        with pytest.raises(OSError):
            await Worker(env.client, task_queue=queue, activities=[ok], metrics_port=taken,
                         metrics_host="127.0.0.1").run()
