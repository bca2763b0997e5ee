"""The campaign's worker program: a mixed workload whose every activity attempt logs its
side effects, so the checker can compare what ran with what the server recorded.

    python -m tests.faults.campaign.app --address URL --queue Q

Each attempt appends one JSON line ``{"ev": "start"|"done", "wid", "run", "aid", "type",
"attempt", "t", "pid"}`` to ``$FAULT_EFFECTS`` (``O_APPEND``, one ``write``: lines from
several processes never interleave). Results are pure functions of the inputs
(:func:`expected`), so a wrong result is told apart from a late one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from plait import Client, RetryPolicy, Worker, activity, workflow
from plait.errors import ApplicationError

EFFECTS = os.environ.get("FAULT_EFFECTS", "")
FAST_RETRY = RetryPolicy(initial_interval=timedelta(seconds=0.2), maximum_interval=timedelta(
    seconds=1))
TIMEOUT = timedelta(seconds=120)


def record(ev: str) -> None:
    info = activity.info()
    line = json.dumps({"ev": ev, "wid": info.workflow_id, "run": info.run_id,
                       "aid": info.activity_id, "type": info.activity_type,
                       "attempt": info.attempt, "t": time.time(), "pid": os.getpid()})
    fd = os.open(EFFECTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


@activity.defn
async def step(key: str) -> str:
    record("start")
    await asyncio.sleep(0.05)
    record("done")
    return f"step:{key}"


@activity.defn
async def flaky(key: str) -> str:
    """Fails its first attempt: a server-scheduled retry in every run that uses it."""
    record("start")
    if activity.info().attempt == 1:
        raise ApplicationError("first attempt fails on purpose", type="Flaky")
    record("done")
    return f"flaky:{key}"


@activity.defn
async def beating(key: str, stall: bool) -> str:
    """Heartbeats; with ``stall`` its first attempt goes silent past the heartbeat timeout,
    so the server must time it out and run a second attempt."""
    record("start")
    if stall and activity.info().attempt == 1:
        activity.heartbeat(0)
        await asyncio.sleep(4.0)
    for i in range(4):
        activity.heartbeat(i)
        await asyncio.sleep(0.15)
    record("done")
    return f"beating:{key}"


@activity.defn
async def limited(key: str) -> str:
    """Runs under the queue's rate limit; the checker reads its starts from the attempt log."""
    record("start")
    record("done")
    return f"limited:{key}"


@workflow.defn
class Child:
    @workflow.run
    async def run(self, key: str) -> str:
        got = await workflow.execute_activity(step, f"child-{key}", start_to_close_timeout=TIMEOUT)
        return f"child:{got}"


@workflow.defn
class Mixed:
    """Runs the plan ``spec`` (see :func:`expected`), then continues as new ``can`` times."""

    @workflow.run
    async def run(self, spec: dict[str, Any]) -> list[str]:
        wid, gen = workflow.info().workflow_id, spec["can"]
        out: list[str] = []
        for i in range(spec["steps"]):
            out.append(await workflow.execute_activity(
                step, f"{wid}/{gen}/{i}", start_to_close_timeout=TIMEOUT))
        if spec["sleep"]:
            await workflow.sleep(spec["sleep"])
        if spec["flaky"]:
            out.append(await workflow.execute_activity(
                flaky, f"{wid}/{gen}", start_to_close_timeout=TIMEOUT, retry_policy=FAST_RETRY))
        if spec["beat"]:
            out.append(await workflow.execute_activity(
                beating, f"{wid}/{gen}", spec["stall"], start_to_close_timeout=TIMEOUT,
                heartbeat_timeout=timedelta(seconds=1.5), retry_policy=FAST_RETRY))
        out.extend(await asyncio.gather(*(workflow.execute_activity(
            limited, f"{wid}/{gen}/{i}", start_to_close_timeout=TIMEOUT)
            for i in range(spec["limited"]))))
        if spec["child"]:
            out.append(await workflow.execute_child_workflow(
                Child.run, f"{wid}/{gen}", id=f"{wid}-child-{gen}"))
        if spec["can"] > 0:
            workflow.continue_as_new({**spec, "can": spec["can"] - 1})
        return out


def expected(wid: str, spec: dict[str, Any]) -> list[str]:
    """What :class:`Mixed` returns: its last run's results (``can`` is 0 by then)."""
    key = f"{wid}/0"
    out = [f"step:{key}/{i}" for i in range(spec["steps"])]
    if spec["flaky"]:
        out.append(f"flaky:{key}")
    if spec["beat"]:
        out.append(f"beating:{key}")
    out.extend(f"limited:{key}/{i}" for i in range(spec["limited"]))
    if spec["child"]:
        out.append(f"child:step:child-{key}")
    return out


@workflow.defn
class Inbox:
    """Collects signals and updates, in arrival order, until the ``close`` signal."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.closed = False

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self.closed)
        return self.items

    @workflow.signal
    def put(self, item: str) -> None:
        self.items.append(item)

    @workflow.signal
    def close(self) -> None:
        self.closed = True

    @workflow.update
    async def put_checked(self, item: str) -> int:
        self.items.append(item)  # before the await: its place is the order it was accepted in
        await workflow.execute_activity(step, f"{workflow.info().workflow_id}/{item}",
                                        start_to_close_timeout=TIMEOUT)
        return len(self.items)

    @workflow.query
    def count(self) -> int:
        return len(self.items)


@workflow.defn
class Sleeper:
    """Sleeps long; cancelled, it runs a compensation activity and then lets the cancel
    through, so the run must close CANCELED with that activity completed."""

    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.sleep(3600)
        except asyncio.CancelledError:
            await workflow.execute_activity(step, f"{workflow.info().workflow_id}/undo",
                                            start_to_close_timeout=TIMEOUT)
            raise
        return "woke"


@workflow.defn
class Handoff:
    """One activity on another task queue, so a test can choose which worker runs it."""

    @workflow.run
    async def run(self, key: str, queue: str) -> str:
        return await workflow.execute_activity(step, key, task_queue=queue,
                                               start_to_close_timeout=TIMEOUT)


WORKFLOWS = [Mixed, Child, Inbox, Sleeper, Handoff]
ACTIVITIES: list[Callable[..., Any]] = [step, flaky, beating, limited]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--queue", required=True)
    args = parser.parse_args()
    client = await Client.connect(args.address)
    worker = Worker(client, task_queue=args.queue, workflows=WORKFLOWS, activities=ACTIVITIES,
                    identity=f"campaign-{os.getpid()}")
    async with worker:
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
