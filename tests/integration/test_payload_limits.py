"""Payloads over the server's limit (2 MiB by default) coming from a worker: an activity's
result, failure or heartbeat details fails that attempt with the non-retryable
``ApplicationError`` type ``PayloadTooLarge``; a workflow's result fails the workflow task.
None of them may loop: a worker that dropped the refused result left the server offering the
same attempt again every 2 s, forever, whatever the retry policy said."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from plait import Client, RetryPolicy, Worker, activity, errors, workflow
from plait._worker.completions import Completions
from plait.errors import ActivityError, ApplicationError
from plait.protocol.completions import CompleteActivityTaskItem, CompleteActivityTaskResponse
from plait.server.config import ServiceConfig
from plait.server.main import Server
from plait.testing import WorkflowEnvironment

OVER = 2 * 1024 * 1024 + 1
calls: list[str] = []


@activity.defn
async def huge_result() -> str:
    calls.append("result")
    return "x" * OVER


@activity.defn
async def huge_failure() -> None:
    calls.append("failure")
    raise ApplicationError("y" * OVER, type="Boom")


@activity.defn
async def huge_heartbeat() -> str:
    calls.append("heartbeat")
    activity.heartbeat("z" * OVER)
    await asyncio.sleep(30)  # cancelled when the details are refused
    return "not reached"


@activity.defn
def huge_heartbeat_sync() -> str:
    calls.append("heartbeat")
    activity.heartbeat("z" * OVER)
    for _ in range(3000):  # a sync activity stops when told to
        if activity.is_cancelled():
            return "stopped"
        time.sleep(0.01)
    return "not stopped"


@activity.defn
async def small(n: int) -> str:
    return str(n) * 20_000


@workflow.defn
class Oversized:
    @workflow.run
    async def run(self, name: str) -> dict[str, Any]:
        try:
            await workflow.execute_activity(
                name, start_to_close_timeout=timedelta(seconds=60),
                retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=50),
                                         maximum_attempts=3))
        except ActivityError as e:
            cause = e.cause
            assert isinstance(cause, ApplicationError)
            return {"type": cause.type, "non_retryable": cause.non_retryable,
                    "retry_state": e.retry_state, "message": cause.message}
        return {"type": None}


@workflow.defn
class HugeResult:
    @workflow.run
    async def run(self) -> str:
        return "w" * OVER


ACTIVITIES = [huge_result, huge_failure, huge_heartbeat, huge_heartbeat_sync]


@pytest.mark.parametrize("name", ["huge_result", "huge_failure", "huge_heartbeat",
                                  "huge_heartbeat_sync"])
async def test_an_oversized_payload_from_an_activity_fails_the_attempt_for_good(
        env: WorkflowEnvironment, queue: str, name: str) -> None:
    calls.clear()
    async with Worker(env.client, task_queue=queue, workflows=[Oversized],
                      activities=ACTIVITIES):
        out = await asyncio.wait_for(env.client.execute_workflow(
            Oversized.run, name, id=f"big-{name}", task_queue=queue), 30)
    assert out["type"] == "PayloadTooLarge", out
    assert out["non_retryable"] is True and out["retry_state"] == "non_retryable"
    assert "limit" in out["message"] and len(out["message"]) < 10_000
    assert len(calls) == 1, calls  # ran once, in spite of maximum_attempts=3
    desc = await env.client.get_workflow_handle(f"big-{name}").describe()
    assert [(a.attempt, a.outcome) for a in desc.attempts] == [(1, "failed")]


async def test_a_workflow_result_over_the_limit_fails_the_workflow_task(
        env: WorkflowEnvironment, queue: str) -> None:
    handle = await env.client.start_workflow(HugeResult.run, id="big-wf", task_queue=queue)
    async with Worker(env.client, task_queue=queue, workflows=[HugeResult]):
        for _ in range(300):
            desc = await handle.describe()
            if desc.last_task_failure is not None:
                break
            await asyncio.sleep(0.02)
    assert desc.status == "RUNNING"
    assert desc.last_task_failure is not None
    assert "payload_too_large" in desc.last_task_failure.message
    failure = desc.last_task_failure
    assert (failure.type, failure.cause) == ("PayloadTooLargeError", "payload_too_large")
    assert failure.message.startswith("this workflow task's commands are 2,097,")
    assert "payload limit of 2,097,152 bytes (--max-payload)" in failure.message


@workflow.defn
class HugeBug:
    @workflow.run
    async def run(self) -> None:
        raise KeyError("k" * OVER)  # a bug: fails the workflow task, with a huge message


async def test_a_workflow_task_failure_over_the_limit_is_recorded_cut_short(
        env: WorkflowEnvironment, queue: str) -> None:
    """Unrecorded, the failure left the task to time out as undelivered, again and again,
    with nothing in ``describe`` to say why."""
    handle = await env.client.start_workflow(HugeBug.run, id="big-bug", task_queue=queue)
    async with Worker(env.client, task_queue=queue, workflows=[HugeBug]):
        for _ in range(300):
            desc = await handle.describe()
            if desc.last_task_failure is not None:
                break
            await asyncio.sleep(0.02)
    assert desc.status == "RUNNING"
    assert desc.last_task_failure is not None
    message = desc.last_task_failure.message
    assert message.startswith("'kkk") and "payload limit, cut short" in message
    assert len(message) < 10_000


@contextlib.asynccontextmanager
async def small_limit_server(limit: int) -> AsyncIterator[Client]:
    tmp = tempfile.mkdtemp(prefix="plait-limit-")
    server = Server("sqlite:///" + os.path.join(tmp, "plait.db"), "127.0.0.1", 0,
                    ServiceConfig(max_payload=limit))
    await server.start()
    client = await Client.connect(server.address)
    try:
        yield client
    finally:
        await client.close()
        await server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


async def test_a_batch_over_the_limit_is_not_blamed_on_its_items() -> None:
    """Completions under the limit that travel together in one request over it (a server
    limit below the worker's batch size) are each answered on their own merits."""
    async with small_limit_server(64 * 1024) as client:
        completions = Completions(client.api)
        results = await asyncio.gather(*(
            completions.send(CompleteActivityTaskItem(
                token=f"{n + 1000}.1", result={"encoding": "json", "data": "r" * 20_000}),
                CompleteActivityTaskResponse)
            for n in range(8)), return_exceptions=True)
    codes = [r.code if isinstance(r, errors.RPCError) else r for r in results]
    assert codes == ["stale_task"] * 8


async def test_a_client_request_over_the_limit_raises_payload_too_large_naming_it(
        env: WorkflowEnvironment, queue: str) -> None:
    """A start, signal, signal-with-start or update over 2 MiB: ``PayloadTooLargeError`` (a
    ``PlaitError``) saying which operation and how large, and nothing recorded."""
    client = env.client
    handle = await client.start_workflow("Waits", id="small", task_queue=queue)
    attempts = {
        "the start of workflow 'big' (Waits) is ": client.start_workflow(
            "Waits", "s" * OVER, id="big", task_queue=queue),
        "the signal 'go' to workflow 'small' is ": handle.signal("go", "g" * OVER),
        "the signal-with-start ('go') of workflow 'small' (Waits) is ": client.start_workflow(
            "Waits", id="small", task_queue=queue, start_signal="go",
            start_signal_args=["w" * OVER]),
        "the update 'set' of workflow 'small' is ": handle.execute_update("set", "u" * OVER),
    }
    for said, attempt in attempts.items():
        with pytest.raises(errors.PayloadTooLargeError) as caught:
            await attempt
        err = caught.value
        assert isinstance(err, errors.PlaitError) and err.status == 413
        assert err.code == "payload_too_large"
        assert str(err).startswith(said + f"{err.size:,} bytes encoded: "), str(err)
        assert err.size is not None and err.size > OVER
        assert "payload limit of 2,097,152 bytes (--max-payload)" in str(err)
    history = await handle.fetch_history()
    assert [e.event_type for e in history.events] == ["WORKFLOW_EXECUTION_STARTED",
                                                      "WORKFLOW_TASK_SCHEDULED"]
    with pytest.raises(errors.WorkflowNotFoundError):
        await client.get_workflow_handle("big").describe()
