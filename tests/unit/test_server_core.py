"""Server state changes without HTTP: the service's functions on a real SQLite store.

Each test drives one workflow through the same calls the routes make (start, claim, complete,
fail, close) and checks the history and the run state they leave, so the server core can be
tested and changed without a worker or a socket.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from plait.protocol.commands import (
    Command,
    CompleteWorkflowCommand,
    ScheduleActivityCommand,
    StartChildWorkflowCommand,
)
from plait.protocol.common import Failure
from plait.protocol.completions import (
    CompleteActivityTaskRequest,
    CompleteWorkflowTaskRequest,
    FailWorkflowTaskRequest,
)
from plait.protocol.enums import ParentClosePolicy
from plait.protocol.requests import StartWorkflowRequest
from plait.protocol.sessions import OpenSessionRequest
from plait.protocol.tasks import ActivityTask
from plait.server import closing, dispatch, lifecycle, results, sessions, steps
from plait.server.answers import Dispatched, OutgoingWorkflowTask
from plait.server.errors import Conflict
from plait.server.run import Ctx
from plait.server.service import Service

NS, QUEUE = "default", "q"


async def session(svc: Service) -> str:
    out = await svc.write(lambda ctx: sessions.open_session(ctx, NS, OpenSessionRequest(
        task_queue=QUEUE, workflow_types=["Order"], activity_types=["charge"]), expiry=30.0))
    return out.session_id


async def claim(svc: Service, sid: str, kind: str) -> list[Dispatched]:
    return await svc.write(lambda ctx: dispatch.claim(ctx, NS, QUEUE, kind, sid, 10))


async def workflow_tasks(svc: Service, sid: str) -> list[OutgoingWorkflowTask]:
    tasks = await claim(svc, sid, "workflow")
    assert all(isinstance(t, OutgoingWorkflowTask) for t in tasks), tasks
    return [t for t in tasks if isinstance(t, OutgoingWorkflowTask)]


async def activity_tasks(svc: Service, sid: str) -> list[ActivityTask]:
    tasks = await claim(svc, sid, "activity")
    assert all(isinstance(t, ActivityTask) for t in tasks), tasks
    return [t for t in tasks if isinstance(t, ActivityTask)]


def types_of(events: list[msgspec.Raw]) -> list[str]:
    return [msgspec.json.decode(e)["event_type"] for e in events]


async def event_types(svc: Service, wid: str) -> list[str]:
    def read(t: Any) -> list[str]:
        rid = t.current_run(NS, wid)
        return types_of(t.events(NS, wid, rid))
    return await svc.store.read(read)


def start(wid: str) -> Any:
    return lambda ctx: lifecycle.start_workflow(ctx, NS, StartWorkflowRequest(
        workflow_id=wid, workflow_type="Order", task_queue=QUEUE,
        input=[{"encoding": "json", "data": 1}]))


def completion(token: str, *commands: Command) -> CompleteWorkflowTaskRequest:
    return CompleteWorkflowTaskRequest(token=token, commands=list(commands))


async def test_a_workflow_with_one_activity_runs_to_completion(service: Service) -> None:
    sid = await session(service)
    started = await service.write(start("w1"))
    assert started["started"]
    [wt] = await workflow_tasks(service, sid)
    assert types_of(wt.events)[:2] == [
        "WORKFLOW_EXECUTION_STARTED", "WORKFLOW_TASK_SCHEDULED"]
    schedule = ScheduleActivityCommand(activity_id="1", activity_type="charge",
                                       start_to_close_timeout=10)
    await service.write(lambda ctx: steps.complete_workflow_task(
        ctx, completion(wt.token, schedule)))
    [act] = await activity_tasks(service, sid)
    await service.write(lambda ctx: results.complete_activity(ctx, CompleteActivityTaskRequest(
        token=act.token, result={"encoding": "json", "data": "ok"})))
    [wt2] = await workflow_tasks(service, sid)
    done = CompleteWorkflowCommand(result={"encoding": "json", "data": "done"})
    await service.write(lambda ctx: steps.complete_workflow_task(
        ctx, completion(wt2.token, done)))
    assert await event_types(service, "w1") == [
        "WORKFLOW_EXECUTION_STARTED", "WORKFLOW_TASK_SCHEDULED", "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED", "ACTIVITY_TASK_SCHEDULED", "ACTIVITY_TASK_STARTED",
        "ACTIVITY_TASK_COMPLETED", "WORKFLOW_TASK_SCHEDULED", "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED", "WORKFLOW_EXECUTION_COMPLETED"]
    row = await service.store.read(lambda t: t.get_execution(NS, "w1", started["run_id"]))
    assert row is not None and row.status == "COMPLETED" and row.state.wt is None
    assert row.state.sticky is None  # closed: nobody caches it


async def test_a_stale_token_is_refused_and_changes_nothing(service: Service) -> None:
    sid = await session(service)
    await service.write(start("w2"))
    [wt] = await workflow_tasks(service, sid)
    await service.write(lambda ctx: steps.fail_workflow_task(ctx, FailWorkflowTaskRequest(
        token=wt.token, failure=Failure(message="bug"))))
    before = await event_types(service, "w2")
    with pytest.raises(Conflict, match="no longer owned"):
        await service.write(lambda ctx: steps.complete_workflow_task(
            ctx, completion(wt.token)))
    assert await event_types(service, "w2") == before


async def test_terminating_a_parent_terminates_its_child(service: Service) -> None:
    sid = await session(service)
    parent = await service.write(start("parent"))
    [wt] = await workflow_tasks(service, sid)
    child = StartChildWorkflowCommand(seq="1", workflow_id="child", workflow_type="Order",
                                      parent_close_policy=ParentClosePolicy.TERMINATE)
    await service.write(lambda ctx: steps.complete_workflow_task(
        ctx, completion(wt.token, child)))
    row = await service.store.read(lambda t: t.get_execution(NS, "parent", parent["run_id"]))
    assert row is not None and list(row.state.children) == ["1"]
    await service.write(lambda ctx: closing.terminate(ctx, NS, "parent", None, "done"))
    types = await event_types(service, "child")
    assert types[-1] == "WORKFLOW_EXECUTION_TERMINATED"


async def test_a_rolled_back_change_leaves_the_run_as_it_was(service: Service) -> None:
    await service.write(start("w3"))
    before = await event_types(service, "w3")

    def terminate_then_fail(ctx: Ctx) -> None:
        closing.terminate(ctx, NS, "w3", None, "oops")
        raise RuntimeError("the transaction fails after the close")
    with pytest.raises(RuntimeError):
        await service.write(terminate_then_fail)
    assert await event_types(service, "w3") == before


async def test_a_task_leased_to_a_session_that_no_longer_exists_is_handed_out_again(
        service: Service) -> None:
    """On PostgreSQL a claim can race its session's expiry on another server and commit
    after it (READ COMMITTED): the task is then leased to a session that is gone, which the
    expiry never sees. The next expiry sweep hands it out again."""
    sid = await session(service)
    await service.write(start("orphan"))
    [wt] = await workflow_tasks(service, sid)
    await service.write(lambda ctx: ctx.txn.delete_session(sid))  # the race's outcome
    await service.write(lambda ctx: sessions.expire_due(ctx))
    other = await session(service)
    [again] = await workflow_tasks(service, other)
    assert again.token != wt.token
    assert "WORKFLOW_TASK_TIMED_OUT" in await event_types(service, "orphan")
