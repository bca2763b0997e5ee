"""Resetting a workflow to an event: a new run of the same id replays the history up to that
point on the code deployed now, and nothing before the point runs again. The repair path
after a bad deployment (a step that failed for good, fixed in the activity or behind
``workflow.patched``), signals re-delivered or not, timers pending at the point, closed runs,
and the points that are refused."""

from __future__ import annotations

import asyncio
import collections
from datetime import timedelta

import aiohttp
import pytest

from plait import History, Worker, activity, workflow
from plait.client import WorkflowHandle
from plait.errors import ActivityError, ApplicationError, RPCError, WorkflowFailureError
from plait.testing import WorkflowEnvironment
from tests.waiting import activity_started, history_has, status_is

T5 = timedelta(seconds=5)
ran: collections.Counter[str] = collections.Counter()
"""How often each activity ran (in this process), per test."""
released = asyncio.Event()


def fresh() -> None:
    """Counts from zero and a new gate, at the start of each test (a function each test
    calls rather than an autouse fixture, so that the PostgreSQL run of these tests in
    ``tests/store/test_end_to_end.py`` resets them too)."""
    global released
    ran.clear()
    released = asyncio.Event()


@activity.defn
async def reserve(order: str) -> str:
    ran["reserve"] += 1
    return f"reserved {order}"


@activity.defn(name="charge")
async def broken_charge(order: str) -> str:
    ran["broken_charge"] += 1
    raise ApplicationError("card processor rejected the request", non_retryable=True)


@activity.defn(name="charge")
async def fixed_charge(order: str) -> str:
    ran["fixed_charge"] += 1
    return f"charged {order}"


@activity.defn
async def charge_by_card(order: str) -> str:
    ran["charge_by_card"] += 1
    return f"charged {order} by card"


@activity.defn
async def ship(order: str) -> str:
    ran["ship"] += 1
    return f"shipped {order}"


@activity.defn
async def gated_ship(order: str) -> str:
    ran["gated_ship"] += 1
    await released.wait()
    return f"shipped {order}"


@workflow.defn(name="Order")
class Order:
    @workflow.run
    async def run(self, order: str) -> list[str]:
        done = [await workflow.execute_activity(reserve, order, start_to_close_timeout=T5)]
        done.append(await workflow.execute_activity("charge", order, start_to_close_timeout=T5))
        done.append(await workflow.execute_activity(ship, order, start_to_close_timeout=T5))
        return done


@workflow.defn(name="Order")
class PatchedOrder:
    """The fix deployed as new workflow code: the failing step is replaced behind a patch."""

    @workflow.run
    async def run(self, order: str) -> list[str]:
        done = [await workflow.execute_activity(reserve, order, start_to_close_timeout=T5)]
        if workflow.patched("charge-by-card"):
            done.append(
                await workflow.execute_activity(charge_by_card, order, start_to_close_timeout=T5)
            )
        else:
            done.append(await workflow.execute_activity("charge", order, start_to_close_timeout=T5))
        done.append(await workflow.execute_activity(ship, order, start_to_close_timeout=T5))
        return done


@workflow.defn
class Collector:
    """Three steps; the signals it got are part of its result."""

    def __init__(self) -> None:
        self.got: list[str] = []

    @workflow.signal
    def add(self, name: str) -> None:
        self.got.append(name)

    @workflow.run
    async def run(self, order: str) -> list[str]:
        done = [await workflow.execute_activity(reserve, order, start_to_close_timeout=T5)]
        done.append(await workflow.execute_activity(gated_ship, order, start_to_close_timeout=T5))
        done.append(await workflow.execute_activity(ship, order, start_to_close_timeout=T5))
        return done + self.got


@workflow.defn
class TimerThenSignal:
    """A timer started in the first task, still running when a signal is handled."""

    def __init__(self) -> None:
        self.got: list[str] = []

    @workflow.signal
    def add(self, name: str) -> None:
        self.got.append(name)

    @workflow.run
    async def run(self, seconds: float) -> list[str]:
        timer = asyncio.ensure_future(workflow.sleep(seconds))
        await workflow.wait_condition(lambda: bool(self.got))
        await timer
        return self.got


@workflow.defn
class CancelsItsStep:
    """Asks its running step to stop (and waits for it to stop), then waits for a second
    signal."""

    def __init__(self) -> None:
        self.got: list[str] = []

    @workflow.signal
    def add(self, name: str) -> None:
        self.got.append(name)

    @workflow.run
    async def run(self, order: str) -> str:
        step = workflow.start_activity(
            gated_ship,
            order,
            start_to_close_timeout=T5,
            cancellation_type="wait_cancellation_completed",
        )
        await workflow.wait_condition(lambda: len(self.got) >= 1)
        step.cancel()
        try:
            await workflow.wait_condition(lambda: len(self.got) >= 2)
            return await step
        except ActivityError as e:
            return f"step {e.retry_state}"


