"""A worker starts an activity attempt only while it can believe the lease it came with is
live; otherwise it asks the server first, and drops the attempt if the server no longer
expects it. (The real-process reproduction with SIGSTOP is ``tests/faults/test_paused_worker``;
here the worker's belief is scripted, so each branch runs in a second or two.)"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

import pytest

from plait import Worker, activity, workflow
from plait.testing import WorkflowEnvironment
from plait.worker import LeaseStamp

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
    """Make ``worker.lease_live`` give ``answers`` first, then the truth; returns every
    answer it gave."""
    real: Callable[[LeaseStamp], bool] = worker.lease_live
    given: list[bool] = []

    def lease_live(stamp: LeaseStamp) -> bool:
        answer = answers.pop(0) if answers else real(stamp)
        given.append(answer)
        return answer
    monkeypatch.setattr(worker, "lease_live", lease_live)
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
    real_renew = worker.renew_lease

    async def renew_after_terminate(session: str | None) -> float | None:
        await handle.terminate(reason="the attempt goes nowhere")
        return await real_renew(session)
    monkeypatch.setattr(worker, "renew_lease", renew_after_terminate)
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
