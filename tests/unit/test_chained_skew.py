"""A chained step's clock check measures the worker's skew, not the server's queue.

The check refuses a step whose time is more than ``MAX_SKEW`` from the server's clock. It
used to compare with the time of the transaction, so on a busy server (requests waiting for
the store) good steps were refused as skewed, and each refusal cost a workflow task, a full
history fetch and a replay: more work exactly when the server had least to spare (under
callgrind, 395 refusals in 898 steps). It now allows for the time the request waited on
this server since it arrived.
"""

from __future__ import annotations

from typing import Any

from plait.protocol.commands import CompleteWorkflowCommand, ScheduleActivityCommand
from plait.protocol.completions import (
    CompleteActivityTaskRequest,
    CompleteWorkflowTaskRequest,
    WorkflowStep,
)
from plait.protocol.requests import StartWorkflowRequest
from plait.protocol.sessions import OpenSessionRequest
from plait.server import dispatch, lifecycle, results, sessions, steps
from plait.server.chained import MAX_SKEW
from plait.server.service import Service

NS, QUEUE = "default", "q"


async def _activity_out(svc: Service, wid: str) -> tuple[str, int]:
    """A run whose workflow task scheduled one activity, handed back eagerly: the activity's
    token and the ``upto`` the worker's instance has seen."""
    opened = await svc.write(lambda ctx: sessions.open_session(
        ctx, NS, OpenSessionRequest(task_queue=QUEUE, workflow_types=["W"],
                                    activity_types=["a"]), 30.0))
    sid = opened.session_id
    await svc.write(lambda ctx: lifecycle.start_workflow(ctx, NS, StartWorkflowRequest(
        workflow_id=wid, workflow_type="W", task_queue=QUEUE)))
    [wt] = await svc.write(lambda ctx: dispatch.claim(ctx, NS, QUEUE, "workflow", sid, 10))
    command = ScheduleActivityCommand(activity_id="1", activity_type="a",
                                      start_to_close_timeout=5)
    out: Any = await svc.write(lambda ctx: steps.complete_workflow_task(
        ctx, CompleteWorkflowTaskRequest(token=wt.token, commands=[command],
                                         eager_activities=1)))
    [act] = out["activity_tasks"]
    return act.token, out["upto"]


async def _chain(svc: Service, token: str, upto: int, started: float,
                 arrived: float) -> Any:
    step = WorkflowStep(upto=upto, started_time=started,
                        commands=[CompleteWorkflowCommand()])
    msg = CompleteActivityTaskRequest(token=token, workflow_step=step)
    return await svc.write(lambda ctx: results.complete_activity(ctx, msg, arrived))


async def test_a_step_that_waited_on_the_server_is_recorded(service: Service) -> None:
    token, upto = await _activity_out(service, "waited")
    now = service.clock.now()
    # Run by the worker a moment before it reached the server, which then held the request
    # for longer than MAX_SKEW before its transaction ran.
    out = await _chain(service, token, upto, started=now - MAX_SKEW - 3.5,
                       arrived=now - MAX_SKEW - 3)
    assert "refused" not in out["workflow_step"], out


async def test_a_step_older_than_its_arrival_allows_is_refused(service: Service) -> None:
    token, upto = await _activity_out(service, "old")
    now = service.clock.now()
    out = await _chain(service, token, upto, started=now - MAX_SKEW - 1, arrived=now)
    assert out["workflow_step"] == {"refused": "clock_skew"}


async def test_a_step_from_the_future_is_refused(service: Service) -> None:
    token, upto = await _activity_out(service, "future")
    now = service.clock.now()
    out = await _chain(service, token, upto, started=now + MAX_SKEW + 1, arrived=now)
    assert out["workflow_step"] == {"refused": "clock_skew"}