def _events(history: History) -> list[tuple[int, str]]:
    return [(e.event_id, e.event_type) for e in history.events]


def _completed_before(history: History, event_type: str, nth: int = 1) -> int:
    """The WORKFLOW_TASK_COMPLETED whose task wrote the ``nth`` ``event_type`` event."""
    events = _events(history)
    at = [i for i, (_, t) in enumerate(events) if t == event_type][nth - 1]
    return next(eid for eid, t in reversed(events[:at]) if t == "WORKFLOW_TASK_COMPLETED")


async def _failed(handle: WorkflowHandle[list[str]]) -> None:
    with pytest.raises(WorkflowFailureError):
        await handle.result()


async def test_reset_to_the_last_workflow_task_repairs_a_step_that_failed_for_good(
    env: WorkflowEnvironment, queue: str
) -> None:
    fresh()
    async with Worker(
        env.client, task_queue=queue, workflows=[Order], activities=[reserve, broken_charge, ship]
    ):
        handle = await env.client.start_workflow(Order.run, "o-1", id="repair", task_queue=queue)
        await _failed(handle)
    assert ran == {"reserve": 1, "broken_charge": 1}
    old_history = await handle.fetch_history()

    # The fixed activity is deployed; the failed run is reset and completes on it.
    async with Worker(
        env.client, task_queue=queue, workflows=[Order], activities=[reserve, fixed_charge, ship]
    ):
        new_run = await handle.reset(to="last_workflow_task", reason="charge fixed in 1.4.2")
        new = env.client.get_workflow_handle_for(Order.run, "repair", run_id=new_run)
        assert await new.result() == ["reserved o-1", "charged o-1", "shipped o-1"]
    assert ran == {"reserve": 1, "broken_charge": 1, "fixed_charge": 1, "ship": 1}

    # The point was the task that scheduled the failed step: the new run's history is the
    # old one up to that task's start, then the reset's failed-task marker.
    point = _completed_before(old_history, "ACTIVITY_TASK_SCHEDULED", 2)
    new_events = _events(await new.fetch_history())
    assert new_events[: point - 1] == _events(old_history)[: point - 1]
    assert new_events[point - 1] == (point, "WORKFLOW_TASK_FAILED")
    marker = (await new.fetch_history()).events[point - 1]
    assert marker.attributes["cause"] == "reset_workflow"
    assert "charge fixed in 1.4.2" in marker.attributes["failure"]["message"]

    old = await env.client.get_workflow_handle(
        "repair", run_id=handle.run_id or old_history.run_id
    ).describe()
    assert old.status == "FAILED"  # a closed run stays as it closed
    assert old.reset_to_run_id == new_run
    described = await new.describe()
    assert described.reset_from_run_id == old_history.run_id
    assert described.reset_reason == "charge fixed in 1.4.2"
    assert described.reset_event_id == _completed_before(old_history, "ACTIVITY_TASK_SCHEDULED", 2)
    assert (await env.client.get_workflow_handle("repair").describe()).run_id == new_run


async def test_reset_replays_the_prefix_on_patched_code_and_takes_the_patch_after_it(
    env: WorkflowEnvironment, queue: str
) -> None:
    fresh()
    async with Worker(
        env.client, task_queue=queue, workflows=[Order], activities=[reserve, broken_charge, ship]
    ):
        handle = await env.client.start_workflow(Order.run, "o-2", id="patched", task_queue=queue)
        await _failed(handle)
    old_history = await handle.fetch_history()
    point = _completed_before(old_history, "ACTIVITY_TASK_SCHEDULED", 2)

    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[PatchedOrder],
        activities=[reserve, charge_by_card, ship],
    ):
        new_run = await handle.reset(point, reason="charge by card instead")
        new = env.client.get_workflow_handle_for(PatchedOrder.run, "patched", run_id=new_run)
        assert await new.result() == ["reserved o-2", "charged o-2 by card", "shipped o-2"]
    assert ran == {"reserve": 1, "broken_charge": 1, "charge_by_card": 1, "ship": 1}
    types = [t for _, t in _events(await new.fetch_history())]
    assert "MARKER_RECORDED" in types[point:]  # the patch was taken live, after the point


