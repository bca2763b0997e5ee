"""The limits a server holds each run to (docs/operations.md "Limits"), set small here: a
history past its size is terminated with ``history_size_exceeded``; a workflow task whose
commands would pass the pending-activities or pending-children limit fails visibly and is
retried; a signal past the per-run limit is refused with ``limit_exceeded``."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import aiohttp
import msgspec
import pytest

from plait import Client, Worker, activity, errors, workflow
from plait.server.config import RunLimits
from plait.testing import WorkflowEnvironment
from tests.store.pgdb import fresh_schema
from tests.waiting import NotYet, eventually, history_has

_DB: list[str | None] = [None]
"""The database of this test's server: SQLite (None, a temporary file), or PostgreSQL."""


@pytest.fixture(autouse=True, params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every limit on both stores (they save a run's row and events differently)."""
    if request.param == "sqlite":
        yield
        return
    with fresh_schema() as url:
        _DB[0] = url
        try:
            yield
        finally:
            _DB[0] = None


@contextlib.asynccontextmanager
async def limited(**limits: int) -> AsyncIterator[Client]:
    """A real server (in this process, on a port) with these run limits."""
    async with WorkflowEnvironment.start_local(
        db=_DB[0], session_expiry=3.0, limits=RunLimits(**limits)
    ) as env:
        yield env.client


def new_queue() -> str:
    return f"q-{uuid.uuid4().hex[:8]}"


@activity.defn
async def step(n: int) -> int:
    return n + 1


@workflow.defn
class Forever:
    """Runs activities one after another until the server stops it."""

    @workflow.run
    async def run(self) -> None:
        n = 0
        while True:
            n = await workflow.execute_activity(
                step, n, start_to_close_timeout=timedelta(seconds=10)
            )


@workflow.defn
class Collector:
    """Takes signals until told to stop."""

    def __init__(self) -> None:
        self.got: list[str] = []

    @workflow.signal
    def add(self, item: str) -> None:
        self.got.append(item)

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: "stop" in self.got)
        return len(self.got)


async def test_a_history_past_its_event_limit_is_terminated_with_the_reason() -> None:
    queue = new_queue()
    async with (
        limited(max_history_events=60) as client,
        Worker(client, task_queue=queue, workflows=[Forever, Collector], activities=[step]),
    ):
        handle = await client.start_workflow(Forever.run, id="loop", task_queue=queue)
        with pytest.raises(errors.WorkflowFailureError) as caught:
            await asyncio.wait_for(handle.result(), 30)
        cause = caught.value.cause
        assert isinstance(cause, errors.TerminatedError)
        assert cause.message.startswith("history_size_exceeded: ")
        assert "over the server's limit of 60 (--max-history-events)" in cause.message
        # The worker sees the run closed and goes on serving others.
        again = await client.start_workflow(Collector.run, id="after", task_queue=queue)
        await again.signal(Collector.add, "stop")
        assert await asyncio.wait_for(again.result(), 30) == 1
        desc = await handle.describe()
        history = await handle.fetch_history()
    assert desc.status == "TERMINATED"
    assert desc.raw["result"]["reason"].startswith("history_size_exceeded: ")
    last = history.events[-1]
    assert last.event_type == "WORKFLOW_EXECUTION_TERMINATED"
    assert len(history.events) >= 61
    assert last.event_id == len(history.events)


async def test_a_history_past_its_byte_limit_is_terminated_in_the_change_that_crossed_it() -> None:
    queue = new_queue()
    async with limited(max_history_bytes=20_000) as client:
        handle = await client.start_workflow(Collector.run, id="big", task_queue=queue)
        sent = 0
        with pytest.raises(errors.RPCError) as refused:
            for _ in range(100):  # no worker: the signals only grow the history
                await handle.signal(Collector.add, "x" * 1000)
                sent += 1
        assert refused.value.code == "workflow_not_running"
        desc = await handle.describe()
        history = await handle.fetch_history()
        stored = await stored_size(client, "big", desc.run_id)
    assert 10 < sent < 25
    assert desc.status == "TERMINATED"
    assert 20_000 < desc.history_size_bytes == stored
    reason = history.events[-1].attributes["reason"]
    assert reason.startswith("history_size_exceeded: ")
    assert "bytes of history, over the server's limit of 20,000 (--max-history-bytes)" in reason
    # The signal that crossed the limit is in, right before the termination.
    assert history.events[-2].event_type == "WORKFLOW_EXECUTION_SIGNALED"
    assert len(history.events) == sent + 3  # started, wt scheduled, signals, terminated


@workflow.defn
class FanOut:
    @workflow.run
    async def run(self, width: int, rounds: int) -> int:
        total = 0
        for _ in range(rounds):
            got = await asyncio.gather(
                *(
                    workflow.execute_activity(step, i, start_to_close_timeout=timedelta(seconds=10))
                    for i in range(width)
                )
            )
            total += sum(got)
        return total


async def test_pending_activities_within_the_limit_run_round_after_round() -> None:
    """The count goes down as activities finish (chained steps included): rounds of the
    limit's width never trip it."""
    queue = new_queue()
    async with (
        limited(max_pending_activities=3) as client,
        Worker(client, task_queue=queue, workflows=[FanOut], activities=[step]),
    ):
        out = await asyncio.wait_for(
            client.execute_workflow(FanOut.run, args=[3, 10], id="rounds", task_queue=queue), 30
        )
        assert out == 60
        single = await asyncio.wait_for(
            client.execute_workflow(FanOut.run, args=[1, 30], id="chain", task_queue=queue), 30
        )
        assert single == 30
        desc = await client.get_workflow_handle("rounds").describe()
    assert desc.last_task_failure is None


async def test_a_task_scheduling_past_the_pending_activities_limit_fails_visibly() -> None:
    queue = new_queue()
    async with limited(max_pending_activities=3) as client:
        async with Worker(client, task_queue=queue, workflows=[FanOut], activities=[step]):
            handle = await client.start_workflow(
                FanOut.run, args=[5, 1], id="wide", task_queue=queue
            )
            desc = await wait_task_failure(client, "wide")
        history = await handle.fetch_history()
    failure = desc.last_task_failure
    assert desc.status == "RUNNING"
    assert failure.type == "PendingActivitiesLimitExceeded"
    assert failure.cause == "pending_activities_limit_exceeded"
    assert "schedules 5 activities while 0 are pending" in failure.message
    assert "limit of 3 pending activities per run (--max-pending-activities)" in failure.message
    types = [e.event_type for e in history.events]
    assert "ACTIVITY_TASK_SCHEDULED" not in types
    assert types[-1] == "WORKFLOW_TASK_SCHEDULED" and "WORKFLOW_TASK_FAILED" in types


async def wait_task_failure(client: Client, wid: str) -> Any:
    handle = client.get_workflow_handle(wid)

    async def failed() -> Any:
        desc = await handle.describe()
        return desc if desc.last_task_failure is not None else NotYet(desc.status)

    return await eventually(failed, what=f"a workflow task failure of {wid}")


@workflow.defn
class Child:
    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: False)
        return "never"


