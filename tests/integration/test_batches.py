"""Batch jobs in one process: a signal batch reaches every matching run once, a terminate
batch by type leaves other types alone, a reset batch repairs every failed run of a type, a
job can be cancelled, and requests the server cannot honour are refused whole, saying why."""

from __future__ import annotations

import asyncio
import collections
from datetime import timedelta

import pytest

from plait import Worker, activity, workflow
from plait.errors import ApplicationError, RPCError, WorkflowFailureError
from plait.testing import WorkflowEnvironment
from tests.waiting import eventually


@workflow.defn
class Gate:
    """Waits for `open`; returns how many times it was opened."""

    def __init__(self) -> None:
        self.opened = 0

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.opened > 0)
        return self.opened

    @workflow.signal
    def open(self, by: str) -> None:
        self.opened += 1


@workflow.defn
class Bystander:
    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)


ran: collections.Counter[str] = collections.Counter()


@activity.defn
async def reserve(order: str) -> str:
    ran[f"reserve {order}"] += 1
    return f"reserved {order}"


@activity.defn(name="charge")
async def broken_charge(order: str) -> str:
    raise ApplicationError("card processor rejected the request", non_retryable=True)


@activity.defn(name="charge")
async def fixed_charge(order: str) -> str:
    return f"charged {order}"


@workflow.defn
class Checkout:
    @workflow.run
    async def run(self, order: str) -> list[str]:
        t = timedelta(seconds=5)
        return [await workflow.execute_activity(reserve, order, start_to_close_timeout=t),
                await workflow.execute_activity("charge", order, start_to_close_timeout=t)]


async def _signalled(env: WorkflowEnvironment, wid: str) -> int:
    history = await env.client.get_workflow_handle(wid).fetch_history()
    return sum(e.event_type == "WORKFLOW_EXECUTION_SIGNALED" for e in history.events)


async def test_a_signal_batch_reaches_every_matching_run_once(
    env: WorkflowEnvironment, queue: str
) -> None:
    client = env.client
    async with Worker(client, task_queue=queue, workflows=[Gate, Bystander]):
        gates = [
            await client.start_workflow(Gate.run, id=f"gate-{i}", task_queue=queue)
            for i in range(30)
        ]
        other = await client.start_workflow(Bystander.run, id="bystander", task_queue=queue)
        job = await client.start_batch(
            "signal", workflow_type="Gate", signal=Gate.open, args=["ops"], rate_per_second=1000
        )
        done = await job.wait(timeout=timedelta(seconds=30))
        assert (done.state, done.total, done.done, done.failed) == ("completed", 30, 30, 0)
        assert done.operation == "signal" and done.signal == "open"
        assert done.close_time is not None and done.status == "RUNNING"
        assert [await g.result() for g in gates] == [1] * 30
        assert await _signalled(env, "bystander") == 0
        assert (await other.describe()).status == "RUNNING"
        listed = [b.batch_id async for b in client.list_batches()]
        assert listed == [job.id]


async def test_a_terminate_batch_by_type_leaves_other_types_alone(
    env: WorkflowEnvironment, queue: str
) -> None:
    client = env.client
    for i in range(10):
        await client.start_workflow(Gate.run, id=f"t-gate-{i}", task_queue=queue)
        await client.start_workflow(Bystander.run, id=f"t-by-{i}", task_queue=queue)
    assert await client.count_workflows(workflow_type="Gate", status="RUNNING") == 10
    job = await client.start_batch("terminate", workflow_type="Gate", reason="bad deploy")
    done = await job.wait(timeout=timedelta(seconds=30))
    assert (done.state, done.done, done.failed) == ("completed", 10, 0)
    assert await client.count_workflows(workflow_type="Gate", status="TERMINATED") == 10
    assert await client.count_workflows(workflow_type="Bystander", status="RUNNING") == 10
    history = await client.get_workflow_handle("t-gate-3").fetch_history()
    assert history.events[-1].attributes["reason"] == "bad deploy"


async def test_runs_started_after_the_job_are_not_included(
    env: WorkflowEnvironment, queue: str
) -> None:
    client = env.client
    await client.start_workflow(Gate.run, id="before", task_queue=queue)
    job = await client.start_batch("cancel", workflow_type="Gate", rate_per_second=1)
    await client.start_workflow(Gate.run, id="after", task_queue=queue)
    done = await job.wait(timeout=timedelta(seconds=30))
    assert (done.total, done.done) == (1, 1)
    assert done.started_before is not None
    hist = await client.get_workflow_handle("after").fetch_history()
    assert not any(e.event_type == "WORKFLOW_EXECUTION_CANCEL_REQUESTED" for e in hist.events)


async def test_a_cancelled_job_stops(env: WorkflowEnvironment, queue: str) -> None:
    client = env.client
    for i in range(20):
        await client.start_workflow(Gate.run, id=f"c-gate-{i}", task_queue=queue)
    job = await client.start_batch(
        "signal", workflow_type="Gate", signal="open", args=["x"], rate_per_second=4
    )

    async def started() -> bool:
        return (await job.describe()).done >= 1

    await eventually(started, what="the job acted on a first run")
    stopped = await job.cancel()
    assert stopped.state == "canceled" and stopped.close_time is not None
    after = await job.wait(timeout=timedelta(seconds=5))
    assert after.done == stopped.done < 20
    assert (await job.cancel()).state == "canceled"  # a second cancel changes nothing
    counts = [await _signalled(env, f"c-gate-{i}") for i in range(20)]
    assert sum(counts) == after.done and max(counts) == 1


