"""Local activities: run in the workflow's worker, recorded as markers, never re-run on
replay, retried locally then by a durable timer."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta
from typing import Any

import pytest

from plait import RetryPolicy, Worker, activity, workflow
from plait.errors import ActivityError, ApplicationError, WorkflowFailureError
from plait.errors import TimeoutError as PlaitTimeout
from plait.interceptor import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    StartLocalActivityInput,
    WorkerInterceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)
from plait.testing import Replayer, WorkflowEnvironment

FAST = RetryPolicy(initial_interval=timedelta(milliseconds=20), maximum_interval=timedelta(
    milliseconds=50))
RUNS: dict[str, int] = {}
"""How many times each local activity key ran, in this process."""
LOCAL: dict[str, bool] = {}
"""Whether ``greet`` saw itself run as a local activity, by its argument."""


@activity.defn
async def greet(name: str) -> str:
    RUNS[name] = RUNS.get(name, 0) + 1
    LOCAL[name] = activity.info().is_local
    return f"hello {name}"


@activity.defn
def shout(text: str) -> str:  # a sync one, in the worker's thread pool
    return text.upper()


@activity.defn
async def flaky(key: str, fail_times: int) -> str:
    RUNS[key] = RUNS.get(key, 0) + 1
    attempt = activity.info().attempt
    if attempt <= fail_times:
        raise RuntimeError(f"transient failure on attempt {attempt}")
    return f"ok on attempt {attempt}"


@activity.defn
async def refuse(reason: str) -> None:
    raise ApplicationError(reason, type="Refused", non_retryable=True)


@activity.defn
async def slow(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "done"


@workflow.defn
class Greet:
    @workflow.run
    async def run(self, name: str) -> str:
        loud = await workflow.execute_local_activity(
            shout, name, start_to_close_timeout=timedelta(seconds=5))
        return await workflow.execute_local_activity(
            greet, loud, start_to_close_timeout=timedelta(seconds=5))


@workflow.defn
class Flaky:
    @workflow.run
    async def run(self, key: str, fail_times: int, threshold_ms: int) -> str:
        return await workflow.execute_local_activity(
            flaky, key, fail_times, start_to_close_timeout=timedelta(seconds=5),
            retry_policy=FAST, local_retry_threshold=timedelta(milliseconds=threshold_ms))


@workflow.defn
class Refused:
    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.execute_local_activity(
                refuse, "no", start_to_close_timeout=timedelta(seconds=5))
        except ActivityError as e:
            assert isinstance(e.cause, ApplicationError)
            return f"{e.cause.type}: {e.cause.message} ({e.retry_state})"
        return "unreachable"


@workflow.defn
class Mixed:
    @workflow.run
    async def run(self, name: str) -> list[str]:
        a = await workflow.execute_local_activity(
            greet, f"{name}-local", start_to_close_timeout=timedelta(seconds=5))
        b = await workflow.execute_activity(
            greet, f"{name}-normal", start_to_close_timeout=timedelta(seconds=5))
        c, d = await asyncio.gather(
            workflow.execute_local_activity(greet, f"{name}-g1",
                                            start_to_close_timeout=timedelta(seconds=5)),
            workflow.execute_activity(greet, f"{name}-g2",
                                      start_to_close_timeout=timedelta(seconds=5)))
        return [a, b, c, d]


@workflow.defn
class Cancels:
    @workflow.run
    async def run(self) -> str:
        fut = workflow.start_local_activity(slow, 30.0,
                                            start_to_close_timeout=timedelta(seconds=60))
        await workflow.sleep(0.2)
        fut.cancel()
        try:
            await fut
        except asyncio.CancelledError:
            return "cancelled"
        return "finished"


@workflow.defn
class Long:
    """A local activity longer than the workflow task's time budget."""

    @workflow.run
    async def run(self, seconds: float) -> str:
        return await workflow.execute_local_activity(
            slow, seconds, start_to_close_timeout=timedelta(seconds=30))


@workflow.defn
class TimesOut:
    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.execute_local_activity(
                slow, 5.0, start_to_close_timeout=timedelta(milliseconds=100),
                retry_policy=RetryPolicy(maximum_attempts=2,
                                         initial_interval=timedelta(milliseconds=10)))
        except ActivityError as e:
            assert isinstance(e.cause, PlaitTimeout)
            return f"{e.cause.timeout_type} {e.retry_state}"
        return "unreachable"