@pytest.mark.parametrize("reapply", [True, False])
async def test_signals_after_the_point_are_delivered_again_when_asked(
    env: WorkflowEnvironment, queue: str, reapply: bool
) -> None:
    fresh()
    async with Worker(
        env.client, task_queue=queue, workflows=[Collector], activities=[reserve, gated_ship, ship]
    ):
        handle = await env.client.start_workflow(
            Collector.run, "o-3", id=f"sig-{reapply}", task_queue=queue
        )
        await activity_started(handle, "gated_ship")
        await handle.signal(Collector.add, "gift wrap")
        history = await history_has(handle, "WORKFLOW_EXECUTION_SIGNALED")
        point = _completed_before(history, "ACTIVITY_TASK_SCHEDULED", 2)
        new_run = await handle.reset(point, reapply_signals=reapply)
        released.set()
        new = env.client.get_workflow_handle_for(Collector.run, f"sig-{reapply}", run_id=new_run)
        result = await new.result()
    steps = ["reserved o-3", "shipped o-3", "shipped o-3"]
    assert result == ([*steps, "gift wrap"] if reapply else steps)
    assert await handle.result() == result  # the old run's handle follows on to the new run
    assert ran["reserve"] == 1  # before the point: not again
    assert ran["gated_ship"] == 2  # the old run's attempt, and the new run's
    old = await env.client.get_workflow_handle(f"sig-{reapply}", run_id=history.run_id).describe()
    assert old.status == "TERMINATED"
    assert f"reset to event {point}" in (old.raw["result"] or {})["reason"]
    assert old.reset_to_run_id == new_run


async def test_a_timer_pending_at_the_point_fires_in_the_new_run(
    env: WorkflowEnvironment, queue: str
) -> None:
    fresh()
    async with Worker(env.client, task_queue=queue, workflows=[TimerThenSignal]):
        handle = await env.client.start_workflow(
            TimerThenSignal.run, 1.0, id="timer", task_queue=queue
        )
        await history_has(handle, "TIMER_STARTED")
        await handle.signal(TimerThenSignal.add, "go")
        history = await history_has(handle, "WORKFLOW_TASK_COMPLETED", 2)
        # Reset to the task that handled the signal: the timer was started before it.
        new_run = await handle.reset(to="last_workflow_task")
        new = env.client.get_workflow_handle_for(TimerThenSignal.run, "timer", run_id=new_run)
        assert await new.result() == ["go"]
    types = [t for _, t in _events(await new.fetch_history())]
    assert types.count("TIMER_STARTED") == 1 and "TIMER_FIRED" in types
    assert history.run_id != new_run


async def test_reset_of_a_completed_run_to_its_first_task_runs_it_again(
    env: WorkflowEnvironment, queue: str
) -> None:
    fresh()
    async with Worker(
        env.client, task_queue=queue, workflows=[Order], activities=[reserve, fixed_charge, ship]
    ):
        handle = await env.client.start_workflow(Order.run, "o-4", id="again", task_queue=queue)
        first = await handle.result()
        new_run = await handle.reset(to="first_workflow_task", reason="replay the order")
        new = env.client.get_workflow_handle_for(Order.run, "again", run_id=new_run)
        assert await new.result() == first
    assert ran == {"reserve": 2, "fixed_charge": 2, "ship": 2}
    assert (await status_is(handle, "COMPLETED")).reset_to_run_id == new_run


async def test_points_that_are_not_a_completed_workflow_task_are_refused(
    env: WorkflowEnvironment, queue: str
) -> None:
    fresh()
    async with Worker(
        env.client, task_queue=queue, workflows=[Order], activities=[reserve, fixed_charge, ship]
    ):
        handle = await env.client.start_workflow(Order.run, "o-5", id="refused", task_queue=queue)
        await handle.result()
    history = await handle.fetch_history()
    events = _events(history)
    scheduled = next(eid for eid, t in events if t == "ACTIVITY_TASK_SCHEDULED")
    second_wts = [eid for eid, t in events if t == "WORKFLOW_TASK_SCHEDULED"][1]
    for bad, words in (
        (1, "WORKFLOW_EXECUTION_STARTED"),
        (scheduled, "ACTIVITY_TASK_SCHEDULED"),
        (second_wts, "WORKFLOW_TASK_SCHEDULED"),
        (len(events) + 5, "1.."),
    ):
        with pytest.raises(RPCError) as e:
            await handle.reset(bad)
        assert e.value.status == 400 and words in e.value.message, (bad, e.value.message)
    with pytest.raises(ValueError):
        await handle.reset()
    with pytest.raises(ValueError):
        await handle.reset(5, to="last_workflow_task")
    url = f"{env.address}/api/v1/namespaces/default/workflows/refused/reset"
    async with aiohttp.ClientSession() as http:
        for body in ({}, {"event_id": 4, "to": "last_workflow_task"}, {"to": "middle"}):
            async with http.post(url, json=body) as resp:
                answer = await resp.json()
                assert resp.status == 400, answer
                assert answer["error"]["code"] in ("bad_request",), answer
    # Nothing was changed by the refusals.
    described = await handle.describe()
    assert described.status == "COMPLETED" and described.reset_to_run_id is None


