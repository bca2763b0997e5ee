"""What the history and the attempt log say about time: a task is never started before it
was scheduled, an activity's STARTED is when its attempt began (so its run time shows), and
an attempt that was running when its workflow closed stays in the attempt log."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from plait import Worker, activity, workflow
from plait.history import History
from plait.testing import WorkflowEnvironment

RUNS_FOR = 0.2


@activity.defn
async def slow(i: int) -> int:
    await asyncio.sleep(RUNS_FOR)
    return i


@activity.defn
async def forever() -> None:
    await asyncio.Event().wait()


@workflow.defn
class Steps:
    @workflow.run
    async def run(self, n: int) -> int:
        total = 0
        for i in range(n):
            total += await workflow.execute_activity(
                slow, i, start_to_close_timeout=timedelta(seconds=10))
        return total


@workflow.defn
class Stuck:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(forever, start_to_close_timeout=timedelta(minutes=5))


def _by_type(history: History, etype: str) -> list[tuple[int, float]]:
    return [(e.event_id, e.timestamp.timestamp()) for e in history.events
            if e.event_type == etype]


async def test_tasks_start_after_they_are_scheduled_and_activities_show_their_run_time(
        env: WorkflowEnvironment, queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Steps], activities=[slow]):
        h = await env.client.start_workflow(Steps.run, 3, id="steps", task_queue=queue)
        assert await h.result() == 3
        history = await h.fetch_history()
    by_id = {e.event_id: e for e in history.events}
    for event in history.events:
        scheduled = event.attributes.get("scheduled_event_id")
        if event.event_type == "WORKFLOW_TASK_STARTED":
            assert by_id[scheduled].timestamp <= event.timestamp, (scheduled, event.event_id)
        if event.event_type == "ACTIVITY_TASK_COMPLETED":
            [started] = [e for e in history.events if e.event_type == "ACTIVITY_TASK_STARTED"
                         and e.attributes["scheduled_event_id"] == scheduled]
            ran = (event.timestamp - started.timestamp).total_seconds()
            assert ran >= RUNS_FOR * 0.9, (event.event_id, ran)
    stamps = [e.timestamp for e in history.events]
    assert stamps == sorted(stamps)  # nothing buffered here: time goes one way


async def test_an_attempt_running_when_its_workflow_is_terminated_stays_in_the_log(
        env: WorkflowEnvironment, queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Stuck], activities=[forever]):
        h = await env.client.start_workflow(Stuck.run, id="stuck", task_queue=queue)
        for _ in range(500):
            if any(p.state == "started" for p in (await h.describe()).pending_activities):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the activity never started")
        await h.terminate(reason="operator")
        desc = await h.describe()
    [attempt] = desc.attempts
    assert attempt.outcome == "canceled" and attempt.ended_at is not None
    assert attempt.failure is not None and "TERMINATED" in str(attempt.failure)