@workflow.defn
class Races:
    """Commands issued while a local activity runs come before its marker; replay must
    settle it at the same point."""

    @workflow.run
    async def run(self) -> list[str]:
        async def timed() -> str:
            await workflow.sleep(0.05)
            return "slept"
        one = workflow.start_local_activity(slow, 0.3,
                                            start_to_close_timeout=timedelta(seconds=5))
        two = workflow.start_local_activity(greet, "race",
                                            start_to_close_timeout=timedelta(seconds=5))
        return list(await asyncio.gather(one, timed(), two))


_ids = itertools.count()


def _id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def _worker(env: WorkflowEnvironment, queue: str, **kw: Any) -> Worker:
    return Worker(env.client, task_queue=queue,
                  workflows=[Greet, Flaky, Refused, Mixed, Cancels, Long, TimesOut, Races],
                  activities=[greet, shout, flaky, refuse, slow], **kw)


def _types(events: list[Any]) -> list[str]:
    return [e.event_type for e in events]


async def test_a_local_activity_returns_its_result_as_a_marker(
        env: WorkflowEnvironment, queue: str) -> None:
    wid = _id("greet")
    async with _worker(env, queue):
        result = await env.client.execute_workflow(Greet.run, "ada", id=wid, task_queue=queue)
    assert result == "hello ADA"
    assert LOCAL["ADA"] is True
    history = await env.client.get_workflow_handle(wid).fetch_history()
    types = _types(history.events)
    assert types.count("MARKER_RECORDED") == 2
    assert "ACTIVITY_TASK_SCHEDULED" not in types
    # Both ran in the first workflow task: one task, no round trip in between.
    assert types.count("WORKFLOW_TASK_COMPLETED") == 1
    markers = [e.attributes for e in history.events if e.event_type == "MARKER_RECORDED"]
    assert markers[0]["marker_name"] == "local_activity"
    assert markers[0]["details"]["activity_type"] == "shout"
    assert markers[1]["details"]["result"] == {"encoding": "json", "data": "hello ADA"}
    # Replaying the history runs nothing and matches.
    before = RUNS.get("ADA", 0)
    await Replayer(workflows=[Greet]).replay(history)
    assert RUNS.get("ADA", 0) == before


async def test_a_failing_local_activity_is_retried_in_the_worker(
        env: WorkflowEnvironment, queue: str) -> None:
    wid, key = _id("flaky"), _id("key")
    async with _worker(env, queue):
        result = await env.client.execute_workflow(Flaky.run, args=[key, 2, 60_000], id=wid,
                                                   task_queue=queue)
    assert result == "ok on attempt 3"
    assert RUNS[key] == 3
    history = await env.client.get_workflow_handle(wid).fetch_history()
    types = _types(history.events)
    assert types.count("MARKER_RECORDED") == 1 and "TIMER_STARTED" not in types
    marker = next(e for e in history.events if e.event_type == "MARKER_RECORDED")
    assert marker.attributes["details"]["attempt"] == 3


async def test_past_the_local_retry_threshold_a_durable_timer_waits(
        env: WorkflowEnvironment, queue: str) -> None:
    wid, key = _id("flaky"), _id("key")
    async with _worker(env, queue):
        result = await env.client.execute_workflow(Flaky.run, args=[key, 2, 1], id=wid,
                                                   task_queue=queue)
    assert result == "ok on attempt 3"
    history = await env.client.get_workflow_handle(wid).fetch_history()
    types = _types(history.events)
    # attempt 1 failed (marker + timer), attempt 2 failed (marker + timer), 3 succeeded
    assert types.count("MARKER_RECORDED") == 3
    assert types.count("TIMER_FIRED") == 2
    details = [e.attributes["details"] for e in history.events
               if e.event_type == "MARKER_RECORDED"]
    assert [d["attempt"] for d in details] == [1, 2, 3]
    assert "backoff" in details[0] and "result" in details[2]
    await Replayer(workflows=[Flaky]).replay(history)


async def test_a_non_retryable_failure_reaches_the_workflow(
        env: WorkflowEnvironment, queue: str) -> None:
    async with _worker(env, queue):
        result = await env.client.execute_workflow(Refused.run, id=_id("refused"),
                                                   task_queue=queue)
    assert result == "Refused: no (non_retryable)"


async def test_a_local_activity_timeout_is_retried_then_surfaces(
        env: WorkflowEnvironment, queue: str) -> None:
    async with _worker(env, queue):
        result = await env.client.execute_workflow(TimesOut.run, id=_id("timeout"),
                                                   task_queue=queue)
    assert result == "start_to_close maximum_attempts"


