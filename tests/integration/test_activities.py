"""Activity retries, timeouts and the attempt log, scheduled by the server."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from plait import RetryPolicy, Worker, activity, workflow
from plait.client import ActivityAttempt, WorkflowHandle
from plait.errors import ActivityError, ApplicationError, WorkflowFailureError
from plait.errors import TimeoutError as PlaitTimeout
from plait.testing import WorkflowEnvironment
from tests.waiting import eventually, pending_activity

FAST = RetryPolicy(initial_interval=timedelta(milliseconds=50), backoff_coefficient=2.0,
                   maximum_interval=timedelta(milliseconds=200))


@activity.defn
async def flaky(fail_times: int) -> str:
    info = activity.info()
    if info.attempt <= fail_times:
        raise RuntimeError(f"transient failure on attempt {info.attempt}")
    return f"ok on attempt {info.attempt}"


@activity.defn
async def invalid(kind: str) -> None:
    if kind == "flag":
        raise ApplicationError("brand name rejected", {"field": "name"}, non_retryable=True)
    raise ApplicationError("bad input", type="ValidationError")


@activity.defn
async def sleepy(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "woke"


@activity.defn
async def beating(total: int) -> int:
    start = activity.info().heartbeat_details[0] if activity.info().heartbeat_details else 0
    for i in range(start, total):
        activity.heartbeat(i)
        if activity.info().attempt == 1 and i == 3:
            await asyncio.sleep(2.5)  # stall: the heartbeat timeout fires
        await asyncio.sleep(0.02)
    return start


@workflow.defn
class CallOne:
    @workflow.run
    async def run(self, name: str, arg: object, options: dict[str, float | int]) -> object:
        retry = RetryPolicy(
            initial_interval=timedelta(milliseconds=50),
            maximum_attempts=int(options.get("max_attempts", 0)),
            non_retryable_error_types=["ValidationError"] if options.get("nr") else [])
        kwargs: dict[str, object] = {"retry_policy": retry}
        for key in ("start_to_close_timeout", "schedule_to_close_timeout",
                    "schedule_to_start_timeout", "heartbeat_timeout"):
            if key in options:
                kwargs[key] = timedelta(seconds=options[key])
        return await workflow.execute_activity(name, arg, **kwargs)  # type: ignore[arg-type]


ACTS = [flaky, invalid, sleepy, beating]


async def run_one(env: WorkflowEnvironment, queue: str, wid: str, name: str, arg: object,
                  **options: float) -> object:
    async with Worker(env.client, task_queue=queue, workflows=[CallOne], activities=ACTS):
        return await env.client.execute_workflow(CallOne.run, name, arg, options, id=wid,
                                                 task_queue=queue)


async def test_retries_until_success_and_logs_every_attempt(env: WorkflowEnvironment,
                                                            queue: str) -> None:
    out = await run_one(env, queue, "r-1", "flaky", 2, start_to_close_timeout=5)
    assert out == "ok on attempt 3"
    desc = await env.client.get_workflow_handle("r-1").describe()
    log = [(a.attempt, a.outcome) for a in desc.attempts]
    assert log == [(1, "failed"), (2, "failed"), (3, "completed")]
    assert "transient failure on attempt 1" in desc.attempts[0].failure["message"]  # type: ignore[index]
    history = await env.client.get_workflow_handle("r-1").fetch_history()
    types = [e.event_type for e in history.events]
    # Retries add no events: one scheduled, one started, one completed.
    assert types.count("ACTIVITY_TASK_SCHEDULED") == 1
    assert types.count("ACTIVITY_TASK_STARTED") == 1
    started = next(e for e in history.events if e.event_type == "ACTIVITY_TASK_STARTED")
    assert started.attributes["attempt"] == 3


async def test_maximum_attempts_fails_with_cause_chain(env: WorkflowEnvironment,
                                                       queue: str) -> None:
    with pytest.raises(WorkflowFailureError) as info:
        await run_one(env, queue, "r-2", "flaky", 10, start_to_close_timeout=5, max_attempts=3)
    cause = info.value.cause
    assert isinstance(cause, ActivityError)
    assert cause.retry_state == "maximum_attempts" and cause.activity_type == "flaky"
    assert isinstance(cause.cause, ApplicationError)
    assert "attempt 3" in cause.cause.message and cause.cause.type == "RuntimeError"


async def test_non_retryable_errors(env: WorkflowEnvironment, queue: str) -> None:
    with pytest.raises(WorkflowFailureError) as info:
        await run_one(env, queue, "r-3", "invalid", "flag", start_to_close_timeout=5)
    cause = info.value.cause
    assert isinstance(cause, ActivityError) and cause.retry_state == "non_retryable"
    assert isinstance(cause.cause, ApplicationError)
    assert cause.cause.details == ({"field": "name"},)
    with pytest.raises(WorkflowFailureError) as info:
        await run_one(env, queue, "r-4", "invalid", "type", start_to_close_timeout=5, nr=1)
    assert info.value.cause.retry_state == "non_retryable"  # type: ignore[union-attr]
    desc = await env.client.get_workflow_handle("r-4").describe()
    assert len(desc.attempts) == 1


async def test_start_to_close_timeout_retries_then_times_out(env: WorkflowEnvironment,
                                                             queue: str) -> None:
    with pytest.raises(WorkflowFailureError) as info:
        await run_one(env, queue, "t-1", "sleepy", 3.0, start_to_close_timeout=0.3,
                      max_attempts=2)
    cause = info.value.cause
    assert isinstance(cause, ActivityError)
    assert isinstance(cause.cause, PlaitTimeout)
    assert cause.cause.timeout_type == "start_to_close"
    assert cause.cause.last_failure is not None  # the first attempt's timeout
    desc = await env.client.get_workflow_handle("t-1").describe()
    assert [a.outcome for a in desc.attempts] == ["timed_out", "timed_out"] or \
        [a.outcome for a in desc.attempts] == ["failed", "failed"]


async def test_schedule_to_close_bounds_all_attempts(env: WorkflowEnvironment,
                                                     queue: str) -> None:
    with pytest.raises(WorkflowFailureError) as info:
        await run_one(env, queue, "t-2", "flaky", 1000, schedule_to_close_timeout=0.6)
    cause = info.value.cause
    assert isinstance(cause, ActivityError)
    assert cause.retry_state == "timeout"
    desc = await env.client.get_workflow_handle("t-2").describe()
    assert len(desc.attempts) >= 2  # it did retry within the window


async def test_schedule_to_start_timeout_when_no_worker_serves(env: WorkflowEnvironment,
                                                               queue: str) -> None:
    @workflow.defn(name="Elsewhere")
    class Elsewhere:
        @workflow.run
        async def run(self) -> None:
            await workflow.execute_activity("flaky", 0, task_queue="nobody-polls-this",
                                            start_to_close_timeout=timedelta(seconds=5),
                                            schedule_to_start_timeout=timedelta(seconds=0.3))

    async with Worker(env.client, task_queue=queue, workflows=[Elsewhere], activities=ACTS):
        with pytest.raises(WorkflowFailureError) as info:
            await env.client.execute_workflow(Elsewhere.run, id="t-3", task_queue=queue)
    cause = info.value.cause
    assert isinstance(cause, ActivityError) and isinstance(cause.cause, PlaitTimeout)
    assert cause.cause.timeout_type == "schedule_to_start"


async def test_heartbeat_timeout_and_details_reach_next_attempt(env: WorkflowEnvironment,
                                                                queue: str) -> None:
    # A 1 s heartbeat timeout: details are sent every 0.5 s (half of it), so the beat
    # carrying detail 3 has 0.5 s to reach the server before the attempt times out. With
    # 0.5 s (0.25 s of margin) a loaded machine made it late, and attempt 2 began at 0.
    out = await run_one(env, queue, "h-1", "beating", 8, start_to_close_timeout=10,
                        heartbeat_timeout=1.0)
    assert isinstance(out, int) and out >= 1  # resumed from a recorded heartbeat
    desc = await env.client.get_workflow_handle("h-1").describe()
    assert desc.attempts[0].outcome == "timed_out"
    assert desc.attempts[0].failure["timeout_type"] == "heartbeat"  # type: ignore[index]


async def test_describe_shows_backing_off_activity(env: WorkflowEnvironment, queue: str) -> None:
    @workflow.defn(name="LongBackoff")
    class LongBackoff:
        @workflow.run
        async def run(self) -> None:
            await workflow.execute_activity(
                flaky, 100, start_to_close_timeout=timedelta(seconds=5),
                retry_policy=RetryPolicy(initial_interval=timedelta(seconds=30)))

    async with Worker(env.client, task_queue=queue, workflows=[LongBackoff], activities=ACTS):
        handle = await env.client.start_workflow(LongBackoff.run, id="b-1", task_queue=queue)
        pending = await pending_activity(handle, "backing_off")
        assert pending.state == "backing_off" and pending.attempt == 2
        assert pending.next_attempt_time is not None
        assert "attempt 1" in (pending.last_failure or {}).get("message", "")
        await handle.terminate("test over")


async def attempts_of(handle: WorkflowHandle[Any]) -> list[ActivityAttempt]:
    return (await handle.describe()).attempts


async def test_the_attempt_log_shows_a_running_attempt(env: WorkflowEnvironment,
                                                       queue: str) -> None:
    """An attempt's log row is written when it ends; while it runs, its leased task stands in,
    so describe() lists it as started, not ended, with its worker."""
    async with Worker(env.client, task_queue=queue, workflows=[CallOne], activities=ACTS):
        h = await env.client.start_workflow(CallOne.run, "flaky", 1,
                                            {"start_to_close_timeout": 5}, id="r-log",
                                            task_queue=queue)
        await h.result()
        h2 = await env.client.start_workflow(CallOne.run, "sleepy", 1.0,
                                             {"start_to_close_timeout": 5}, id="r-log2",
                                             task_queue=queue)
        running = await eventually(lambda: attempts_of(h2), what="r-log2's running attempt")
        assert [(a.attempt, a.outcome, a.ended_at) for a in running] == [(1, None, None)]
        assert running[0].worker and running[0].started_at is not None
        await h2.result()
        done = (await h2.describe()).attempts
        assert [(a.attempt, a.outcome) for a in done] == [(1, "completed")]
        assert done[0].worker == running[0].worker
        assert done[0].started_at == running[0].started_at
    log = (await h.describe()).attempts
    assert [(a.attempt, a.outcome) for a in log] == [(1, "failed"), (2, "completed")]
    assert log[0].ended_at is not None and log[0].started_at <= log[0].ended_at  # type: ignore[operator]
