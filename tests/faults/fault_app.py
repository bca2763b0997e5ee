"""A worker program for the fault tests: every activity attempt writes its side effects.

    python fault_app.py --address URL --queue Q --effects FILE

Each attempt appends ``<workflow_id> <index> <attempt> start`` when it begins and
``... done <pid>`` just before it returns, so a test can count how often each activity ran.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import timedelta

from plait import Client, Worker, activity, workflow

EFFECTS = os.environ.get("FAULT_EFFECTS", "")


def record(line: str) -> None:
    fd = os.open(EFFECTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


@activity.defn
async def work(wid: str, index: int, seconds: float) -> int:
    attempt = activity.info().attempt
    record(f"{wid} {index} {attempt} start")
    await asyncio.sleep(seconds)
    record(f"{wid} {index} {attempt} done {os.getpid()}")
    return os.getpid()


@workflow.defn
class Steps:
    @workflow.run
    async def run(self, n: int, seconds: float) -> list[int]:
        wid = workflow.info().workflow_id
        pids = []
        for i in range(n):
            pids.append(await workflow.execute_activity(
                work, wid, i, seconds, start_to_close_timeout=timedelta(seconds=120)))
        return pids


@workflow.defn
class Remote:
    """One activity on another task queue: a worker for workflows and one for activities."""

    @workflow.run
    async def run(self, queue: str, seconds: float) -> int:
        return await workflow.execute_activity(
            work, workflow.info().workflow_id, 0, seconds, task_queue=queue,
            start_to_close_timeout=timedelta(seconds=120))


@workflow.defn
class Inbox:
    """Collects signals and updates until told to close; each update runs one activity."""

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
        await workflow.execute_activity(work, workflow.info().workflow_id, len(self.items),
                                        0.3, start_to_close_timeout=timedelta(seconds=120))
        self.items.append(item)
        return len(self.items)

    @workflow.query
    def count(self) -> int:
        return len(self.items)


@workflow.defn
class LocalSteps:
    """A local activity, a wait for a signal, another local activity."""

    def __init__(self) -> None:
        self.go = False

    @workflow.run
    async def run(self, seconds: float) -> list[int]:
        wid = workflow.info().workflow_id
        first = await workflow.execute_local_activity(
            work, wid, 0, seconds, start_to_close_timeout=timedelta(seconds=120))
        await workflow.wait_condition(lambda: self.go)
        second = await workflow.execute_local_activity(
            work, wid, 1, seconds, start_to_close_timeout=timedelta(seconds=120))
        return [first, second]

    @workflow.signal
    def proceed(self) -> None:
        self.go = True


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--queue", required=True)
    args = parser.parse_args()
    client = await Client.connect(args.address)
    worker = Worker(client, task_queue=args.queue, workflows=[Steps, Remote, Inbox, LocalSteps],
                    activities=[work], identity=f"fault-{os.getpid()}")
    async with worker:
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