@workflow.defn
class Parent:
    @workflow.run
    async def run(self, n: int) -> None:
        await asyncio.gather(
            *(workflow.start_child_workflow(Child.run, id=f"child-{i}") for i in range(n))
        )
        await workflow.wait_condition(lambda: False)


async def test_a_task_starting_past_the_pending_children_limit_fails_visibly() -> None:
    queue = new_queue()
    async with (
        limited(max_pending_children=2) as client,
        Worker(client, task_queue=queue, workflows=[Parent, Child]),
    ):
        two = await client.start_workflow(Parent.run, 2, id="two", task_queue=queue)
        await client.start_workflow(Parent.run, 3, id="three", task_queue=queue)
        desc = await wait_task_failure(client, "three")
        await history_has(two, "CHILD_WORKFLOW_EXECUTION_STARTED", 2)  # two are fine
    failure = desc.last_task_failure
    assert failure.type == "PendingChildWorkflowsLimitExceeded"
    assert failure.cause == "pending_children_limit_exceeded"
    assert "limit of 2 running children per run (--max-pending-children)" in failure.message


async def test_a_signal_past_the_per_run_limit_is_refused() -> None:
    queue = new_queue()
    async with limited(max_signals=3) as client:
        handle = await client.start_workflow(
            Collector.run, id="sig", task_queue=queue, start_signal="add", start_signal_args=["a"]
        )
        await handle.signal(Collector.add, "b")
        await handle.signal(Collector.add, "c")
        with pytest.raises(errors.RPCError) as refused:
            await handle.signal(Collector.add, "d")
        with pytest.raises(errors.RPCError) as refused_start:
            await client.start_workflow(
                Collector.run,
                id="sig",
                task_queue=queue,
                start_signal="add",
                start_signal_args=["e"],
            )
        history = await handle.fetch_history()
    assert refused.value.status == 429 and refused.value.code == "limit_exceeded"
    assert "has received 3 signals" in refused.value.message
    assert "--max-signals-per-run" in refused.value.message
    assert refused_start.value.code == "limit_exceeded"
    signals = [e for e in history.events if e.event_type == "WORKFLOW_EXECUTION_SIGNALED"]
    assert len(signals) == 3


