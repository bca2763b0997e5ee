"""A state change leaves no reference cycles behind.

Everything a change builds (its context, runs, rows, events, effects) should be freed by
reference counting when the change is over. A cycle among them (a Run holds its Ctx, so a
Ctx that keeps its saved Runs makes one) turns every workflow step into garbage only the
cycle collector frees: on W1 that was ~190 objects per workflow and a third more full-heap
traversals, measured with ``gc.callbacks`` (bench/results/seams-ab.md, eighth session).
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from plait import Worker, activity, workflow
from plait.protocol.commands import CompleteWorkflowCommand, ScheduleActivityCommand
from plait.protocol.completions import CompleteActivityTaskRequest, CompleteWorkflowTaskRequest
from plait.protocol.requests import StartWorkflowRequest
from plait.protocol.sessions import OpenSessionRequest
from plait.server import dispatch, lifecycle, results, sessions, steps
from plait.server.run import Ctx
from plait.server.service import Service
from plait.testing import WorkflowEnvironment

NS, QUEUE = "default", "q"
FIVE = timedelta(seconds=5)


def _payload(value: Any) -> dict[str, Any]:
    return {"encoding": "json", "data": value}


def _task_done(token: str, commands: list[Any], eager: int = 0) -> Callable[[Ctx], Any]:
    return lambda ctx: steps.complete_workflow_task(ctx, CompleteWorkflowTaskRequest(
        token=token, commands=commands, eager_activities=eager))


def _activity_done(token: str, value: int) -> Callable[[Ctx], Any]:
    return lambda ctx: results.complete_activity(ctx, CompleteActivityTaskRequest(
        token=token, result=_payload(value), eager_workflow=True))


async def _workflow(svc: Service, sid: str, wid: str) -> None:
    """A W1 workflow's state changes, as the routes make them: a start, its workflow task,
    two activities handed back eagerly, each result handing back the next workflow task."""
    await svc.write(lambda ctx: lifecycle.start_workflow(ctx, NS, StartWorkflowRequest(
        workflow_id=wid, workflow_type="W", task_queue=QUEUE, input=[_payload(1)])))
    [wt] = await svc.write(lambda ctx: dispatch.claim(ctx, NS, QUEUE, "workflow", sid, 10))
    token = wt.token
    for step in range(2):
        command = ScheduleActivityCommand(activity_id=str(step), activity_type="a",
                                          start_to_close_timeout=5, input=[_payload(step)])
        [act] = (await svc.write(_task_done(token, [command], eager=1)))["activity_tasks"]
        token = (await svc.write(_activity_done(act.token, step)))["workflow_task"].token
    await svc.write(_task_done(token, [CompleteWorkflowCommand(result=_payload(2))]))


async def test_workflow_steps_leave_no_garbage_cycles(service: Service) -> None:
    opened = await service.write(lambda ctx: sessions.open_session(
        ctx, NS, OpenSessionRequest(task_queue=QUEUE, workflow_types=["W"],
                                    activity_types=["a"]), 30.0))
    await _workflow(service, opened.session_id, "warm-up")  # first-use caches
    gc.collect()
    gc.disable()
    try:
        for i in range(5):
            await _workflow(service, opened.session_id, f"w{i}")
        assert gc.collect() == 0
    finally:
        gc.enable()


@activity.defn
async def double(x: int) -> int:
    return 2 * x


@workflow.defn
class TwoSteps:
    @workflow.run
    async def run(self, x: int) -> int:
        x = await workflow.execute_activity(double, x, start_to_close_timeout=FIVE)
        return await workflow.execute_activity(double, x, start_to_close_timeout=FIVE)


async def test_activity_attempts_leave_no_garbage_cycles(
        env: WorkflowEnvironment, queue: str) -> None:
    """An attempt's heartbeat, its activity context and its task pointed at one another: each
    attempt was left to the cycle collector (3 per W1 workflow, 10 objects each)."""
    async with Worker(env.client, task_queue=queue, workflows=[TwoSteps], activities=[double]):
        assert await env.client.execute_workflow(TwoSteps.run, 1, id=f"{queue}-warm",
                                                 task_queue=queue) == 4
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for i in range(5):
                assert await env.client.execute_workflow(
                    TwoSteps.run, i, id=f"{queue}-{i}", task_queue=queue) == 4 * i
            gc.collect()
            kinds = {type(o).__qualname__ for o in gc.garbage}
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
    assert not kinds & {"_Heartbeat", "_Context", "ActivityInfo"}, sorted(kinds)