async def test_a_reset_batch_repairs_every_failed_run_of_a_type(
    env: WorkflowEnvironment, queue: str
) -> None:
    """The bad deployment: every Checkout failed at its charge. The fix deployed, one batch
    resets them all to their last open task; each completes and no reserve ran twice."""
    client, ran_before = env.client, dict(ran)
    orders = [f"o-{i}" for i in range(8)]
    async with Worker(client, task_queue=queue, workflows=[Checkout, Gate],
                      activities=[reserve, broken_charge]):
        handles = [await client.start_workflow(Checkout.run, o, id=f"co-{o}", task_queue=queue)
                   for o in orders]
        for h in handles:
            with pytest.raises(WorkflowFailureError):
                await h.result()
        bystander = await client.start_workflow(Gate.run, id="co-gate", task_queue=queue)
    async with Worker(client, task_queue=queue, workflows=[Checkout, Gate],
                      activities=[reserve, fixed_charge]):
        job = await client.start_batch("reset", workflow_type="Checkout", status="FAILED",
                                       reset_to="last_workflow_task", reason="charge fixed",
                                       rate_per_second=1000)
        done = await job.wait(timeout=timedelta(seconds=30))
        assert (done.state, done.done, done.failed) == ("completed", 8, 0)
        for h, o in zip(handles, orders, strict=True):
            latest = client.get_workflow_handle(h.id)
            assert await latest.result() == [f"reserved {o}", f"charged {o}"]
            assert (await latest.describe()).reset_from_run_id == h.run_id
            assert ran[f"reserve {o}"] - ran_before.get(f"reserve {o}", 0) == 1
        assert (await bystander.describe()).status == "RUNNING"
        # A second batch over the same filter finds no failed latest run to reset again.
        again = await client.start_batch("reset", workflow_type="Checkout", status="FAILED",
                                         reset_to="last_workflow_task", rate_per_second=1000)
        assert (await again.wait(timeout=timedelta(seconds=30))).done == 0


async def test_pause_and_unpause_batches_hold_and_release_every_matching_run(
    env: WorkflowEnvironment, queue: str
) -> None:
    """The operator's stop-the-bleeding: pause every Gate, signal them while paused (kept,
    not acted on), unpause them all: each completes having seen its signal once."""
    client = env.client
    async with Worker(client, task_queue=queue, workflows=[Gate, Bystander]):
        gates = [await client.start_workflow(Gate.run, id=f"pz-gate-{i}", task_queue=queue)
                 for i in range(12)]
        other = await client.start_workflow(Bystander.run, id="pz-bystander", task_queue=queue)
        paused = await client.start_batch("pause", workflow_type="Gate", reason="outage",
                                          rate_per_second=1000)
        done = await paused.wait(timeout=timedelta(seconds=30))
        assert (done.state, done.done, done.failed) == ("completed", 12, 0)
        for g in gates:
            d = await g.describe()
            assert d.paused and d.pause_reason == "outage", g.id
        assert not (await other.describe()).paused
        for g in gates:
            await g.signal(Gate.open, "ops")
        # Held: the signal is in each history, yet no workflow task has run on it.
        for g in gates:
            assert (await g.describe()).status == "RUNNING"
        resumed = await client.start_batch("unpause", workflow_type="Gate",
                                           rate_per_second=1000)
        assert (await resumed.wait(timeout=timedelta(seconds=30))).done == 12
        assert [await g.result() for g in gates] == [1] * 12


async def test_requests_it_cannot_honour_are_refused(env: WorkflowEnvironment) -> None:
    client = env.client
    with pytest.raises(RPCError, match="one of event_id or to") as e:
        await client.start_batch("reset", workflow_type="Gate")
    assert e.value.status == 400
    with pytest.raises(RPCError, match="signal_name"):
        await client.start_batch("signal", workflow_type="Gate")
    with pytest.raises(RPCError, match="RUNNING runs only"):
        await client.start_batch("terminate", status="COMPLETED")
    with pytest.raises(RPCError, match="operation"):
        await client.start_batch("explode")
    with pytest.raises(RPCError, match="not found") as nf:
        await client.get_batch_handle("nope").describe()
    assert nf.value.code == "batch_not_found"
    assert [b async for b in client.list_batches()] == []


async def test_a_batch_signal_is_deduplicated_by_its_request_id(
    env: WorkflowEnvironment, queue: str
) -> None:
    """A start retried after a lost answer starts one job."""
    from plait._batches import start_request

    client = env.client
    await client.start_workflow(Gate.run, id="d-gate", task_queue=queue)
    body = start_request(
        "signal",
        workflow_type="Gate",
        status=None,
        search_attributes=None,
        started_after=None,
        started_before=None,
        reason="",
        signal="open",
        args=["x"],
        reset_to=None,
        reapply_signals=True,
        rate_per_second=None,
    )
    first, again = await asyncio.gather(client.api.start_batch(body), client.api.start_batch(body))
    assert first.batch_id == again.batch_id
    await client.get_batch_handle(first.batch_id).wait(timeout=timedelta(seconds=10))
    assert await _signalled(env, "d-gate") == 1
