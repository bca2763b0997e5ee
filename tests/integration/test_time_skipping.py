"""Time skipping: durable timers, timeouts and backoff jump ahead when the server is idle."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from plait import Client, RetryPolicy, Worker, activity, workflow
from plait.errors import ActivityError, WorkflowFailureError
from plait.errors import TimeoutError as PlaitTimeout
from plait.testing import WorkflowEnvironment
from tests.integration.cli_process import plait_command, stop
from tests.integration.test_example import readme_file
from tests.waiting import history_has

DAY = 86400.0
FAST_ENOUGH = 15.0
"""Wall seconds a test of days of workflow time may take (on a loaded 2-core machine)."""


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with WorkflowEnvironment.start_time_skipping(session_expiry=3.0) as e:
        yield e


@activity.defn
async def stamp(label: str) -> str:
    return f"{label}@{activity.info().attempt}"


@activity.defn
async def nap(seconds: float, beat: bool) -> str:
    """Really takes ``seconds``; heartbeats all along when ``beat``."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if beat:
            activity.heartbeat()
        await asyncio.sleep(min(left, 0.05))
    return "rested"


@activity.defn
async def fails_twice() -> int:
    if activity.info().attempt <= 2:
        raise RuntimeError(f"attempt {activity.info().attempt} fails")
    return activity.info().attempt


def _since(start: datetime) -> float:
    return (workflow.now() - start).total_seconds()


@workflow.defn
class Month:
    """Thirty days in two kinds of sleep, then an activity."""

    @workflow.run
    async def run(self) -> tuple[float, str]:
        start = workflow.now()
        await workflow.sleep(timedelta(days=15))
        await asyncio.sleep(15 * DAY)
        done = await workflow.execute_activity(stamp, "after",
                                               start_to_close_timeout=timedelta(seconds=10))
        return _since(start), done


@workflow.defn
class Daily:
    @workflow.run
    async def run(self, days: int) -> float:
        start = workflow.now()
        for _ in range(days):
            await workflow.sleep(timedelta(days=1))
        return _since(start)


async def test_thirty_days_pass_in_seconds(env: WorkflowEnvironment, queue: str) -> None:
    assert env.supports_time_skipping
    began, wall = env.get_current_time(), time.monotonic()
    async with Worker(env.client, task_queue=queue, workflows=[Month], activities=[stamp]):
        elapsed, done = await env.client.execute_workflow(Month.run, id="m-1", task_queue=queue)
    assert time.monotonic() - wall < FAST_ENOUGH
    assert elapsed >= 30 * DAY
    assert done == "after@1"  # the worker's session lived through the jump: no retry
    assert env.get_current_time() - began >= timedelta(days=30)


async def test_many_timers_in_a_row(env: WorkflowEnvironment, queue: str) -> None:
    wall = time.monotonic()
    async with Worker(env.client, task_queue=queue, workflows=[Daily]):
        elapsed = await env.client.execute_workflow(Daily.run, 20, id="d-1", task_queue=queue)
    assert 20 * DAY <= elapsed < 20 * DAY + 60
    assert time.monotonic() - wall < FAST_ENOUGH


@workflow.defn
class Parent:
    @workflow.run
    async def run(self) -> tuple[float, float]:
        start = workflow.now()
        child = await workflow.execute_child_workflow(
            Daily.run, 10, id=f"{workflow.info().workflow_id}-child")
        return child, _since(start)


async def test_a_child_sleeps_while_its_parent_waits(env: WorkflowEnvironment,
                                                     queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Parent, Daily]):
        child, parent = await env.client.execute_workflow(Parent.run, id="p-1",
                                                          task_queue=queue)
    assert 10 * DAY <= child <= parent < 11 * DAY


@workflow.defn
class Approval:
    def __init__(self) -> None:
        self.approved = asyncio.Event()
        self.signals: list[tuple[str, float]] = []
        self.start = workflow.now()

    @workflow.run
    async def run(self, how: str) -> str:
        try:
            if how == "wait_for":
                await asyncio.wait_for(self.approved.wait(), timeout=DAY)
            else:
                await workflow.wait_condition(self.approved.is_set, timeout=timedelta(days=1))
        except TimeoutError:
            return f"timed out after {_since(self.start):.0f}"
        return "approved"

    @workflow.signal
    def approve(self, by: str) -> None:
        self.signals.append((by, _since(self.start)))
        self.approved.set()