async def test_passing_the_warning_threshold_is_logged_and_counted_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from prometheus_client import REGISTRY

    def warned() -> float:
        return (
            REGISTRY.get_sample_value(
                "plait_history_size_limit_total",
                {"namespace": "default", "workflow_type": "Warned", "level": "warning"},
            )
            or 0.0
        )

    before = warned()
    async with limited(warn_history_events=5) as client:
        handle = await client.start_workflow("Warned", id="warned", task_queue=new_queue())
        with caplog.at_level("WARNING", logger="plait.server"):
            for n in range(10):
                await handle.signal("s", n)
        desc = await handle.describe()
    lines = [r.getMessage() for r in caplog.records if "continue as new" in r.getMessage()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("the history of workflow warned (run ")
    assert "has 5 events" in lines[0]
    assert warned() == before + 1
    assert desc.status == "RUNNING"


async def test_a_reset_run_counts_the_history_and_signals_it_starts_with() -> None:
    """The new run of a reset is its copied history plus what it re-applies: the limits
    count from there, not from zero."""
    async with limited(max_signals=3) as client:
        handle = await client.start_workflow(Collector.run, id="again", task_queue=new_queue())
        await handle.signal(Collector.add, "a")
        await handle.signal(Collector.add, "b")
        before = await handle.describe()
        stored_base = await stored_size(client, "again", before.run_id)
        new_run = await handle.reset(to="first_workflow_task", reason="try again")
        fresh = client.get_workflow_handle("again", run_id=new_run)
        await fresh.signal(Collector.add, "c")  # the third: still within the limit
        with pytest.raises(errors.RPCError) as refused:
            await fresh.signal(Collector.add, "d")
        after = await fresh.describe()
        stored_new = await stored_size(client, "again", new_run)
    assert refused.value.code == "limit_exceeded"
    assert before.history_size_bytes == stored_base > 0
    assert after.history_size_bytes == stored_new


class _Stored(msgspec.Struct):
    events: list[msgspec.Raw]


async def stored_size(client: Client, wid: str, rid: str) -> int:
    """The bytes of the run's events as the server stored them (it serves the stored text)."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{client.api.address}/api/v1/namespaces/default/workflows/{wid}/history",
            params={"run_id": rid},
        ) as resp,
    ):
        body = await resp.read()
    return sum(len(raw) for raw in msgspec.json.decode(body, type=_Stored).events)


@workflow.defn
class OneThenMany:
    @workflow.run
    async def run(self, width: int) -> int:
        first = await workflow.execute_activity(
            step, 0, start_to_close_timeout=timedelta(seconds=10)
        )
        got = await asyncio.gather(
            *(
                workflow.execute_activity(step, i, start_to_close_timeout=timedelta(seconds=10))
                for i in range(width)
            )
        )
        return first + sum(got)


def chained(outcome: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("plait_chained_steps_total", {"outcome": outcome}) or 0.0


async def test_a_chained_step_past_the_limit_is_refused_and_its_task_fails_visibly() -> None:
    """A worker that runs the task right after the activity (a chained step) learns of the
    limit too: the result is recorded alone, the task runs as a dispatched one and fails."""
    queue = new_queue()
    refused_before, recorded_before = chained("limit_exceeded"), chained("recorded")
    async with (
        limited(max_pending_activities=2) as client,
        Worker(client, task_queue=queue, workflows=[OneThenMany], activities=[step]),
    ):
        ok = await client.execute_workflow(OneThenMany.run, 2, id="fits", task_queue=queue)
        await client.start_workflow(OneThenMany.run, 3, id="over", task_queue=queue)
        desc = await wait_task_failure(client, "over")
        history = await client.get_workflow_handle("over").fetch_history()
    assert ok == 1 + 1 + 2
    assert chained("recorded") > recorded_before  # "fits" chained its step
    assert chained("limit_exceeded") == refused_before + 1
    assert "schedules 3 activities while 0 are pending" in desc.last_task_failure.message
    types = [e.event_type for e in history.events]
    assert types.count("ACTIVITY_TASK_COMPLETED") == 1  # the first result, recorded alone
