"""The server's Prometheus series (API.md "Observability"), scraped from ``/metrics`` after
real workflows ran.

Counters are process-global (every server in this process adds to them), so each test runs
in a namespace of its own and reads only its own series.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from plait import Client, RetryPolicy, Worker, activity, workflow
from plait.errors import ApplicationError, WorkflowFailureError
from plait.server.config import ServiceConfig
from plait.server.main import Server
from plait.testing import WorkflowEnvironment
from tests.waiting import NotYet, eventually

T5 = timedelta(seconds=5)
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(address: str, ns: str) -> Samples:
    """Every sample of namespace ``ns``, by (sample name, labels without the namespace)."""
    async with aiohttp.ClientSession() as http, http.get(address + "/metrics") as r:
        assert r.status == 200
        text = await r.text()
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.labels.get("namespace") == ns:
                labels = frozenset((k, v) for k, v in s.labels.items() if k != "namespace")
                out[(s.name, labels)] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def ns() -> str:
    return f"metrics-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def menv(ns: str) -> AsyncIterator[WorkflowEnvironment]:
    async with WorkflowEnvironment.start_local(namespace=ns, namespaces=[ns],
                                               session_expiry=3.0) as e:
        yield e


flaky_calls: dict[str, int] = {}


@activity.defn(name="metrics_flaky")
async def flaky(key: str) -> str:
    flaky_calls[key] = flaky_calls.get(key, 0) + 1
    if flaky_calls[key] <= 2:
        raise RuntimeError(f"attempt {flaky_calls[key]} fails")
    return "ok"


@workflow.defn(name="MetricsOk")
class Ok:
    @workflow.run
    async def run(self) -> str:
        return "done"


@workflow.defn(name="MetricsBoom")
class Boom:
    @workflow.run
    async def run(self) -> None:
        raise ApplicationError("no", non_retryable=True)


@workflow.defn(name="MetricsRetry")
class Retried:
    @workflow.run
    async def run(self, key: str) -> str:
        return await workflow.execute_activity(
            flaky, key, start_to_close_timeout=T5,
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=20)))


@workflow.defn(name="MetricsWait")
class Wait:
    @workflow.run
    async def run(self) -> None:
        await workflow.sleep(3600)


@workflow.defn(name="MetricsTimer")
class Timer:
    @workflow.run
    async def run(self) -> str:
        await workflow.sleep(0.05)
        return "woke"


@workflow.defn(name="MetricsBug")
class Bug:
    @workflow.run
    async def run(self) -> None:
        raise RuntimeError("a bug: fails the workflow task, not the workflow")


async def test_counters_and_histograms_by_label(menv: WorkflowEnvironment, ns: str,
                                                queue: str) -> None:
    client = menv.client
    workflows = [Ok, Boom, Retried, Wait, Timer, Bug]
    async with Worker(client, task_queue=queue, workflows=workflows, activities=[flaky]):
        assert await client.execute_workflow(Ok.run, id="ok", task_queue=queue) == "done"
        with pytest.raises(WorkflowFailureError):
            await client.execute_workflow(Boom.run, id="boom", task_queue=queue)
        key = uuid.uuid4().hex
        assert await client.execute_workflow(Retried.run, key, id="retry",
                                             task_queue=queue) == "ok"
        assert await client.execute_workflow(Timer.run, id="timer", task_queue=queue) == "woke"
        waiting = await client.start_workflow(Wait.run, id="wait", task_queue=queue)
        bug = await client.start_workflow(Bug.run, id="bug", task_queue=queue)

        async def running() -> Samples | NotYet:
            m = await scrape(menv.address, ns)
            ok = value(m, "plait_workflows_open", workflow_type="MetricsWait") == 1 \
                and value(m, "plait_task_queue_pollers", task_queue=queue) >= 1 \
                and value(m, "plait_workflow_task_failures_total", workflow_type="MetricsBug")
            return m if ok else NotYet(m)
        m = await eventually(running, what="the open run, the poller and the task failure")
        await waiting.terminate("done waiting")
        await bug.terminate("a bug")

    m = await scrape(menv.address, ns)
    for wtype in ("MetricsOk", "MetricsBoom", "MetricsRetry", "MetricsWait", "MetricsTimer"):
        assert value(m, "plait_workflows_started_total", workflow_type=wtype) == 1, wtype
    closed = {(dict(labels)["workflow_type"], dict(labels)["status"]): v
              for (name, labels), v in m.items() if name == "plait_workflows_closed_total"}
    assert closed == {("MetricsOk", "COMPLETED"): 1, ("MetricsBoom", "FAILED"): 1,
                      ("MetricsRetry", "COMPLETED"): 1, ("MetricsTimer", "COMPLETED"): 1,
                      ("MetricsWait", "TERMINATED"): 1, ("MetricsBug", "TERMINATED"): 1}
    assert value(m, "plait_workflow_duration_seconds_count", workflow_type="MetricsWait",
                 status="TERMINATED") == 1
    assert value(m, "plait_workflow_duration_seconds_sum", workflow_type="MetricsTimer",
                 status="COMPLETED") >= 0.05

    attempts = "plait_activity_attempts_total"
    assert value(m, attempts, activity_type="metrics_flaky", outcome="failed") == 2
    assert value(m, attempts, activity_type="metrics_flaky", outcome="completed") == 1
    assert value(m, "plait_activity_retries_total", activity_type="metrics_flaky") == 2
    assert value(m, "plait_activity_execution_seconds_count",
                 activity_type="metrics_flaky") == 3
    assert value(m, "plait_activity_schedule_to_start_seconds_count", task_queue=queue) == 3
    assert value(m, "plait_workflow_task_failures_total", workflow_type="MetricsBug") >= 1
    assert value(m, "plait_timer_lateness_seconds_count") >= 1  # the user timer

    async def closed_down() -> Samples | NotYet:
        m = await scrape(menv.address, ns)
        return m if value(m, "plait_workflows_open", workflow_type="MetricsWait") == 0 \
            else NotYet(m)
    await eventually(closed_down, what="the open gauge dropping after the terminate")


async def test_backlog_counts_ready_tasks_no_worker_holds(menv: WorkflowEnvironment, ns: str,
                                                          queue: str) -> None:
    for i in range(3):
        await menv.client.start_workflow("MetricsNobodyRuns", id=f"b-{i}", task_queue=queue)

    async def backlog() -> Samples | NotYet:
        m = await scrape(menv.address, ns)
        ok = value(m, "plait_task_queue_backlog", task_queue=queue, kind="workflow") == 3 \
            and value(m, "plait_workflows_open", workflow_type="MetricsNobodyRuns") == 3
        return m if ok else NotYet(m)
    m = await eventually(backlog, what="three workflow tasks in the backlog")
    assert value(m, "plait_task_queue_pollers", task_queue=queue) == 0
    assert ("plait_store_transaction_seconds_count", frozenset()) not in m  # no namespace


async def test_open_gauge_survives_a_restart(tmp_path: Path, ns: str, queue: str) -> None:
    """The open gauge is read from the database: a new server on the same file reports the
    runs the previous one started, though it counted none of them."""
    db = f"sqlite:///{tmp_path / 'plait.db'}"
    config = ServiceConfig(session_expiry=3.0)
    first = Server(db, port=0, config=config)
    await first.start()
    try:
        client = await Client.connect(first.address, namespace=ns)
        await client.create_namespace(ns)
        for i in range(2):
            await client.start_workflow("MetricsSurvivor", id=f"s-{i}", task_queue=queue)
        await client.close()
    finally:
        await first.stop()
    second = Server(db, port=0, config=config)
    await second.start()
    try:
        m = await scrape(second.address, ns)
        assert value(m, "plait_workflows_open", workflow_type="MetricsSurvivor") == 2
        assert value(m, "plait_task_queue_backlog", task_queue=queue, kind="workflow") == 2
    finally:
        await second.stop()


@activity.defn(name="metrics_limited")
async def limited(i: int) -> int:
    return i


@workflow.defn(name="MetricsLimited")
class Limited:
    @workflow.run
    async def run(self, n: int) -> int:
        done = await asyncio.gather(*(workflow.execute_activity(
            limited, i, start_to_close_timeout=T5) for i in range(n)))
        return sum(done)


async def test_rate_limit_waits_by_queue(menv: WorkflowEnvironment, ns: str,
                                         queue: str) -> None:
    """Four activities at once against a bucket of one token refilled at 10/s: the ones
    claimed before their token go back to wait, and each time is counted."""
    await menv.client.set_rate_limit(queue, "metrics_limited", per_second=10, burst=1)
    async with Worker(menv.client, task_queue=queue, workflows=[Limited],
                      activities=[limited]):
        assert await menv.client.execute_workflow(Limited.run, 4, id="limited",
                                                  task_queue=queue) == 6
    m = await scrape(menv.address, ns)
    assert value(m, "plait_rate_limit_waits_total", task_queue=queue) >= 1
    assert value(m, "plait_activity_attempts_total", activity_type="metrics_limited",
                 outcome="completed") == 4