@pytest.mark.parametrize("how", ["wait_for", "wait_condition"])
async def test_a_day_long_wait_times_out_at_once(env: WorkflowEnvironment, queue: str,
                                                 how: str) -> None:
    wall = time.monotonic()
    async with Worker(env.client, task_queue=queue, workflows=[Approval]):
        out = await env.client.execute_workflow(Approval.run, how, id=f"a-{how}",
                                                task_queue=queue)
    assert out.startswith("timed out after ")
    assert int(out.rsplit(" ", 1)[1]) >= DAY
    assert time.monotonic() - wall < FAST_ENOUGH


async def test_execution_timeout_of_a_week(env: WorkflowEnvironment, queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Daily]):
        handle = await env.client.start_workflow(Daily.run, 30, id="w-1", task_queue=queue,
                                                 execution_timeout=timedelta(days=7))
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result()
    assert isinstance(info.value.cause, PlaitTimeout)
    assert info.value.cause.timeout_type == "execution"
    desc = await handle.describe()
    assert desc.status == "TIMED_OUT"
    assert desc.close_time is not None
    assert timedelta(days=7) <= desc.close_time - desc.start_time < timedelta(days=8)


@workflow.defn
class Retrying:
    @workflow.run
    async def run(self) -> tuple[int, float]:
        start = workflow.now()
        attempt = await workflow.execute_activity(
            fails_twice, start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(hours=1)))
        return attempt, _since(start)


async def test_retry_backoff_of_hours_is_skipped(env: WorkflowEnvironment, queue: str) -> None:
    wall = time.monotonic()
    async with Worker(env.client, task_queue=queue, workflows=[Retrying],
                      activities=[fails_twice]):
        attempt, elapsed = await env.client.execute_workflow(Retrying.run, id="r-1",
                                                             task_queue=queue)
    assert attempt == 3
    assert elapsed >= 3 * 3600  # backoff 1 h, then 2 h
    assert time.monotonic() - wall < FAST_ENOUGH


@workflow.defn
class Sleeper:
    """Sleeps an hour, noting when each signal arrived."""

    def __init__(self) -> None:
        self.start = workflow.now()
        self.signals: list[tuple[str, float]] = []

    @workflow.run
    async def run(self) -> tuple[list[tuple[str, float]], float]:
        await workflow.sleep(timedelta(hours=1))
        return self.signals, _since(self.start)

    @workflow.signal
    def note(self, what: str) -> None:
        self.signals.append((what, _since(self.start)))


async def test_signal_sent_while_sleeping_arrives_before_the_jump(
        env: WorkflowEnvironment, queue: str) -> None:
    """No one waits for a result yet, so time runs at real speed and the signal wins."""
    async with Worker(env.client, task_queue=queue, workflows=[Sleeper]):
        handle = await env.client.start_workflow(Sleeper.run, id="s-1", task_queue=queue)
        await history_has(handle, "TIMER_STARTED")  # the workflow is asleep
        # A duration, not a wait: real time passes with nobody waiting for a result, and a
        # clock that skipped without a waiter would have jumped over the hour by now.
        await asyncio.sleep(0.2)
        await handle.signal(Sleeper.note, "early")
        signals, elapsed = await handle.result()
    assert [what for what, _ in signals] == ["early"]
    assert signals[0][1] < 60
    assert elapsed >= 3600


async def test_env_sleep_moves_time_by_hand(env: WorkflowEnvironment, queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Sleeper]):
        handle = await env.client.start_workflow(Sleeper.run, id="s-2", task_queue=queue)
        before, wall = env.get_current_time(), time.monotonic()
        await env.sleep(timedelta(minutes=30))
        assert env.get_current_time() - before >= timedelta(minutes=30)
        assert time.monotonic() - wall < FAST_ENOUGH
        await handle.signal(Sleeper.note, "half-way")
        signals, elapsed = await handle.result()
    assert [what for what, _ in signals] == ["half-way"]
    assert 1800 <= signals[0][1] < 3600
    assert elapsed >= 3600


