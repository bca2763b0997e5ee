"""A worker starts an activity attempt only while it can believe the lease it came with is
live; otherwise it asks the server first, and drops the attempt if the server no longer
expects it. (The real-process reproduction with SIGSTOP is ``tests/faults/test_paused_worker``;
here the worker's belief is scripted, so each branch runs in a second or two.)"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from plait import Worker, activity, workflow
from plait._worker.lease import STALL, STALL_TICK, LeaseStamp
from plait.testing import WorkflowEnvironment

calls: list[str] = []


@activity.defn
async def effect(name: str) -> str:
    calls.append(name)
    return name


@activity.defn
def effect_sync(name: str) -> str:
    calls.append(name)
    return name


@workflow.defn
class OneEffect:
    @workflow.run
    async def run(self, sync: bool) -> str:
        result: str = await workflow.execute_activity(
            effect_sync if sync else effect, "x", start_to_close_timeout=timedelta(seconds=30))
        return result


def script(worker: Worker, monkeypatch: pytest.MonkeyPatch, answers: list[bool]) -> list[bool]:
    """Make ``worker.lease.live`` give ``answers`` first, then the truth; returns every
    answer it gave."""
    real: Callable[[LeaseStamp], bool] = worker.lease.live
    given: list[bool] = []

    def lease_live(stamp: LeaseStamp) -> bool:
        answer = answers.pop(0) if answers else real(stamp)
        given.append(answer)
        return answer
    monkeypatch.setattr(worker.lease, "live", lease_live)
    return given


async def test_a_lease_not_believed_live_is_confirmed_and_the_attempt_runs(
        env: WorkflowEnvironment, queue: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls.clear()
    worker = Worker(env.client, task_queue=queue, workflows=[OneEffect], activities=[effect])
    given = script(worker, monkeypatch, [False])
    async with worker:
        result = await env.client.execute_workflow(OneEffect.run, False, id="confirm-1",
                                                   task_queue=queue)
    assert result == "x" and calls == ["x"]
    # Not believed, confirmed (the session renewed, the token accepted), believed, started.
    assert given[:3] == [False, True, True]
    desc = await env.client.get_workflow_handle("confirm-1").describe()
    assert [(a.attempt, a.outcome) for a in desc.attempts] == [(1, "completed")]


async def test_an_attempt_the_server_no_longer_expects_is_not_started(
        env: WorkflowEnvironment, queue: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """The run is terminated while the worker asks: the token is refused (stale_task)."""
    calls.clear()
    caplog.set_level(logging.INFO, logger="plait.worker")
    worker = Worker(env.client, task_queue=queue, workflows=[OneEffect], activities=[effect])
    script(worker, monkeypatch, [False])
    handle = await env.client.start_workflow(OneEffect.run, False, id="confirm-2",
                                             task_queue=queue)
    real_renew = worker.lease.renew

    async def renew_after_terminate(session: str | None) -> float | None:
        await handle.terminate(reason="the attempt goes nowhere")
        return await real_renew(session)
    monkeypatch.setattr(worker.lease, "renew", renew_after_terminate)
    async with worker:
        for _ in range(200):
            if "not started: its lease could not be confirmed" in caplog.text:
                break
            await asyncio.sleep(0.02)
    assert calls == []
    assert "stale_task" in caplog.text
    assert (await handle.describe()).status == "TERMINATED"


@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
async def test_a_lease_lapsing_right_before_the_start_drops_the_attempt_and_it_is_offered_again(
        env: WorkflowEnvironment, queue: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture, sync: bool) -> None:
    """Believed live when the task arrives, lapsed at the activity's first line (a stall in
    between): not started, not reported; the server offers the same attempt again."""
    calls.clear()
    worker = Worker(env.client, task_queue=queue, workflows=[OneEffect],
                    activities=[effect, effect_sync])
    script(worker, monkeypatch, [True, False])
    async with worker:
        result = await env.client.execute_workflow(OneEffect.run, sync, id="confirm-3",
                                                   task_queue=queue)
    assert result == "x" and calls == ["x"]
    assert "its lease lapsed just before it was to start" in caplog.text
    desc = await env.client.get_workflow_handle("confirm-3").describe()
    # The dropped delivery never ran, so it is not an attempt.
    assert [(a.attempt, a.outcome) for a in desc.attempts] == [(1, "completed")]


async def test_a_stalled_event_loop_is_noticed(env: WorkflowEnvironment, queue: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Tasks asked for before the loop stalled (CPU-bound code here) are no longer believed:
    their responses may have waited unread while a heartbeat went out without them. Noticed
    even while the session heartbeat is waiting for its answer (held up here), not sleeping."""
    worker = Worker(env.client, task_queue=queue, activities=[effect])
    transport = env.client.api
    real_call = transport.call
    never = asyncio.Event()

    async def call(method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        if path.startswith("/api/v1/sessions/") and path.endswith("/heartbeat"):
            await never.wait()
        return await real_call(method, path, *args, **kwargs)
    monkeypatch.setattr(transport, "call", call)
    async with worker:
        await asyncio.sleep(1.2)  # the first heartbeat is out, and stays out
        before = worker.lease.stamp()
        assert worker.lease.live(before)
        time.sleep(STALL + 0.3)  # blocks the event loop
        await asyncio.sleep(STALL_TICK * 2)
        assert worker.lease._stalled_at > before[1]
        assert not worker.lease.live(before)
        monkeypatch.setattr(transport, "call", real_call)
        never.set()
