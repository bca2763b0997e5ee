"""Eager activity dispatch: a workflow task's completion that schedules an activity on the
completing worker's queue hands the activity back in its answer (up to the free slots the
worker declared), leased in the same transaction, so no poll is needed. An eager attempt
must be indistinguishable from a polled one afterwards: the same history, the same attempt
log, and the same recovery when its worker dies or it runs past its start-to-close timeout.
These tests drive the service without HTTP, with the calls the routes make."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from plait.protocol.commands import CompleteWorkflowCommand, ScheduleActivityCommand
from plait.protocol.completions import CompleteActivityTaskRequest, CompleteWorkflowTaskRequest
from plait.protocol.requests import StartWorkflowRequest
from plait.protocol.sessions import OpenSessionRequest
from plait.protocol.tasks import ActivityTask
from plait.server import dispatch, lifecycle, results, sessions, steps
from plait.server.answers import OutgoingWorkflowTask
from plait.server.run import Ctx
from plait.server.service import Service
from plait.store.base import Txn
from plait.store.sqlite import SQLiteStore

NS, QUEUE = "default", "q"
START_TO_CLOSE = 10.0


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    store = SQLiteStore(str(tmp_path / "eager.db"))
    svc = Service(store)
    try:
        yield svc
    finally:
        await store.close()


async def open_session(svc: Service) -> str:
    out = await svc.write(lambda ctx: sessions.open_session(ctx, NS, OpenSessionRequest(
        task_queue=QUEUE, workflow_types=["Order"], activity_types=["charge"]), expiry=30.0))
    return out.session_id


async def polled(svc: Service, sid: str, kind: str, later: float = 0.0) -> list[Any]:
    """A poll's claim (``later`` seconds from now: after a retry's backoff)."""
    return await svc.write(lambda ctx: dispatch.claim(
        Ctx(ctx.txn, ctx.now + later, ctx.effects, ctx.wall, ctx.ledger) if later else ctx,
        NS, QUEUE, kind, sid, 10))


async def schedule(svc: Service, sid: str, wid: str, free_slots: int) -> tuple[str, Any]:
    """Start ``wid``, take its workflow task and answer it with one activity, declaring
    ``free_slots``; the run id and the completion's answer."""
    started = await svc.write(lambda ctx: lifecycle.start_workflow(ctx, NS, StartWorkflowRequest(
        workflow_id=wid, workflow_type="Order", task_queue=QUEUE)))
    [wt] = await polled(svc, sid, "workflow")
    assert isinstance(wt, OutgoingWorkflowTask)
    command = ScheduleActivityCommand(activity_id="1", activity_type="charge",
                                      start_to_close_timeout=START_TO_CLOSE)
    answer = await svc.write(lambda ctx: steps.complete_workflow_task(
        ctx, CompleteWorkflowTaskRequest(token=wt.token, commands=[command],
                                         eager_activities=free_slots)))
    return started["run_id"], answer


async def finish(svc: Service, sid: str, act: ActivityTask) -> None:
    """Complete the activity, then the workflow (the task the result scheduled, polled)."""
    await svc.write(lambda ctx: results.complete_activity(ctx, CompleteActivityTaskRequest(
        token=act.token, result={"encoding": "json", "data": "ok"})))
    [wt] = await polled(svc, sid, "workflow")
    done = CompleteWorkflowCommand(result={"encoding": "json", "data": "done"})
    await svc.write(lambda ctx: steps.complete_workflow_task(
        ctx, CompleteWorkflowTaskRequest(token=wt.token, commands=[done])))


async def shape(svc: Service, wid: str, rid: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The history's event types, and the attempt log without its times."""
    def read(t: Txn) -> tuple[list[str], list[tuple[Any, ...]]]:
        types = [msgspec.json.decode(e)["event_type"] for e in t.events(NS, wid, rid)]
        attempts = [(a.activity_id, a.attempt, a.activity_type, a.outcome,
                     (a.failure or {}).get("type"), a.worker is not None)
                    for a in t.attempts_of_run(NS, wid, rid)]
        return types, attempts
    return await svc.store.read(read)


async def test_an_activity_comes_back_in_the_completions_answer_and_needs_no_poll(
        service: Service) -> None:
    sid = await open_session(service)
    rid, answer = await schedule(service, sid, "eager", free_slots=1)
    [act] = answer["activity_tasks"]
    assert act.activity_type == "charge" and act.attempt == 1
    assert await polled(service, sid, "activity") == []  # already leased to this worker
    await finish(service, sid, act)
    # The polled path, for the same workflow: the same history, the same attempt log.
    rid2, answer2 = await schedule(service, sid, "polled", free_slots=0)
    assert not answer2.get("activity_tasks")
    [act2] = await polled(service, sid, "activity")
    await finish(service, sid, act2)
    assert await shape(service, "eager", rid) == await shape(service, "polled", rid2)


async def test_a_worker_that_declares_no_free_slot_gets_no_activity(service: Service) -> None:
    sid = await open_session(service)
    _, answer = await schedule(service, sid, "full", free_slots=0)
    assert not answer.get("activity_tasks")
    [act] = await polled(service, sid, "activity")  # left on the queue for any poll
    assert act.activity_type == "charge"


async def test_an_eager_attempt_whose_worker_dies_is_retried_like_a_polled_one(
        service: Service) -> None:
    shapes = []
    for wid, free_slots in (("eager", 1), ("polled", 0)):
        sid = await open_session(service)
        rid, answer = await schedule(service, sid, wid, free_slots)
        [act] = answer.get("activity_tasks") or await polled(service, sid, "activity")
        # kill -9: the worker's session expires, with the attempt leased to it.
        await service.write(lambda ctx, s=sid: sessions.expire_due(ctx, [s]))
        other = await open_session(service)
        [again] = await polled(service, other, "activity")
        assert again.attempt == 2 and again.token != act.token
        await finish(service, other, again)
        shapes.append(await shape(service, wid, rid))
    assert shapes[0] == shapes[1]
    assert ("1", 1, "charge", "failed", "WorkerLost", True) in shapes[0][1]


async def test_an_eager_attempt_past_its_start_to_close_timeout_is_retried(
        service: Service) -> None:
    shapes = []
    for wid, free_slots in (("eager", 1), ("polled", 0)):
        sid = await open_session(service)
        rid, answer = await schedule(service, sid, wid, free_slots)
        [act] = answer.get("activity_tasks") or await polled(service, sid, "activity")
        # The worker is alive and still lists the attempt at its heartbeat, past the timeout.

        def late_heartbeat(ctx: Ctx, s: str = sid, token: str = act.token) -> Any:
            later = Ctx(ctx.txn, ctx.now + START_TO_CLOSE + 1, ctx.effects, ctx.wall,
                        ctx.ledger)
            return sessions.heartbeat(later, s, [token], expiry=30.0)
        await service.write(late_heartbeat)
        [again] = await polled(service, sid, "activity", later=START_TO_CLOSE + 60)
        assert again.attempt == 2
        await finish(service, sid, again)
        shapes.append(await shape(service, wid, rid))
    assert shapes[0] == shapes[1]
    assert any(a[3] == "timed_out" for a in shapes[0][1]), shapes[0][1]