@workflow.defn
class Napping:
    """An activity that really takes a while, next to a long timer that skipping wants."""

    @workflow.run
    async def run(self, seconds: float, heartbeat_timeout: float | None,
                  beat: bool) -> tuple[str, float]:
        start = workflow.now()
        later = asyncio.ensure_future(workflow.sleep(timedelta(days=1)))
        try:
            out = await workflow.execute_activity(
                nap, seconds, beat, start_to_close_timeout=timedelta(seconds=10),
                heartbeat_timeout=timedelta(seconds=heartbeat_timeout)
                if heartbeat_timeout else None,
                retry_policy=RetryPolicy(maximum_attempts=1))
        except ActivityError as e:
            out = f"{type(e.cause).__name__}:{getattr(e.cause, 'timeout_type', '')}"
        taken = _since(start)
        later.cancel()
        return out, taken


@pytest.mark.parametrize("heartbeat_timeout", [None, 0.3])
async def test_a_running_activity_holds_time_still(env: WorkflowEnvironment, queue: str,
                                                   heartbeat_timeout: float | None) -> None:
    """The clock must not jump over a running activity's start-to-close (or, while it
    heartbeats, its heartbeat) timeout, though a day-long timer is waiting."""
    async with Worker(env.client, task_queue=queue, workflows=[Napping], activities=[nap]):
        out, taken = await env.client.execute_workflow(
            Napping.run, 0.8, heartbeat_timeout, heartbeat_timeout is not None,
            id=f"n-{heartbeat_timeout}", task_queue=queue)
    assert out == "rested"
    assert 0.8 <= taken < 10


async def test_heartbeat_timeout_passes_in_real_time(env: WorkflowEnvironment,
                                                     queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Napping], activities=[nap]):
        out, taken = await env.client.execute_workflow(Napping.run, 1.0, 0.3, False,
                                                       id="n-stalled", task_queue=queue)
    assert out == "TimeoutError:heartbeat"
    assert 0.3 <= taken < 5


async def test_start_local_keeps_real_time(queue: str) -> None:
    async with WorkflowEnvironment.start_local() as local:
        assert not local.supports_time_skipping
        assert abs(local.get_current_time().timestamp() - time.time()) < 1
        wall = time.monotonic()
        await local.sleep(0.2)
        assert time.monotonic() - wall >= 0.2
        async with Worker(local.client, task_queue=queue, workflows=[Approval]):
            handle = await local.client.start_workflow(Approval.run, "wait_for", id="l-1",
                                                       task_queue=queue)
            result = asyncio.ensure_future(handle.result())
            # A duration, not a wait: a time-skipping server would have timed it out by now.
            await asyncio.sleep(1.0)
            assert not result.done()
            await handle.signal(Approval.approve, "me")
            assert await result == "approved"


async def test_server_flag_turns_it_on(tmp_path: Path, queue: str) -> None:
    """``plait server --time-skipping``: the same server as a process, for other workers."""
    server = subprocess.Popen(
        [*plait_command(), "server", "--time-skipping", "--port", "0",
         "--db", f"sqlite:///{tmp_path / 'plait.db'}"],
        stdout=subprocess.PIPE, stderr=(tmp_path / "server.log").open("w"), text=True)
    try:
        assert server.stdout is not None
        line = await asyncio.to_thread(server.stdout.readline)
        assert "plait server on " in line, (tmp_path / "server.log").read_text()
        client = await Client.connect(line.split("plait server on ", 1)[1].split()[0])
        try:
            async with Worker(client, task_queue=queue, workflows=[Daily]):
                elapsed = await client.execute_workflow(Daily.run, 3, id="cli-1",
                                                        task_queue=queue)
        finally:
            await client.close()
    finally:
        stop(server)
    assert elapsed >= 3 * DAY


def test_the_readme_test_skips_the_tutorials_sleeps(tmp_path: Path) -> None:
    """The README's test_onboarding.py as written: two 10 s sleeps, skipped."""
    for name in ("onboarding.py", "test_onboarding.py"):
        (tmp_path / name).write_text(readme_file(name))
    wall = time.monotonic()
    done = subprocess.run([sys.executable, "test_onboarding.py"], cwd=tmp_path, timeout=60,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "ok"
    assert time.monotonic() - wall < FAST_ENOUGH