async def test_an_activity_pending_at_the_point_is_pending_again_in_the_new_run(
    env: WorkflowEnvironment, queue: str
) -> None:
    fresh()
    async with Worker(
        env.client, task_queue=queue, workflows=[Collector], activities=[reserve, gated_ship, ship]
    ):
        handle = await env.client.start_workflow(
            Collector.run, "o-6", id="pending", task_queue=queue
        )
        await activity_started(handle, "gated_ship")
        await handle.signal(Collector.add, "note")
        history = await history_has(handle, "WORKFLOW_TASK_COMPLETED", 3)
        # The last task handled the signal while gated_ship ran: it is pending at the point,
        # and nothing but the new run's restored activity can run it again.
        new_run = await handle.reset(to="last_workflow_task", reapply_signals=False)
        new = env.client.get_workflow_handle_for(Collector.run, "pending", run_id=new_run)
        await activity_started(new, "gated_ship")
        released.set()
        assert await new.result() == ["reserved o-6", "shipped o-6", "shipped o-6", "note"]
    assert ran == {"reserve": 1, "gated_ship": 2, "ship": 1}
    new_types = [t for _, t in _events(await new.fetch_history())]
    assert new_types.count("ACTIVITY_TASK_SCHEDULED") == 3  # gated_ship's was copied, not re-made
    assert history.run_id != new_run


async def test_an_activity_asked_to_stop_before_the_point_is_cancelled_not_run_again(
    env: WorkflowEnvironment, queue: str
) -> None:
    fresh()
    async with Worker(
        env.client, task_queue=queue, workflows=[CancelsItsStep], activities=[gated_ship]
    ):
        handle = await env.client.start_workflow(
            CancelsItsStep.run, "o-7", id="cancel-asked", task_queue=queue
        )
        await activity_started(handle, "gated_ship")
        await handle.signal(CancelsItsStep.add, "stop it")
        await history_has(handle, "ACTIVITY_TASK_CANCEL_REQUESTED")
        await handle.signal(CancelsItsStep.add, "go on")
        await history_has(handle, "WORKFLOW_TASK_COMPLETED", 3)
        # The step never heard of the cancel (it does not heartbeat): at the point it is
        # pending with its stop asked for. Nothing can run it there, so it is cancelled.
        new_run = await handle.reset(to="last_workflow_task", reapply_signals=False)
        new = env.client.get_workflow_handle_for(CancelsItsStep.run, "cancel-asked", run_id=new_run)
        assert await new.result() == "step cancel"
        released.set()
    assert ran == {"gated_ship": 1}
    assert (await new.describe()).pending_activities == []


@workflow.defn
class Waits:
    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: False)
        return "never"


@workflow.defn
class Parent:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_child_workflow(
            Waits.run, id=f"{workflow.info().workflow_id}-child"
        )


async def test_a_point_with_a_child_still_open_is_refused_and_an_earlier_one_is_not(
    env: WorkflowEnvironment, queue: str
) -> None:
    fresh()
    async with Worker(env.client, task_queue=queue, workflows=[Parent, Waits]):
        handle = await env.client.start_workflow(Parent.run, id="parent", task_queue=queue)
        history = await history_has(handle, "CHILD_WORKFLOW_EXECUTION_STARTED")
        await history_has(handle, "WORKFLOW_TASK_COMPLETED", 2)
        with pytest.raises(RPCError) as e:
            await handle.reset(to="last_workflow_task")
        assert e.value.status == 400 and "child workflow 'parent-child'" in e.value.message
        assert (await handle.describe()).status == "RUNNING"
        # The task that started the child runs again: the old child goes with the old run
        # (its parent-close policy), and the new run starts it anew.
        point = _completed_before(history, "START_CHILD_WORKFLOW_EXECUTION_INITIATED")
        new_run = await handle.reset(point)
        new = env.client.get_workflow_handle("parent", run_id=new_run)
        await history_has(new, "CHILD_WORKFLOW_EXECUTION_STARTED")
        child = env.client.get_workflow_handle("parent-child")
        described = await child.describe()
        assert described.status == "RUNNING"
        [old_child] = [
            e.attributes["run_id"]
            for e in history.events
            if e.event_type == "CHILD_WORKFLOW_EXECUTION_STARTED"
        ]
        assert described.run_id != old_child
        old = await env.client.get_workflow_handle("parent-child", run_id=old_child).describe()
        assert old.status == "TERMINATED"
        await new.terminate()
