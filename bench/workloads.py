"""The workflows and activities of the core benchmark, and the client side of each workload.

The worker subprocess (``bench.worker``) registers ``WORKFLOWS`` and ``ACTIVITIES``; the
harness drives them with a ``Client``. Every workflow returns a value the harness can predict,
so a run checks what it measures: a wrong or missing result is an error, never a data point.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial
from typing import Any

from plait import Client, activity, workflow

TIMEOUT = timedelta(seconds=60)


# -- worker side ----------------------------------------------------------------------------------
@activity.defn
async def noop(x: int) -> int:
    """A no-op activity: the cost measured is plait's, not the activity's."""
    return x + 1


@workflow.defn
class ThreeSteps:
    """W1: three sequential no-op activities."""

    @workflow.run
    async def run(self, n: int) -> int:
        for _ in range(3):
            n = await workflow.execute_activity(noop, n, start_to_close_timeout=TIMEOUT)
        return n


@workflow.defn
class OneStep:
    """W2: one no-op activity."""

    @workflow.run
    async def run(self, n: int) -> int:
        result: int = await workflow.execute_activity(noop, n, start_to_close_timeout=TIMEOUT)
        return result


@workflow.defn
class FanOut:
    """W3: ``width`` no-op activities in parallel."""

    @workflow.run
    async def run(self, width: int) -> int:
        results = await asyncio.gather(*[
            workflow.execute_activity(noop, i, start_to_close_timeout=TIMEOUT)
            for i in range(width)])
        return sum(results)


@workflow.defn
class FanOutLocal:
    """W3 with local activities (``bench.local_w3``): the same ``width`` no-op steps, run in
    the workflow's worker and recorded as markers with its task."""

    @workflow.run
    async def run(self, width: int) -> int:
        results = await asyncio.gather(*[
            workflow.execute_local_activity(noop, i, start_to_close_timeout=TIMEOUT)
            for i in range(width)])
        return sum(results)


@workflow.defn
class Sleeper:
    """W4: one durable one-second timer and nothing else."""

    @workflow.run
    async def run(self, n: int) -> int:
        await workflow.sleep(1)
        return n


def spin(steps: int) -> int:
    """Deterministic CPU work: ``steps`` rounds of integer arithmetic."""
    x = 0
    for i in range(steps):
        x = (x * 31 + i) % 1_000_003
    return x


@workflow.defn
class Heavy:
    """A workflow whose one task keeps the worker's event loop busy (``bench.defaults``'s
    worst case for slot counts: a workflow that parses a large input, or a long history
    replayed after a restart, costs the loop as much)."""

    @workflow.run
    async def run(self, steps: int) -> int:
        return spin(steps)


WORKFLOWS = [ThreeSteps, OneStep, FanOut, FanOutLocal, Sleeper, Heavy]
ACTIVITIES = [noop]


# -- harness side ----------------------------------------------------------------------------
@dataclasses.dataclass
class Outcome:
    """One workflow as the harness saw it (times from ``time.perf_counter``)."""

    workflow_id: str
    t_start: float            # before start_workflow
    t_started: float | None   # start_workflow returned
    t_result: float | None    # handle.result() returned
    error: str | None         # wrong value, exception, or timeout
    wall_start: float = 0.0   # time.time() before start_workflow (to line up with history)
    wall_result: float | None = None

    @property
    def latency(self) -> float:
        assert self.t_result is not None
        return self.t_result - self.t_start


CLIENT_CALL = os.environ.get("PLAIT_BENCH_CLIENT", "execute")
"""``execute``: one ``execute_workflow`` call per workflow (one request: the start waits for
the result), the fastest documented path, as Restate's driver uses its one call; ``start``:
``start_workflow`` then ``handle.result()`` (two requests; reports the start call's latency)."""


async def _one(client: Client, wf: Any, arg: int, expected: int, wid: str,
               task_queue: str) -> Outcome:
    o = Outcome(wid, time.perf_counter(), None, None, None, time.time())
    try:
        if CLIENT_CALL == "start":
            handle = await client.start_workflow(wf, arg, id=wid, task_queue=task_queue)
            o.t_started = time.perf_counter()
            result = await handle.result()
        else:
            result = await client.execute_workflow(wf, arg, id=wid, task_queue=task_queue)
        o.t_result, o.wall_result = time.perf_counter(), time.time()
        o.t_started = o.t_started or o.t_result
        if result != expected:
            o.error = f"wrong result: got {result!r}, expected {expected!r}"
    except asyncio.CancelledError:
        o.error = "timed out (no result before the workload's deadline)"
    except Exception as e:
        o.error = f"{type(e).__name__}: {e}"
    return o


async def _concurrently(calls: list[Callable[[], Awaitable[Outcome]]],
                        deadline: float) -> list[Outcome]:
    tasks = [asyncio.ensure_future(c()) for c in calls]
    _, pending = await asyncio.wait(tasks, timeout=deadline)
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return [t.result() for t in tasks]


async def w1(client: Client, size: int, task_queue: str, deadline: float) -> list[Outcome]:
    """``size`` ThreeSteps workflows started at once."""
    return await _concurrently(
        [partial(_one, client, ThreeSteps.run, i, i + 3, f"w1-{i}", task_queue)
         for i in range(size)], deadline)


async def w2(client: Client, size: int, task_queue: str, deadline: float) -> list[Outcome]:
    """``size`` OneStep workflows, each started after the previous one returned."""
    out: list[Outcome] = []
    give_up = time.perf_counter() + deadline
    for i in range(size):
        left = give_up - time.perf_counter()
        o = (await _concurrently([partial(_one, client, OneStep.run, i, i + 1, f"w2-{i}",
                                          task_queue)], max(left, 0.001)))[0]
        out.append(o)
        if o.error and "timed out" in o.error:
            out.extend(Outcome(f"w2-{j}", time.perf_counter(), None, None,
                               "not started: the workload's deadline passed")
                       for j in range(i + 1, size))
            break
    return out


async def w3(client: Client, size: int, task_queue: str, deadline: float) -> list[Outcome]:
    """One FanOut workflow running ``size`` activities in parallel."""
    expected = sum(i + 1 for i in range(size))
    return await _concurrently(
        [partial(_one, client, FanOut.run, size, expected, "w3-0", task_queue)], deadline)


async def heavy(client: Client, size: int, task_queue: str, deadline: float,
                steps: int) -> list[Outcome]:
    """``size`` Heavy workflows of ``steps`` each, started at once."""
    expected = spin(steps)
    return await _concurrently(
        [partial(_one, client, Heavy.run, steps, expected, f"heavy-{i}", task_queue)
         for i in range(size)], deadline)


async def w4(client: Client, size: int, task_queue: str, deadline: float) -> list[Outcome]:
    """``size`` Sleeper workflows (one 1 s timer each) started at once."""
    return await _concurrently(
        [partial(_one, client, Sleeper.run, i, i, f"w4-{i}", task_queue)
         for i in range(size)], deadline)