async def test_local_and_normal_activities_mix(env: WorkflowEnvironment, queue: str) -> None:
    wid = _id("mixed")
    async with _worker(env, queue):
        result = await env.client.execute_workflow(Mixed.run, "m", id=wid, task_queue=queue)
    assert result == ["hello m-local", "hello m-normal", "hello m-g1", "hello m-g2"]
    assert LOCAL["m-local"] and not LOCAL["m-normal"]
    history = await env.client.get_workflow_handle(wid).fetch_history()
    types = _types(history.events)
    assert types.count("MARKER_RECORDED") == 2
    assert types.count("ACTIVITY_TASK_SCHEDULED") == 2
    await Replayer(workflows=[Mixed]).replay(history)


async def test_commands_issued_while_a_local_activity_runs_replay_in_order(
        env: WorkflowEnvironment, queue: str) -> None:
    wid = _id("races")
    async with _worker(env, queue):
        result = await env.client.execute_workflow(Races.run, id=wid, task_queue=queue)
    assert result == ["done", "slept", "hello race"]
    history = await env.client.get_workflow_handle(wid).fetch_history()
    types = _types(history.events)
    assert types.index("TIMER_STARTED") < types.index("MARKER_RECORDED")
    await Replayer(workflows=[Races]).replay(history)


async def test_cancelling_a_local_activity_stops_it(env: WorkflowEnvironment,
                                                    queue: str) -> None:
    wid = _id("cancels")
    async with _worker(env, queue):
        result = await env.client.execute_workflow(Cancels.run, id=wid, task_queue=queue)
    assert result == "cancelled"
    history = await env.client.get_workflow_handle(wid).fetch_history()
    assert "MARKER_RECORDED" not in _types(history.events)
    await Replayer(workflows=[Cancels]).replay(history)


async def test_a_long_local_activity_keeps_its_workflow_task_alive(
        env: WorkflowEnvironment, queue: str) -> None:
    """Longer than the task timeout: the worker answers the task and asks for a new one
    (a heartbeat) rather than letting the task time out and the activity run again."""
    wid = _id("long")
    async with _worker(env, queue):
        handle = await env.client.start_workflow(Long.run, 2.5, id=wid, task_queue=queue,
                                                 task_timeout=timedelta(seconds=2))
        assert await handle.result() == "done"
    history = await handle.fetch_history()
    types = _types(history.events)
    assert "WORKFLOW_TASK_TIMED_OUT" not in types
    assert types.count("WORKFLOW_TASK_COMPLETED") >= 2
    assert types.count("MARKER_RECORDED") == 1
    await Replayer(workflows=[Long]).replay(history)


@workflow.defn(name="Greet")
class NowNormal:
    """Greet's first step changed from a local activity to a normal one."""

    @workflow.run
    async def run(self, name: str) -> str:
        loud = await workflow.execute_activity(
            shout, name, start_to_close_timeout=timedelta(seconds=5))
        return await workflow.execute_local_activity(
            greet, loud, start_to_close_timeout=timedelta(seconds=5))


async def test_changing_a_local_activity_to_a_normal_one_is_non_deterministic(
        env: WorkflowEnvironment, queue: str) -> None:
    from plait.errors import NonDeterminismError
    wid = _id("greet")
    async with _worker(env, queue):
        await env.client.execute_workflow(Greet.run, "bo", id=wid, task_queue=queue)
    history = await env.client.get_workflow_handle(wid).fetch_history()
    with pytest.raises(NonDeterminismError, match=r"MARKER_RECORDED \(local activity 'shout'"
                                                  r".*schedule activity 'shout'"):
        await Replayer(workflows=[NowNormal]).replay(history)


async def test_a_local_activity_failure_fails_the_workflow_when_let_through(
        env: WorkflowEnvironment, queue: str) -> None:
    @workflow.defn(name="LetThrough")
    class LetThrough:
        @workflow.run
        async def run(self) -> None:
            await workflow.execute_local_activity(refuse, "nope",
                                                  start_to_close_timeout=timedelta(seconds=5))

    async with Worker(env.client, task_queue=queue, workflows=[LetThrough],
                      activities=[refuse]):
        handle = await env.client.start_workflow("LetThrough", id=_id("lt"), task_queue=queue)
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result()
    assert isinstance(info.value.cause, ActivityError)


@workflow.defn(name="Mixed")
class NowLocal:
    """Mixed's normal activity changed to a local one."""

    @workflow.run
    async def run(self, name: str) -> list[str]:
        a = await workflow.execute_local_activity(
            greet, f"{name}-local", start_to_close_timeout=timedelta(seconds=5))
        b = await workflow.execute_local_activity(
            greet, f"{name}-normal", start_to_close_timeout=timedelta(seconds=5))
        return [a, b]


