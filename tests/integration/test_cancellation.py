"""Cancellation: at the workflow's current await, with compensations, and into activities."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from plait import Worker, activity, workflow
from plait.errors import ActivityError, CancelledError, WorkflowFailureError
from plait.testing import WorkflowEnvironment
from tests.waiting import NotYet, eventually

T10 = timedelta(seconds=10)
events: list[str] = []


@activity.defn
async def book(what: str) -> str:
    events.append(f"book {what}")
    return what


@activity.defn
async def unbook(what: str) -> None:
    events.append(f"unbook {what}")


@activity.defn
async def long_poll_partner(seconds: float) -> str:
    try:
        events.append("partner call running")
        for i in range(int(seconds * 20)):
            activity.heartbeat(i)
            await asyncio.sleep(0.05)
    except asyncio.CancelledError:
        events.append("partner call cancelled")
        raise
    return "partner done"


@workflow.defn
class Trip:
    @workflow.run
    async def run(self) -> str:
        booked: list[str] = []
        try:
            for what in ("flight", "hotel"):
                booked.append(await workflow.execute_activity(book, what,
                                                              start_to_close_timeout=T10))
            await workflow.execute_activity(long_poll_partner, 30.0, start_to_close_timeout=T10,
                                            heartbeat_timeout=timedelta(seconds=2))
            return "booked"
        except asyncio.CancelledError:
            for what in reversed(booked):  # the saga: undo in reverse order
                await workflow.execute_activity(unbook, what, start_to_close_timeout=T10)
            raise


async def test_cancel_runs_compensations_and_stops_the_activity(env: WorkflowEnvironment,
                                                                queue: str) -> None:
    events.clear()
    async with Worker(env.client, task_queue=queue, workflows=[Trip],
                      activities=[book, unbook, long_poll_partner]):
        h = await env.client.start_workflow(Trip.run, id="trip-1", task_queue=queue)
        # Cancel only once the call is inside its try: the point is what it does when cancelled.
        await eventually(lambda: "partner call running" in events or NotYet(list(events)),
                         what="the partner call running")
        await h.cancel(reason="customer changed plans")
        with pytest.raises(WorkflowFailureError) as info:
            await h.result()
        assert isinstance(info.value.cause, CancelledError)
        # The activity sees CancelledError at its next heartbeat.
        await eventually(lambda: "partner call cancelled" in events or NotYet(list(events)),
                         what="the partner call cancelled")
    assert events[:2] == ["book flight", "book hotel"]
    assert "unbook hotel" in events and "unbook flight" in events
    assert events.index("unbook hotel") < events.index("unbook flight")
    assert "partner call cancelled" in events
    desc = await h.describe()
    assert desc.status == "CANCELED"
    types = [e.event_type for e in (await h.fetch_history()).events]
    assert "WORKFLOW_EXECUTION_CANCEL_REQUESTED" in types
    assert "ACTIVITY_TASK_CANCEL_REQUESTED" in types
    assert types[-1] == "WORKFLOW_EXECUTION_CANCELED"
    from plait.testing import Replayer

    await Replayer(workflows=[Trip]).replay(await h.fetch_history())


@workflow.defn
class Careful:
    @workflow.run
    async def run(self, mode: str) -> str:
        handle = workflow.start_activity(long_poll_partner, 30.0, start_to_close_timeout=T10,
                                         heartbeat_timeout=timedelta(seconds=2),
                                         cancellation_type=mode)  # type: ignore[arg-type]
        await workflow.sleep(0.5)
        handle.cancel()
        try:
            await handle
        except asyncio.CancelledError:
            return "cancelled at once"
        except ActivityError as e:
            assert isinstance(e.cause, CancelledError)
            return "waited for the activity to stop"
        return "finished"


@pytest.mark.parametrize(("mode", "expected"), [
    ("try_cancel", "cancelled at once"),
    ("wait_cancellation_completed", "waited for the activity to stop"),
])
async def test_activity_cancellation_types(env: WorkflowEnvironment, queue: str, mode: str,
                                           expected: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Careful],
                      activities=[long_poll_partner]):
        assert await env.client.execute_workflow(Careful.run, mode, id=f"c-{mode}",
                                                 task_queue=queue) == expected


async def test_cancel_before_any_worker_and_cancel_of_closed(env: WorkflowEnvironment,
                                                             queue: str) -> None:
    h = await env.client.start_workflow(Trip.run, id="trip-early", task_queue=queue)
    await h.cancel()
    await h.cancel()  # idempotent
    async with Worker(env.client, task_queue=queue, workflows=[Trip],
                      activities=[book, unbook, long_poll_partner]):
        with pytest.raises(WorkflowFailureError):
            await h.result()
    assert (await h.describe()).status == "CANCELED"
    from plait.errors import RPCError

    with pytest.raises(RPCError) as info:
        await h.cancel()
    assert info.value.code == "workflow_not_running"