async def test_changing_an_activity_to_a_local_one_is_non_deterministic(
        env: WorkflowEnvironment, queue: str) -> None:
    from plait.errors import NonDeterminismError
    wid = _id("mixed")
    async with _worker(env, queue):
        await env.client.execute_workflow(Mixed.run, "nl", id=wid, task_queue=queue)
    history = await env.client.get_workflow_handle(wid).fetch_history()
    with pytest.raises(NonDeterminismError, match=r"ACTIVITY_TASK_SCHEDULED was not produced"
                                                  r".*started local activity 'greet'"):
        await Replayer(workflows=[NowLocal]).replay(history)


class _TagOutbound(WorkflowOutboundInterceptor):
    def start_local_activity(self, input: StartLocalActivityInput) -> asyncio.Future[Any]:
        input.headers["tag"] = f"local {input.activity}"
        return super().start_local_activity(input)


class _TagInbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_TagOutbound(outbound))


class _SeeAttempt(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        HEADERS.append((activity.info().activity_type, activity.info().is_local,
                        dict(input.headers)))
        return await super().execute_activity(input)


class _Tag(WorkerInterceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor
                           ) -> ActivityInboundInterceptor:
        return _SeeAttempt(next)

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput
                                   ) -> type[WorkflowInboundInterceptor]:
        return _TagInbound


HEADERS: list[tuple[str, bool, dict[str, str]]] = []


async def test_interceptors_see_a_local_activity_start_and_its_attempt(
        env: WorkflowEnvironment, queue: str) -> None:
    HEADERS.clear()
    async with _worker(env, queue, interceptors=[_Tag()]):
        result = await env.client.execute_workflow(Greet.run, "cy", id=_id("greet"),
                                                   task_queue=queue)
    assert result == "hello CY"
    assert HEADERS == [("shout", True, {"tag": "local shout"}),
                       ("greet", True, {"tag": "local greet"})]


@workflow.defn
class Unregistered:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_local_activity(
            "nowhere", start_to_close_timeout=timedelta(seconds=5))


async def test_a_local_activity_not_registered_on_the_worker_fails_the_task_visibly(
        env: WorkflowEnvironment, queue: str) -> None:
    from tests.waiting import eventually
    async with Worker(env.client, task_queue=queue, workflows=[Unregistered],
                      activities=[greet]):
        handle = await env.client.start_workflow(Unregistered.run, id=_id("unreg"),
                                                 task_queue=queue)

        async def failure() -> Any:
            return (await handle.describe()).last_task_failure
        seen = await eventually(failure, what="the workflow task failure")
    assert "local activity type 'nowhere' is not registered" in seen.message
    assert (await handle.describe()).status == "RUNNING"  # a deployment can fix it


@workflow.defn
class OutOfTime:
    @workflow.run
    async def run(self, key: str) -> str:
        try:
            await workflow.execute_local_activity(
                flaky, key, 100, schedule_to_close_timeout=timedelta(milliseconds=300),
                retry_policy=FAST)
        except ActivityError as e:
            assert isinstance(e.cause, PlaitTimeout)
            return f"{e.cause.timeout_type} {e.retry_state}"
        return "unreachable"


async def test_schedule_to_close_bounds_the_local_retries(env: WorkflowEnvironment,
                                                         queue: str) -> None:
    key = _id("key")
    async with Worker(env.client, task_queue=queue, workflows=[OutOfTime],
                      activities=[flaky]):
        result = await env.client.execute_workflow(OutOfTime.run, key, id=_id("oot"),
                                                   task_queue=queue)
    assert result == "schedule_to_close timeout"
    assert 3 <= RUNS[key] < 100


@workflow.defn
class GivesUp:
    """Cancels a local activity while its next attempt waits on a durable timer."""

    @workflow.run
    async def run(self, key: str) -> str:
        fut = workflow.start_local_activity(
            flaky, key, 5, start_to_close_timeout=timedelta(seconds=5),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=60)))
        done, _ = await workflow.wait([fut], timeout=timedelta(seconds=0.5))
        if done:
            return "finished"
        fut.cancel()
        try:
            await fut
        except asyncio.CancelledError:
            return "cancelled while backing off"
        return "unreachable"


async def test_cancelling_a_local_activity_during_its_backoff_cancels_the_timer(
        env: WorkflowEnvironment, queue: str) -> None:
    wid, key = _id("gives-up"), _id("key")
    async with Worker(env.client, task_queue=queue, workflows=[GivesUp], activities=[flaky]):
        result = await env.client.execute_workflow(GivesUp.run, key, id=wid, task_queue=queue)
    assert result == "cancelled while backing off"
    assert RUNS[key] == 1
    history = await env.client.get_workflow_handle(wid).fetch_history()
    types = _types(history.events)
    assert types.count("MARKER_RECORDED") == 1 and types.count("TIMER_CANCELED") == 1
    await Replayer(workflows=[GivesUp]).replay(history)
